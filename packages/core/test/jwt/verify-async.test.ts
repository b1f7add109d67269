/**
 * verifyJwtAsync must be verifyJwt with the signature check moved to the threadpool: for every
 * token, good or hostile, the same payload or the same error code.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JwtError } from '../../src/errors.js';
import { BatchedVerifier } from '../../src/jwt/batched-verifier.js';
import { signJwt } from '../../src/jwt/sign.js';
import type { VerifyOptions } from '../../src/jwt/types.js';
import { verifyJwt, verifyJwtAsync } from '../../src/jwt/verify.js';
import { claims, eddsa, es256, keys, NOW, options, rs256, signRaw, TYP, token } from './fixtures.js';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

/** Flips one character of the signature segment (still canonical base64url). */
function tamperSignature(compact: string): string {
  const at = compact.lastIndexOf('.') + 2;
  return compact.slice(0, at) + (compact[at] === 'A' ? 'B' : 'A') + compact.slice(at + 1);
}

function zeroSignature(compact: string): string {
  return `${compact.slice(0, compact.lastIndexOf('.'))}.${Buffer.alloc(64).toString('base64url')}`;
}

const good = token();
const corpus: [string, unknown, Partial<VerifyOptions>?][] = [
  ['valid ES256', good],
  ['valid RS256', signJwt({ typ: TYP }, claims(), rs256.signingKey)],
  ['valid EdDSA', signJwt({ typ: TYP }, claims(), eddsa.signingKey)],
  ['tampered signature', tamperSignature(good)],
  ['all-zero ECDSA signature', zeroSignature(good)],
  [
    'payload swapped under a valid signature',
    `${good.split('.')[0]}.${b64(JSON.stringify(claims({ sub: 'admin' })))}.${good.split('.')[2]}`,
  ],
  [
    'alg none',
    `${b64(JSON.stringify({ alg: 'none', kid: es256.signingKey.kid, typ: TYP }))}.${b64(JSON.stringify(claims()))}.`,
  ],
  ['alg not the key’s', token({ alg: 'ES384' })],
  ['unknown kid', token({ kid: 'no-such-key' })],
  ['wrong typ', token({ typ: 'JWT' })],
  ['expired', token({}, claims({ iat: NOW - 600, exp: NOW - 61 }))],
  ['not yet valid', token({}, claims({ nbf: NOW + 61 }))],
  ['issued in the future', token({}, claims({ iat: NOW + 61, exp: NOW + 600 }))],
  ['wrong issuer', token({}, claims({ iss: 'https://evil.example' }))],
  ['wrong audience', token({}, claims({ aud: 'other-api' }))],
  ['lifetime too long', token({}, claims({ exp: NOW + 3601 }))],
  ['exp missing', token({}, claims({ exp: undefined }))],
  [
    'duplicate claim',
    signRaw(JSON.stringify({ alg: 'ES256', kid: es256.signingKey.kid, typ: TYP }), '{"iss":"x","iss":"y"}'),
  ],
  ['crit header', token({ crit: ['exp'] })],
  ['embedded jwk', token({ jwk: es256.publicJwk })],
  ['two segments', good.slice(0, good.lastIndexOf('.'))],
  ['non-canonical base64url', `${good}=`],
  ['too large', `${good}${'A'.repeat(9000)}`],
  ['not a string', 42],
  ['alg outside the allowed list', good, { algorithms: ['RS256'] }],
];

type Outcome = { ok: true; payload: unknown } | { ok: false; code: string };

function outcomeOf(run: () => { payload: unknown }): Outcome {
  try {
    return { ok: true, payload: run().payload };
  } catch (err) {
    assert.ok(err instanceof JwtError, `expected JwtError, got ${String(err)}`);
    return { ok: false, code: err.code };
  }
}

async function asyncOutcomeOf(run: () => Promise<{ payload: unknown }>): Promise<Outcome> {
  try {
    return { ok: true, payload: (await run()).payload };
  } catch (err) {
    assert.ok(err instanceof JwtError, `expected JwtError, got ${String(err)}`);
    return { ok: false, code: err.code };
  }
}

