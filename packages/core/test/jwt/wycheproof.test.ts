/**
 * Project Wycheproof JOSE vectors (see the README next to them for provenance and the label
 * anomalies). Every case is run; none is skipped, and the totals are asserted.
 */
import assert from 'node:assert/strict';
import { constants, createPublicKey, type JsonWebKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { GatehouseError, JwtError } from '../../src/errors.js';
import { KeySet } from '../../src/jwt/key-set.js';
import { verificationKeyFromJwk } from '../../src/jwt/verification-key-from-jwk.js';
import { verifyJwsSignature } from '../../src/jwt/verify-jws.js';

const DIR = process.env.WYCHEPROOF_DIR ?? '/work/shared/vectors/wycheproof';

interface Case {
  tcId: number;
  comment: string;
  jws: string;
  result: 'valid' | 'invalid';
  flags: string[];
}
interface Group {
  comment: string;
  public?: unknown;
  private?: unknown;
  tests: Case[];
}
interface VectorFile {
  numberOfTests: number;
  testGroups: Group[];
}

const load = (name: string) => JSON.parse(readFileSync(join(DIR, name), 'utf8')) as VectorFile;

/** Our verdict for one case: accepted, or the error code that refused it. */
type Verdict = { ok: true } | { ok: false; code: string };

function verdictOf(jws: string, keys: KeySet): Verdict {
  try {
    verifyJwsSignature(jws, keys);
    return { ok: true };
  } catch (error) {
    // Anything but a JwtError escaping is itself a failure of the verifier.
    assert.ok(error instanceof JwtError, `non-JwtError escaped: ${String(error)}`);
    return { ok: false, code: error.code };
  }
}

/** Imports a group's key set, or returns the GatehouseError code that refused it. */
function importKeys(source: unknown, single: boolean): KeySet | string {
  try {
    return single ? KeySet.fromKeys([verificationKeyFromJwk(source)]) : KeySet.fromJwks(source);
  } catch (error) {
    assert.ok(error instanceof GatehouseError, `non-GatehouseError escaped: ${String(error)}`);
    return error.code;
  }
}

describe('Wycheproof json_web_signature_test.json', () => {
  const file = load('json_web_signature_test.json');
  const byId = new Map(file.testGroups.flatMap((g) => g.tests.map((t) => [t.tcId, t] as const)));
  const verdicts = new Map<number, Verdict>();
  const importRefusals = new Map<number, string>();
  const counts = { cases: 0, agree: 0, anomalies: 0, keyRefused: 0, symmetric: 0 };

  for (const group of file.testGroups) {
    // No public key (HMAC groups) → an empty set: we accept no symmetric algorithm at all.
    const imported = group.public === undefined ? KeySet.fromKeys([]) : importKeys(group.public, true);
    const keys = typeof imported === 'string' ? KeySet.fromKeys([]) : imported;
    for (const test of group.tests) {
      verdicts.set(test.tcId, verdictOf(test.jws, keys));
      if (typeof imported === 'string') importRefusals.set(test.tcId, imported);
      counts.cases++;
    }
  }

  /** Labelled cases our verifier must disagree with, and why; asserted one by one below. */
  const ANOMALIES = new Set([346, 347, 350, 351, 367, 370, 372, 373]);
  it('runs every case', () => {
    assert.equal(counts.cases, file.numberOfTests);
    assert.equal(counts.cases, 401);
    assert.equal(verdicts.size, 401);
  });

  it('agrees with every label for keys we accept, apart from the named anomalies', () => {
    for (const group of file.testGroups) {
      for (const test of group.tests) {
        if (ANOMALIES.has(test.tcId)) continue;
        const verdict = verdicts.get(test.tcId)!;
        const refused = importRefusals.get(test.tcId);
        if (group.public === undefined || refused !== undefined) {
          // A key (or algorithm) we do not accept: every case must be rejected, whatever its label.
          assert.equal(
            verdict.ok,
            false,
            `tcId ${test.tcId} (${test.comment}) accepted without a usable key`,
          );
          if (refused === undefined) counts.symmetric++;
          else counts.keyRefused++;
          continue;
        }
        assert.equal(
          verdict.ok,
          test.result === 'valid',
          `tcId ${test.tcId} ${test.comment}: ${JSON.stringify(verdict)}`,
        );
        counts.agree++;
      }
    }
  });

  it('rejects every symmetric (HS*) case, for the right reason in the base64 group', () => {
    for (const group of file.testGroups.filter((g) => g.public === undefined)) {
      for (const test of group.tests) assert.equal(verdicts.get(test.tcId)?.ok, false, `tcId ${test.tcId}`);
    }
    // Group "base64": the well-encoded ones reach the alg check; the mis-encoded ones never get that far.
    const base64 = file.testGroups.find((g) => g.comment === 'base64')!;
    for (const test of base64.tests) {
      const wellEncoded =
        test.result === 'valid' ? ![372, 373].includes(test.tcId) : [367, 370].includes(test.tcId);
      assert.deepEqual(
        verdicts.get(test.tcId),
        { ok: false, code: wellEncoded ? 'ERR_JWT_ALG_NOT_ALLOWED' : 'ERR_JWT_MALFORMED' },
        `tcId ${test.tcId} ${test.comment}`,
      );
    }
  });

  it('anomalies 367 and 370: byte-identical to valid 357, so treated exactly like it', () => {
    for (const tcId of [367, 370]) {
      assert.equal(byId.get(tcId)?.jws, byId.get(357)?.jws);
      assert.deepEqual(verdicts.get(tcId), verdicts.get(357));
      counts.anomalies++;
    }
  });

  it('anomalies 372 and 373: labelled valid, rejected as non-canonical base64url', () => {
    for (const tcId of [372, 373]) {
      assert.equal(byId.get(tcId)?.result, 'valid');
      assert.deepEqual(verdicts.get(tcId), { ok: false, code: 'ERR_JWT_MALFORMED' });
      counts.anomalies++;
    }
  });

  /**
   * The RFC 7520 groups (345-351) all use the kid "bilbo.baggins@hobbiton.example", which our kid
   * policy refuses first. To show each anomaly's own verdict, these helpers move the kid out of
   * the way: the key is imported under "bilbo" and the header kid rewritten (which only matters
   * for checks that run before the signature, as the alg pin does).
   */
  const groupOf = (tcId: number) => file.testGroups.find((g) => g.tests.some((t) => t.tcId === tcId))!;
  const renamedKey = (tcId: number) => ({ ...(groupOf(tcId).public as object), kid: 'bilbo' });
  const rawSignatureValid = (tcId: number, hash: string, options: object = {}) => {
    const { jws } = byId.get(tcId)!;
    const dot = jws.lastIndexOf('.');
    const key = createPublicKey({ key: groupOf(tcId).public as JsonWebKey, format: 'jwk' });
    return verify(
      hash,
      Buffer.from(jws.slice(0, dot)),
      { key, ...options },
      Buffer.from(jws.slice(dot + 1), 'base64url'),
    );
  };

  it('anomalies 346 and 350: a genuine PS384 signature against a PS256-pinned key, rejected by the pin', () => {
    for (const tcId of [346, 350]) {
      const test = byId.get(tcId)!;
      assert.equal(test.result, 'valid');
      assert.equal(verdicts.get(tcId)?.ok, false);
      // A verifier trusting the header alg would accept: the PS384 signature is genuine.
      assert.ok(
        rawSignatureValid(tcId, 'sha384', { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }),
      );
      const keys = KeySet.fromKeys([verificationKeyFromJwk(renamedKey(tcId))]);
      const [header, payload, signature] = test.jws.split('.') as [string, string, string];
      const renamed = JSON.stringify({
        ...JSON.parse(Buffer.from(header, 'base64url').toString()),
        kid: 'bilbo',
      });
      const jws = `${Buffer.from(renamed).toString('base64url')}.${payload}.${signature}`;
      assert.deepEqual(verdictOf(jws, keys), { ok: false, code: 'ERR_JWT_ALG_NOT_ALLOWED' });
      counts.anomalies++;
    }
  });

  it('anomalies 347 and 351: key alg "ES521" is no algorithm, so the key is refused at import', () => {
    for (const tcId of [347, 351]) {
      assert.equal(byId.get(tcId)?.result, 'valid');
      assert.equal(verdicts.get(tcId)?.ok, false);
      assert.equal(importRefusals.get(tcId), 'ERR_KEY_INVALID');
      assert.throws(
        () => verificationKeyFromJwk(renamedKey(tcId)),
        (e: unknown) =>
          e instanceof GatehouseError &&
          e.code === 'ERR_KEY_INVALID' &&
          /unsupported alg "ES521"/.test(e.message),
      );
      // The ES512 signature itself is genuine.
      assert.ok(rawSignatureValid(tcId, 'sha512', { dsaEncoding: 'ieee-p1363' }));
      counts.anomalies++;
    }
  });

  it('345 and 349 (RFC 7520 kid "bilbo.baggins@hobbiton.example") verify as labelled', () => {
    for (const tcId of [345, 349]) {
      assert.equal(byId.get(tcId)?.result, 'valid');
      assert.deepEqual(verdicts.get(tcId), { ok: true });
    }
  });

  it('rejects the all-zero ECDSA signature (tcId 386) and every other special-case ES256 signature', () => {
    for (let tcId = 379; tcId <= 401; tcId++) assert.equal(verdicts.get(tcId)?.ok, false, `tcId ${tcId}`);
    assert.deepEqual(verdicts.get(386), { ok: false, code: 'ERR_JWT_SIGNATURE_INVALID' });
  });

  it('summary', (t) => {
    const accepted = [...verdicts.values()].filter((v) => v.ok).length;
    const summary =
      `Wycheproof JWS: ${counts.cases} cases, ${accepted} accepted, ${counts.cases - accepted} rejected; ` +
      `${counts.agree} agree with their label under keys we accept, ${counts.symmetric} symmetric-only cases rejected, ` +
      `${counts.keyRefused} rejected because the key is refused, ${counts.anomalies} named anomalies asserted`;
    t.diagnostic(summary);
    console.log(summary);
    assert.equal(counts.anomalies, ANOMALIES.size);
    assert.equal(counts.agree + counts.keyRefused + counts.symmetric + ANOMALIES.size, counts.cases);
  });
});

describe('Wycheproof json_web_key_test.json', () => {
  const file = load('json_web_key_test.json');
  const counts = { cases: 0, refusedAtImport: 0, refusedAtVerify: 0, verified: 0, symmetricValid: 0 };
  const results: {
    tcId: number;
    result: string;
    symmetric: boolean;
    verdict: 'import' | 'verify' | 'ok';
    code?: string;
  }[] = [];

  for (const group of file.testGroups) {
    // Private-only groups are HMAC key sets (or mix secrets in): importing them must fail.
    const symmetric = group.public === undefined;
    const imported = importKeys(symmetric ? group.private : group.public, false);
    for (const test of group.tests) {
      counts.cases++;
      if (typeof imported === 'string') {
        results.push({ tcId: test.tcId, result: test.result, symmetric, verdict: 'import', code: imported });
        continue;
      }
      const verdict = verdictOf(test.jws, imported);
      results.push({
        tcId: test.tcId,
        result: test.result,
        symmetric,
        verdict: verdict.ok ? 'ok' : 'verify',
        ...(verdict.ok ? {} : { code: verdict.code }),
      });
    }
  }

  it('runs every case', () => {
    assert.equal(counts.cases, file.numberOfTests);
    assert.equal(counts.cases, 26);
  });

  it('refuses every invalid case at import or at verification, and verifies every valid one we can hold', () => {
    for (const r of results) {
      if (r.symmetric) {
        // We hold no symmetric keys: refused at import whatever the label.
        assert.equal(r.verdict, 'import', `tcId ${r.tcId}`);
        if (r.result === 'valid') counts.symmetricValid++;
      } else if (r.result === 'valid') {
        assert.equal(r.verdict, 'ok', `tcId ${r.tcId}: ${r.code}`);
      } else {
        assert.notEqual(r.verdict, 'ok', `tcId ${r.tcId} accepted`);
      }
      if (r.verdict === 'import') counts.refusedAtImport++;
      else if (r.verdict === 'verify') counts.refusedAtVerify++;
      else counts.verified++;
    }
  });

  it('names the reason for the notable refusals', () => {
    const code = (tcId: number) => results.find((r) => r.tcId === tcId)?.code;
    assert.equal(code(7), 'ERR_KEY_WEAK'); // ROCA fingerprint
    assert.equal(code(8), 'ERR_KEY_WEAK'); // 1024-bit RSA
    assert.equal(code(9), 'ERR_KEY_WEAK'); // e = 1
    for (const tcId of [6, 19, 20, 21, 22, 23, 24])
      assert.equal(code(tcId), 'ERR_KEY_INVALID', `tcId ${tcId}`);
  });

  it('summary', (t) => {
    const summary =
      `Wycheproof JWK: ${counts.cases} cases, ${counts.verified} verified, ${counts.refusedAtImport} refused at import ` +
      `(${counts.symmetricValid} of them symmetric cases labelled valid), ${counts.refusedAtVerify} refused at verification`;
    t.diagnostic(summary);
    console.log(summary);
    assert.equal(counts.verified + counts.refusedAtImport + counts.refusedAtVerify, 26);
  });
});
