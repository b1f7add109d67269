import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { JwtError } from '../../src/errors.js';
import { generateSigningKey } from '../../src/jwt/generate-signing-key.js';
import { KeySet } from '../../src/jwt/key-set.js';
import { signJwt } from '../../src/jwt/sign.js';
import type { KeyResolver } from '../../src/jwt/types.js';
import { verifyJwt } from '../../src/jwt/verify.js';
import {
  AUDIENCE,
  claims,
  eddsa,
  es256,
  ISSUER,
  keys,
  NOW,
  options,
  rs256,
  signRaw,
  TYP,
  throwsJwt,
  token,
  withSegment,
} from './fixtures.js';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
const verify = (compact: string, overrides = {}) => verifyJwt(compact, keys, options(overrides));

describe('verifyJwt accepts', () => {
  for (const { signingKey } of [es256, rs256, eddsa]) {
    it(`a ${signingKey.alg} token from signJwt and returns its payload`, () => {
      const payload = claims({ scope: 'orders:read', cnf: { 'x5t#S256': 'abc' } });
      const result = verifyJwt(signJwt({ typ: TYP }, payload, signingKey), keys, options());
      assert.deepEqual(result.payload, payload);
      assert.equal(result.header.alg, signingKey.alg);
      assert.equal(result.header.kid, signingKey.kid);
      assert.equal(result.key.kid, signingKey.kid);
    });
  }

  it('a token exactly at the skew edges (exp + 60 s, nbf and iat at now + 60 s), and not one second past', () => {
    const expiring = token({}, claims({ iat: NOW - 600, exp: NOW - 60 }));
    assert.equal(verify(expiring).payload.exp, NOW - 60);
    throwsJwt(() => verify(token({}, claims({ iat: NOW - 600, exp: NOW - 61 }))), 'ERR_JWT_EXPIRED');
    assert.ok(verify(token({}, claims({ nbf: NOW + 60, iat: NOW + 60, exp: NOW + 600 }))));
    throwsJwt(() => verify(token({}, claims({ nbf: NOW + 61 }))), 'ERR_JWT_NOT_YET_VALID');
    // Milliseconds do not move the edge: NumericDate is whole seconds.
    assert.ok(verify(expiring, { clock: new ManualClock(NOW * 1000 + 999) }));
  });

  it('a lifetime exactly at maxLifetimeSeconds', () => {
    assert.ok(verify(token({}, claims({ exp: NOW + 3600 }))));
  });

  it('typ with or without application/, in any case (RFC 7515 §4.1.9)', () => {
    for (const typ of ['at+jwt', 'AT+JWT', 'application/at+jwt', 'Application/At+Jwt']) {
      assert.ok(verify(token({ typ })), typ);
    }
    assert.ok(verify(token({ typ: 'application/at+jwt' }), { typ: 'application/AT+JWT' }));
  });

  it('an audience predicate sees every aud value and decides', () => {
    const seen: (readonly string[])[] = [];
    const accept = (auds: readonly string[]) => {
      seen.push(auds);
      return auds.includes('b');
    };
    assert.ok(verify(token({}, claims({ aud: ['x', 'b'] })), { audience: accept }));
    throwsJwt(
      () => verify(token({}, claims({ aud: 'x' })), { audience: accept }),
      'ERR_JWT_AUDIENCE_INVALID',
    );
    assert.deepEqual(seen, [['x', 'b'], ['x']]);
  });

  it('an aud array containing one accepted audience, and an audience list in the options', () => {
    assert.ok(verify(token({}, claims({ aud: ['other', AUDIENCE] }))));
    assert.ok(verify(token({}, claims({ aud: 'b' })), { audience: ['a', 'b'] }));
    assert.ok(verify(token({}, claims({ aud: ['x', 'b'] })), { audience: ['a', 'b'] }));
  });

  it('a header returned frozen, identical on repeated verification', () => {
    const compact = token();
    const first = verify(compact).header;
    assert.ok(Object.isFrozen(first));
    assert.deepEqual(verify(compact).header, first);
  });
});