describe('verifyJwtAsync', () => {
  for (const [name, compact, overrides] of corpus) {
    it(`answers as verifyJwt does: ${name}`, async () => {
      const opts = options(overrides);
      const sync = outcomeOf(() => verifyJwt(compact as string, keys, opts));
      const viaPool = await asyncOutcomeOf(() => verifyJwtAsync(compact as string, keys, opts));
      assert.deepEqual(viaPool, sync);
      if (name.startsWith('valid')) assert.equal(sync.ok, true);
      else assert.equal(sync.ok, false, 'a hostile token is refused');
    });
  }

  it('refuses a malformed token by rejecting, never by throwing synchronously', () => {
    const pending = verifyJwtAsync('not-a-jwt', keys, options());
    assert.ok(pending instanceof Promise);
    return assert.rejects(
      pending,
      (err: unknown) => err instanceof JwtError && err.code === 'ERR_JWT_MALFORMED',
    );
  });
});

describe('verifyJwtAsync on a BatchedVerifier', () => {
  it('answers every token as verifyJwt does, all of them asked in one turn and sent as one batch per worker', async () => {
    const verifier = new BatchedVerifier({ workers: 2 });
    try {
      const before = verifier.batches;
      const outcomes = await Promise.all(
        corpus.map(([, compact, overrides]) =>
          asyncOutcomeOf(() => verifyJwtAsync(compact as string, keys, options(overrides), verifier)),
        ),
      );
      corpus.forEach(([name, compact, overrides], i) => {
        assert.deepEqual(
          outcomes[i],
          outcomeOf(() => verifyJwt(compact as string, keys, options(overrides))),
          name,
        );
      });
      assert.equal(verifier.batches - before, 2, 'one message to each worker for the whole turn');
      // Keys go to each worker once: a second turn with the same keys still answers.
      const again = await asyncOutcomeOf(() => verifyJwtAsync(good, keys, options(), verifier));
      assert.equal(again.ok, true);
      assert.equal(verifier.batches - before, 3, 'a single check goes to one worker');
    } finally {
      await verifier.close();
    }
  });

  it('sends a worker the keys it lacks with its first batch that needs them', async () => {
    const verifier = new BatchedVerifier({ workers: 2 });
    try {
      // Turn 1: one check, so only the first worker hears of the ES256 key.
      assert.equal((await verifyJwtAsync(good, keys, options(), verifier)).payload.sub, claims().sub);
      // Turn 2: two checks with that key, one per worker; the second must be sent it now.
      const [a, b] = await Promise.all([
        verifyJwtAsync(token(), keys, options(), verifier),
        verifyJwtAsync(tamperSignature(token()), keys, options(), verifier).then(
          () => 'accepted',
          (err: unknown) => (err instanceof JwtError ? err.code : String(err)),
        ),
      ]);
      assert.equal(a.payload.sub, claims().sub);
      assert.equal(b, 'ERR_JWT_SIGNATURE_INVALID');
      assert.equal(verifier.batches, 3);
    } finally {
      await verifier.close();
    }
  });

  it('answers checks sent before close, and checks asked after it on the threadpool', async () => {
    const verifier = new BatchedVerifier();
    const sent = verifyJwtAsync(good, keys, options(), verifier);
    await new Promise((resolve) => setImmediate(resolve)); // the batch is on its way
    const closing = verifier.close();
    assert.equal((await sent).payload.sub, claims().sub);
    await closing;
    assert.equal((await verifyJwtAsync(good, keys, options(), verifier)).payload.sub, claims().sub);
    await assert.rejects(
      verifyJwtAsync(tamperSignature(good), keys, options(), verifier),
      (err: unknown) => err instanceof JwtError && err.code === 'ERR_JWT_SIGNATURE_INVALID',
    );
    assert.equal(verifier.batches, 1, 'nothing sent to the worker after close');
  });
});