describe('verifyJwt rejects', () => {
  it('alg none in any case: none, None, NONE', () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const header = b64(JSON.stringify({ alg, kid: es256.signingKey.kid, typ: TYP }));
      const unsigned = `${header}.${b64(JSON.stringify(claims()))}.`;
      throwsJwt(() => verify(unsigned), 'ERR_JWT_ALG_NOT_ALLOWED');
      throwsJwt(() => verify(token({ alg })), 'ERR_JWT_ALG_NOT_ALLOWED');
    }
  });

  it('an alg not pinned to the key (RS256/PS256/ES384 against an ES256 key, PS256 against RS256)', () => {
    const rsaSigned = signRaw(
      JSON.stringify({ alg: 'RS256', kid: es256.signingKey.kid, typ: TYP }),
      JSON.stringify(claims()),
      rs256.signingKey,
    );
    throwsJwt(() => verify(rsaSigned), 'ERR_JWT_ALG_NOT_ALLOWED');
    throwsJwt(() => verify(token({ alg: 'ES384' })), 'ERR_JWT_ALG_NOT_ALLOWED');
    throwsJwt(() => verify(token({ alg: 'PS256' }, claims(), rs256.signingKey)), 'ERR_JWT_ALG_NOT_ALLOWED');
    throwsJwt(() => verify(token({ alg: 'EdDSA' }, claims(), es256.signingKey)), 'ERR_JWT_ALG_NOT_ALLOWED');
  });

  it('an alg outside options.algorithms even when it is the key’s own', () => {
    throwsJwt(() => verify(token(), { algorithms: ['RS256', 'EdDSA'] }), 'ERR_JWT_ALG_NOT_ALLOWED');
    assert.ok(verify(token(), { algorithms: ['ES256'] }));
  });

  it('HS256 signed with the public key as the HMAC secret (PEM, DER and JWK forms)', () => {
    const publicKey = createPublicKey(rs256.signingKey.privateKey);
    const secrets = [
      publicKey.export({ type: 'spki', format: 'pem' }),
      publicKey.export({ type: 'spki', format: 'der' }),
      JSON.stringify(rs256.publicJwk),
    ];
    for (const secret of secrets) {
      const input = `${b64(JSON.stringify({ alg: 'HS256', kid: rs256.signingKey.kid, typ: TYP }))}.${b64(JSON.stringify(claims()))}`;
      const forged = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
      throwsJwt(() => verify(forged), 'ERR_JWT_ALG_NOT_ALLOWED');
    }
  });

  it('an unknown kid (exact lookup: no prefix, case or padding variants)', () => {
    const kid = es256.signingKey.kid;
    for (const variant of [
      'unknown-kid',
      kid.toLowerCase() === kid ? kid.toUpperCase() : kid.toLowerCase(),
      `${kid}.`,
    ]) {
      throwsJwt(() => verify(token({ kid: variant })), 'ERR_JWT_KEY_UNKNOWN');
    }
  });

  it('a missing kid', () => {
    throwsJwt(
      () => verify(signRaw(JSON.stringify({ alg: 'ES256', typ: TYP }), JSON.stringify(claims()))),
      'ERR_JWT_KID_INVALID',
    );
    throwsJwt(() => verify(token({ kid: null })), 'ERR_JWT_KID_INVALID');
  });

  it('a kid with path, SQL, URL or control characters, empty, too long or not a string', () => {
    const bad = [
      '../../../../etc/passwd',
      '/dev/null',
      "x' OR '1'='1",
      'a;DROP TABLE keys',
      'https://evil.example/key',
      'k\u0000',
      'k\n',
      'kid with space',
      '',
      'a'.repeat(129),
      42,
      ['k'],
    ];
    for (const kid of bad) throwsJwt(() => verify(token({ kid })), 'ERR_JWT_KID_INVALID');
  });

  it('embedded jwk, jku, x5u and x5c headers, even when the embedded key signed the token', () => {
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...attacker.publicKey.export({ format: 'jwk' }), kid: es256.signingKey.kid, alg: 'ES256' };
    const embedded = signRaw(
      JSON.stringify({ alg: 'ES256', kid: es256.signingKey.kid, typ: TYP, jwk }),
      JSON.stringify(claims()),
      { kid: es256.signingKey.kid, alg: 'ES256', privateKey: attacker.privateKey },
    );
    throwsJwt(() => verify(embedded), 'ERR_JWT_HEADER_FORBIDDEN');
    throwsJwt(() => verify(token({ jku: 'https://evil.example/jwks' })), 'ERR_JWT_HEADER_FORBIDDEN');
    throwsJwt(() => verify(token({ x5u: 'https://evil.example/cert.pem' })), 'ERR_JWT_HEADER_FORBIDDEN');
    throwsJwt(() => verify(token({ x5c: ['MIIB...'] })), 'ERR_JWT_HEADER_FORBIDDEN');
  });

  it('a wrong or missing typ', () => {
    for (const typ of ['JWT', 'jwt', 'application/jwt', 'at+jwt ', 'xapplication/at+jwt', 'dpop+jwt', 1]) {
      throwsJwt(() => verify(token({ typ })), 'ERR_JWT_TYP_INVALID');
    }
    throwsJwt(
      () =>
        verify(
          signRaw(JSON.stringify({ alg: 'ES256', kid: es256.signingKey.kid }), JSON.stringify(claims())),
        ),
      'ERR_JWT_TYP_INVALID',
    );
  });

  it('a missing exp', () => {
    throwsJwt(() => verify(token({}, claims({ exp: undefined }))), 'ERR_JWT_CLAIM_MISSING');
  });

  it('a missing iat', () => {
    throwsJwt(() => verify(token({}, claims({ iat: undefined }))), 'ERR_JWT_CLAIM_MISSING');
  });

  it('an expired token (beyond the skew)', () => {
    throwsJwt(() => verify(token({}, claims({ iat: NOW - 4000, exp: NOW - 3601 }))), 'ERR_JWT_EXPIRED');
    throwsJwt(
      () => verify(token({}, claims({ exp: NOW + 10 })), { clock: new ManualClock((NOW + 71) * 1000) }),
      'ERR_JWT_EXPIRED',
    );
    throwsJwt(() => verify(token({}, claims({ exp: NOW - 1 })), { clockSkewSeconds: 0 }), 'ERR_JWT_EXPIRED');
  });

  it('nbf in the future beyond the skew', () => {
    throwsJwt(() => verify(token({}, claims({ nbf: NOW + 61 }))), 'ERR_JWT_NOT_YET_VALID');
  });

  it('iat in the future beyond the skew', () => {
    throwsJwt(() => verify(token({}, claims({ iat: NOW + 61, exp: NOW + 600 }))), 'ERR_JWT_NOT_YET_VALID');
  });

  it('exp - iat longer than maxLifetimeSeconds, including exp = 1e20', () => {
    throwsJwt(() => verify(token({}, claims({ exp: NOW + 3601 }))), 'ERR_JWT_LIFETIME_TOO_LONG');
    throwsJwt(() => verify(token({}, claims({ exp: 1e20 }))), 'ERR_JWT_LIFETIME_TOO_LONG');
    throwsJwt(() => verify(token({}, claims({ iat: 0, exp: NOW + 10 }))), 'ERR_JWT_LIFETIME_TOO_LONG');
  });

  it('a wrong or missing iss (exact match)', () => {
    for (const iss of ['https://evil.example', `${ISSUER}/`, ISSUER.toUpperCase(), '']) {
      throwsJwt(() => verify(token({}, claims({ iss }))), 'ERR_JWT_ISSUER_INVALID');
    }
    throwsJwt(() => verify(token({}, claims({ iss: undefined }))), 'ERR_JWT_CLAIM_MISSING');
  });

  it('a wrong or missing aud (exact match; an array must contain one)', () => {
    for (const aud of ['other-api', `${AUDIENCE} `, ['a', 'b'], []]) {
      throwsJwt(() => verify(token({}, claims({ aud }))), 'ERR_JWT_AUDIENCE_INVALID');
    }
    throwsJwt(
      () => verify(token({}, claims({ aud: 'c' })), { audience: ['a', 'b'] }),
      'ERR_JWT_AUDIENCE_INVALID',
    );
    throwsJwt(() => verify(token({}, claims({ aud: undefined }))), 'ERR_JWT_CLAIM_MISSING');
  });

  it('any crit header, even empty or naming a registered claim', () => {
    for (const crit of [['exp'], ['b64'], [], 'exp']) {
      throwsJwt(() => verify(token({ crit, exp: NOW + 600 })), 'ERR_JWT_CRIT_UNSUPPORTED');
    }
  });

  it('duplicate members in the header or the payload, including escaped spellings', () => {
    const kid = es256.signingKey.kid;
    const payload = JSON.stringify(claims());
    throwsJwt(
      () => verify(signRaw(`{"alg":"ES256","kid":"${kid}","typ":"${TYP}","kid":"${kid}"}`, payload)),
      'ERR_JWT_MALFORMED',
    );
    throwsJwt(
      () => verify(signRaw(`{"alg":"none","alg":"ES256","kid":"${kid}","typ":"${TYP}"}`, payload)),
      'ERR_JWT_MALFORMED',
    );
    const header = JSON.stringify({ alg: 'ES256', kid, typ: TYP });
    const body = payload.slice(0, -1);
    throwsJwt(() => verify(signRaw(header, `${body},"sub":"admin"}`)), 'ERR_JWT_MALFORMED');
    throwsJwt(() => verify(signRaw(header, `${body},"\\u0073ub":"admin"}`)), 'ERR_JWT_MALFORMED');
    throwsJwt(() => verify(signRaw(header, `${body},"cnf":{"jkt":"a","jkt":"b"}}`)), 'ERR_JWT_MALFORMED');
    // Escaped quotes and colons inside strings are not mistaken for members.
    const tricky = verify(signRaw(header, `${body},"note":"a\\":\\"b:c\\\\","k\\"":{"x":[1,{"y":":"}]}}`));
    assert.equal(tricky.payload.note, 'a":"b:c\\');
  });

  it('__proto__, constructor and prototype members anywhere', () => {
    const kid = es256.signingKey.kid;
    const header = JSON.stringify({ alg: 'ES256', kid, typ: TYP });
    const body = JSON.stringify(claims()).slice(0, -1);
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      throwsJwt(() => verify(signRaw(header, `${body},"${name}":{"admin":true}}`)), 'ERR_JWT_MALFORMED');
      throwsJwt(() => verify(signRaw(header, `${body},"cnf":[{"${name}":1}]}`)), 'ERR_JWT_MALFORMED');
      throwsJwt(
        () => verify(signRaw(`{"alg":"ES256","kid":"${kid}","typ":"${TYP}","${name}":{}}`, `${body}}`)),
        'ERR_JWT_MALFORMED',
      );
    }
    throwsJwt(
      () => verify(signRaw(header, `${body},"\\u005f_proto__":{"admin":true}}`)),
      'ERR_JWT_MALFORMED',
    );
    assert.equal(({} as Record<string, unknown>).admin, undefined);
  });

  it('tokens over 8 KB before any decoding or crypto (and maxTokenBytes)', () => {
    // Not even base64url: only the size check can have produced this code.
    throwsJwt(() => verify(`${'!'.repeat(8193)}`), 'ERR_JWT_TOO_LARGE');
    throwsJwt(() => verify(`${'€'.repeat(2731)}`), 'ERR_JWT_TOO_LARGE'); // 2731 chars, 8193 UTF-8 bytes
    const big = token({}, claims({ pad: 'x'.repeat(6200) }));
    assert.ok(big.length > 8192);
    throwsJwt(() => verify(big), 'ERR_JWT_TOO_LARGE');
    assert.ok(verify(big, { maxTokenBytes: 16384 }));
    throwsJwt(() => verify(token(), { maxTokenBytes: 100 }), 'ERR_JWT_TOO_LARGE');
  });

  it('non-canonical base64url in any segment, although Buffer decodes each to the same bytes', () => {
    const good = token();
    const signature = good.split('.')[2]!;
    // ES256: 64 bytes = 86 chars, the last carrying 4 unused bits.
    const last = signature.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = alphabet[alphabet.indexOf(last) ^ 1]!;
    assert.deepEqual(
      Buffer.from(signature.slice(0, -1) + twin, 'base64url'),
      Buffer.from(signature, 'base64url'),
    );
    const variants = [
      withSegment(good, 2, (s) => s.slice(0, -1) + twin),
      withSegment(good, 2, (s) => `${s}==`),
      withSegment(good, 2, (s) => `${s.slice(0, 10)} ${s.slice(10)}`),
      withSegment(good, 2, (s) => `${s.slice(0, 10)}\n${s.slice(10)}`),
      withSegment(good, 2, (s) => Buffer.from(s, 'base64url').toString('base64')),
      withSegment(good, 2, (s) => `${s}AAA`), // length 1 mod 4: one dangling character
      withSegment(good, 1, (s) => `${s}=`),
      withSegment(good, 1, (s) => `${s.slice(0, 4)}\t${s.slice(4)}`),
      withSegment(good, 0, (s) => `${s}=`),
      withSegment(good, 0, (s) => ` ${s}`),
    ];
    for (const variant of variants) {
      assert.notEqual(variant, good);
      throwsJwt(() => verify(variant), 'ERR_JWT_MALFORMED');
    }
    // A payload that needs + or / in standard base64 is refused in that spelling.
    const plusSlash = token({}, claims({ pad: '\u00fb\u00ef\u00bf>?' }));
    const converted = withSegment(plusSlash, 1, (s) => s.replaceAll('-', '+').replaceAll('_', '/'));
    assert.notEqual(converted, plusSlash);
    throwsJwt(() => verify(converted), 'ERR_JWT_MALFORMED');
    assert.ok(verify(plusSlash));
  });

  it('the wrong number of segments', () => {
    const good = token();
    const [h, p, s] = good.split('.');
    for (const compact of [
      '',
      'abc',
      `${h}.${p}`,
      `${h}.${p}.${s}.`,
      `${h}.${p}.${s}.${s}`,
      `${h}..${p}.${s}.x`,
    ]) {
      throwsJwt(() => verify(compact), 'ERR_JWT_MALFORMED');
    }
  });

  it('a header or payload that is not a JSON object', () => {
    const header = JSON.stringify({ alg: 'ES256', kid: es256.signingKey.kid, typ: TYP });
    for (const text of ['[]', '"x"', 'null', '1', 'true', '', '{', '{"a":1}x', '\ufeff{}']) {
      throwsJwt(() => verify(signRaw(text, JSON.stringify(claims()))), 'ERR_JWT_MALFORMED');
      throwsJwt(() => verify(signRaw(header, text)), 'ERR_JWT_MALFORMED');
    }
  });

  it('a header that is not UTF-8', () => {
    const input = `${Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')}.${b64('{}')}`;
    const signature = sign('sha256', Buffer.from(input), {
      key: es256.signingKey.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    throwsJwt(() => verify(`${input}.${signature.toString('base64url')}`), 'ERR_JWT_MALFORMED');
  });

  it('claims of the wrong type', () => {
    const wrong: Record<string, unknown>[] = [
      { exp: String(NOW + 600) },
      { exp: null },
      { nbf: '0' },
      { iat: true },
      { iss: 1 },
      { aud: 1 },
      { aud: [AUDIENCE, 1] },
      { aud: { AUDIENCE } },
      { sub: 7 },
      { sub: null },
      { jti: {} },
    ];
    for (const override of wrong) {
      throwsJwt(() => verify(token({}, claims(override))), 'ERR_JWT_CLAIM_INVALID');
    }
    // 1e400 parses to Infinity: not a finite NumericDate.
    const header = JSON.stringify({ alg: 'ES256', kid: es256.signingKey.kid, typ: TYP });
    const body = JSON.stringify(claims({ exp: undefined })).slice(0, -1);
    throwsJwt(() => verify(signRaw(header, `${body},"exp":1e400}`)), 'ERR_JWT_CLAIM_INVALID');
  });

  it('ECDSA signatures that are not exactly 2 × 32 bytes of IEEE P1363, and r = 0 or s = 0', () => {
    const good = token();
    const [h, p] = good.split('.') as [string, string];
    const der = sign('sha256', Buffer.from(`${h}.${p}`), es256.signingKey.privateKey); // DER, verifies under DER rules
    const raw = Buffer.from(good.split('.')[2]!, 'base64url');
    const bad = [
      der,
      Buffer.concat([raw, Buffer.alloc(1)]),
      Buffer.concat([Buffer.alloc(1), raw]),
      raw.subarray(0, 63),
      Buffer.alloc(0),
      Buffer.alloc(64), // the all-zero "psychic signature" (CVE-2022-21449)
      Buffer.concat([Buffer.alloc(32), raw.subarray(32)]),
      Buffer.concat([raw.subarray(0, 32), Buffer.alloc(32)]),
    ];
    for (const signature of bad) {
      throwsJwt(() => verify(`${h}.${p}.${signature.toString('base64url')}`), 'ERR_JWT_SIGNATURE_INVALID');
    }
  });

  it('a signature that does not match (modified payload, header, or another key)', () => {
    const good = token();
    const [h, p, s] = good.split('.') as [string, string, string];
    const other = generateSigningKey('ES256').signingKey;
    const tampered = b64(JSON.stringify(claims({ sub: 'admin' })));
    throwsJwt(() => verify(`${h}.${tampered}.${s}`), 'ERR_JWT_SIGNATURE_INVALID');
    throwsJwt(
      () => verify(token({}, claims(), { ...other, kid: es256.signingKey.kid })),
      'ERR_JWT_SIGNATURE_INVALID',
    );
    throwsJwt(
      () =>
        verify(
          `${b64(JSON.stringify({ alg: 'ES256', kid: es256.signingKey.kid, typ: 'AT+JWT' }))}.${p}.${s}`,
        ),
      'ERR_JWT_SIGNATURE_INVALID',
    );
  });

  it('with a JwtError whatever a resolver, key or input throws', () => {
    const throwing: KeyResolver = {
      resolve() {
        throw new RangeError('resolver blew up');
      },
    };
    assert.throws(
      () => verifyJwt(token(), throwing, options()),
      (e: unknown) => e instanceof JwtError && e.code === 'ERR_JWT_MALFORMED',
    );
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    const unusable: KeyResolver = { resolve: (kid) => ({ kid, alg: 'RS256', key: weak }) };
    throwsJwt(
      () => verifyJwt(token({}, claims(), rs256.signingKey), unusable, options()),
      'ERR_JWT_KEY_UNKNOWN',
    );
    const privateAsPublic: KeyResolver = {
      resolve: (kid) => ({ kid, alg: 'ES256', key: es256.signingKey.privateKey }),
    };
    throwsJwt(() => verifyJwt(token(), privateAsPublic, options()), 'ERR_JWT_KEY_UNKNOWN');
    for (const input of [undefined, null, 42, {}, Buffer.from(token())]) {
      throwsJwt(() => verifyJwt(input as unknown as string, keys, options()), 'ERR_JWT_MALFORMED');
    }
  });

  it('tokens from a key set that no longer holds the key', () => {
    const only = KeySet.fromJwks({ keys: [rs256.publicJwk] });
    throwsJwt(() => verifyJwt(token(), only, options()), 'ERR_JWT_KEY_UNKNOWN');
  });
});
