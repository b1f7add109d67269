import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { calculateJwkThumbprint, importJWK, jwtVerify } from 'jose';
import { generateSigningKey } from '../../src/jwt/generate-signing-key.js';
import { KeySet } from '../../src/jwt/key-set.js';
import { publicJwkOf } from '../../src/jwt/public-jwk.js';
import { signJwt, signJwtAsync } from '../../src/jwt/sign.js';
import type { VerificationKey } from '../../src/jwt/types.js';
import { verificationKeyFromJwk } from '../../src/jwt/verification-key-from-jwk.js';
import { claims, eddsa, es256, ISSUER, keys, rs256, TYP, throwsKey } from './fixtures.js';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const publicJwkOfKey = (key: KeyObject) => key.export({ format: 'jwk' });

describe('generateSigningKey / publicJwkOf', () => {
  for (const generated of [es256, rs256, eddsa]) {
    const { signingKey, publicJwk } = generated;
    it(`${signingKey.alg}: kid is the RFC 7638 thumbprint and the JWK carries no private member`, async () => {
      assert.equal(signingKey.kid, await calculateJwkThumbprint(publicJwk, 'sha256'));
      assert.match(signingKey.kid, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(publicJwk.kid, signingKey.kid);
      assert.equal(publicJwk.alg, signingKey.alg);
      assert.equal(publicJwk.use, 'sig');
      for (const member of PRIVATE_MEMBERS) assert.ok(!(member in publicJwk), member);
      assert.deepEqual(publicJwkOf(signingKey), publicJwk);
      assert.equal(signingKey.privateKey.type, 'private');
    });
  }

  it('RS256 keys are at least 2048 bits (3072 generated)', () => {
    const details = createPublicKey(rs256.signingKey.privateKey).asymmetricKeyDetails;
    assert.equal(details?.modulusLength, 3072);
    assert.equal(details?.publicExponent, 65537n);
  });

  it('refuses algorithms it does not generate', () => {
    assert.throws(() => generateSigningKey('HS256' as 'ES256'), TypeError);
  });
});

describe('signJwt', () => {
  it('sets alg and kid, signs ES256 as 64-byte IEEE P1363, and jose verifies all three algorithms', async () => {
    for (const { signingKey, publicJwk } of [es256, rs256, eddsa]) {
      const token = signJwt({ typ: TYP, custom: 1 }, claims(), signingKey);
      const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as Record<
        string,
        unknown
      >;
      assert.deepEqual(header, { alg: signingKey.alg, kid: signingKey.kid, typ: TYP, custom: 1 });
      if (signingKey.alg === 'ES256') assert.equal(Buffer.from(token.split('.')[2]!, 'base64url').length, 64);
      const { payload } = await jwtVerify(token, await importJWK(publicJwk, signingKey.alg), {
        issuer: ISSUER,
        currentDate: new Date((claims().iat as number) * 1000),
      });
      assert.equal(payload.sub, 'user-1');
    }
  });

  it('signJwtAsync signs on the thread pool with the same header, checks and verifiable output', async () => {
    for (const { signingKey, publicJwk } of [es256, rs256, eddsa]) {
      const token = await signJwtAsync({ typ: TYP }, claims(), signingKey);
      const sync = signJwt({ typ: TYP }, claims(), signingKey);
      assert.equal(token.split('.').slice(0, 2).join('.'), sync.split('.').slice(0, 2).join('.'));
      const { payload } = await jwtVerify(token, await importJWK(publicJwk, signingKey.alg), {
        issuer: ISSUER,
        currentDate: new Date((claims().iat as number) * 1000),
      });
      assert.equal(payload.sub, 'user-1');
    }
    assert.throws(() => signJwtAsync({ typ: TYP, alg: 'none' }, claims(), es256.signingKey), TypeError);
  });

  it('refuses headers that set alg/kid, carry crit/jwk/jku/x5u/x5c or lack typ', () => {
    for (const name of ['alg', 'kid', 'crit', 'jwk', 'jku', 'x5u', 'x5c']) {
      assert.throws(() => signJwt({ typ: TYP, [name]: 'x' }, claims(), es256.signingKey), TypeError, name);
    }
    assert.throws(() => signJwt({} as { typ: string }, claims(), es256.signingKey), TypeError);
    assert.throws(() => signJwt({ typ: '' }, claims(), es256.signingKey), TypeError);
    assert.throws(
      () => signJwt({ typ: TYP }, [] as unknown as Record<string, unknown>, es256.signingKey),
      TypeError,
    );
  });

  it('refuses unusable signing keys', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    throwsKey(() => signJwt({ typ: TYP }, {}, { kid: 'k', alg: 'RS256', privateKey }), 'ERR_KEY_WEAK');
    throwsKey(
      () => signJwt({ typ: TYP }, {}, { kid: 'k', alg: 'RS256', privateKey: publicKey }),
      'ERR_KEY_INVALID',
    );
    throwsKey(() => signJwt({ typ: TYP }, {}, { ...es256.signingKey, alg: 'RS256' }), 'ERR_KEY_INVALID');
    assert.throws(() => signJwt({ typ: TYP }, {}, { ...es256.signingKey, kid: '../k' }), TypeError);
    assert.throws(
      () => signJwt({ typ: TYP }, {}, { ...es256.signingKey, alg: 'PS256' as 'RS256' }),
      TypeError,
    );
  });
});

describe('KeySet / verificationKeyFromJwk', () => {
  const ec = { ...es256.publicJwk };
  const rsa = { ...rs256.publicJwk };

  it('imports good keys, pinned and frozen, and looks them up by exact kid only', () => {
    assert.equal(keys.size, 3);
    const key = keys.resolve(es256.signingKey.kid);
    assert.equal(key?.alg, 'ES256');
    assert.ok(Object.isFrozen(key));
    for (const miss of [
      '',
      es256.signingKey.kid.slice(1),
      `${es256.signingKey.kid} `,
      '__proto__',
      'constructor',
    ]) {
      assert.equal(keys.resolve(miss), undefined);
    }
    // key_ops with verify, and no use at all, are fine.
    const { use: _use, ...noUse } = ec;
    assert.equal(verificationKeyFromJwk({ ...noUse, key_ops: ['verify'] }).alg, 'ES256');
    const ed448 = generateKeyPairSync('ed448').publicKey;
    assert.equal(
      verificationKeyFromJwk({ ...publicJwkOfKey(ed448), kid: 'ed448', alg: 'EdDSA' }).alg,
      'EdDSA',
    );
  });

  it('refuses RSA keys below 2048 bits', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    throwsKey(
      () => verificationKeyFromJwk({ ...publicJwkOfKey(small), kid: 'k', alg: 'RS256' }),
      'ERR_KEY_WEAK',
      /1024/,
    );
  });

  it('refuses RSA exponent 1 and even exponents', () => {
    throwsKey(() => verificationKeyFromJwk({ ...rsa, e: 'AQ' }), 'ERR_KEY_WEAK', /exponent/);
    throwsKey(() => verificationKeyFromJwk({ ...rsa, e: 'AQAA' }), 'ERR_KEY_WEAK', /exponent/);
  });

  it('refuses RSA moduli with a leading zero octet or a small factor', () => {
    const n = Buffer.from(rsa.n!, 'base64url');
    throwsKey(
      () => verificationKeyFromJwk({ ...rsa, n: Buffer.concat([Buffer.alloc(1), n]).toString('base64url') }),
      'ERR_KEY_INVALID',
      /leading zero/,
    );
    const times3 = (BigInt(`0x${n.toString('hex')}`) * 3n).toString(16);
    const n3 = Buffer.from(times3.length % 2 ? `0${times3}` : times3, 'hex').toString('base64url');
    throwsKey(() => verificationKeyFromJwk({ ...rsa, n: n3 }), 'ERR_KEY_WEAK', /small factor 3/);
  });

  it('refuses symmetric (oct) keys of any size, and says when they are short', () => {
    const oct = (bytes: number) => ({
      kty: 'oct',
      kid: 'h',
      alg: 'HS256',
      k: Buffer.alloc(bytes, 1).toString('base64url'),
    });
    throwsKey(() => verificationKeyFromJwk(oct(16)), 'ERR_KEY_WEAK', /16 bytes/);
    throwsKey(() => verificationKeyFromJwk(oct(64)), 'ERR_KEY_WEAK', /never accepted/);
    throwsKey(
      () => KeySet.fromJwks({ keys: [ec, { kty: 'oct', kid: 'h', alg: 'HS512', k: 'AAAA' }] }),
      'ERR_KEY_WEAK',
    );
  });

  it('refuses unsupported curves and alg/crv mismatches', () => {
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey;
    throwsKey(
      () => verificationKeyFromJwk({ ...publicJwkOfKey(k1), kid: 'k', alg: 'ES256' }),
      'ERR_KEY_INVALID',
    );
    throwsKey(
      () => verificationKeyFromJwk({ ...publicJwkOfKey(k1), kid: 'k', alg: 'ES256K' }),
      'ERR_KEY_INVALID',
      /unsupported alg/,
    );
    throwsKey(() => verificationKeyFromJwk({ ...ec, alg: 'ES384' }), 'ERR_KEY_INVALID', /P-384/);
    throwsKey(() => verificationKeyFromJwk({ ...ec, crv: 'P-384' }), 'ERR_KEY_INVALID');
    throwsKey(() => verificationKeyFromJwk({ ...ec, alg: 'RS256' }), 'ERR_KEY_INVALID', /kty "RSA"/);
    throwsKey(() => verificationKeyFromJwk({ ...rsa, alg: 'ES256' }), 'ERR_KEY_INVALID', /kty "EC"/);
    const x25519 = generateKeyPairSync('x25519').publicKey;
    throwsKey(
      () => verificationKeyFromJwk({ ...publicJwkOfKey(x25519), kid: 'k', alg: 'EdDSA' }),
      'ERR_KEY_INVALID',
    );
  });

  it('refuses a point that is not on the curve and coordinates of the wrong length or encoding', () => {
    const y = Buffer.from(ec.y!, 'base64url');
    y[31]! ^= 1;
    throwsKey(
      () => verificationKeyFromJwk({ ...ec, y: y.toString('base64url') }),
      'ERR_KEY_INVALID',
      /not a valid/,
    );
    throwsKey(() => verificationKeyFromJwk({ ...ec, x: `AA${ec.x}` }), 'ERR_KEY_INVALID');
    throwsKey(() => verificationKeyFromJwk({ ...ec, x: `${ec.x}=` }), 'ERR_KEY_INVALID', /canonical/);
    throwsKey(() => verificationKeyFromJwk({ ...ec, x: undefined }), 'ERR_KEY_INVALID');
    throwsKey(() => verificationKeyFromJwk({ ...rsa, n: 42 }), 'ERR_KEY_INVALID');
  });

  it('refuses a duplicate kid', () => {
    throwsKey(
      () => KeySet.fromJwks({ keys: [ec, { ...rsa, kid: ec.kid }] }),
      'ERR_KEY_INVALID',
      /duplicate kid/,
    );
    throwsKey(() => KeySet.fromJwks({ keys: [ec, ec] }), 'ERR_KEY_INVALID', /duplicate kid/);
  });

  it('refuses a missing or unusable kid', () => {
    throwsKey(() => verificationKeyFromJwk({ ...ec, kid: undefined }), 'ERR_KEY_INVALID', /kid/);
    assert.equal(
      verificationKeyFromJwk({ ...ec, kid: 'bilbo.baggins@hobbiton.example' }).kid,
      'bilbo.baggins@hobbiton.example',
    );
    for (const kid of ['', 'a/b', 'a\\b', "k'", 'k;', 'k k', 7]) {
      throwsKey(() => verificationKeyFromJwk({ ...ec, kid }), 'ERR_KEY_INVALID', /kid/);
    }
  });

  it('refuses a missing or unsupported alg (keys are pinned)', () => {
    throwsKey(() => verificationKeyFromJwk({ ...ec, alg: undefined }), 'ERR_KEY_INVALID', /alg is required/);
    for (const alg of ['HS256', 'none', 'ES521', 'RSA-OAEP', 'es256']) {
      throwsKey(() => verificationKeyFromJwk({ ...ec, alg }), 'ERR_KEY_INVALID', /unsupported alg/);
    }
  });

  it('refuses use other than "sig" and key_ops without "verify"', () => {
    throwsKey(() => verificationKeyFromJwk({ ...ec, use: 'enc' }), 'ERR_KEY_INVALID', /use/);
    throwsKey(() => verificationKeyFromJwk({ ...ec, key_ops: ['encrypt'] }), 'ERR_KEY_INVALID', /key_ops/);
    throwsKey(() => verificationKeyFromJwk({ ...ec, key_ops: 'verify' }), 'ERR_KEY_INVALID', /key_ops/);
  });

  it('refuses private members', () => {
    const full = es256.signingKey.privateKey.export({ format: 'jwk' });
    throwsKey(
      () => verificationKeyFromJwk({ ...full, kid: 'k', alg: 'ES256' }),
      'ERR_KEY_INVALID',
      /private member "d"/,
    );
    for (const member of ['p', 'q', 'dp', 'dq', 'qi', 'oth']) {
      throwsKey(
        () => verificationKeyFromJwk({ ...rsa, [member]: 'AQAB' }),
        'ERR_KEY_INVALID',
        /private member/,
      );
    }
  });

  it('refuses input that is not a JWK or a JWKS', () => {
    for (const input of [null, 'jwk', [], 1])
      throwsKey(() => verificationKeyFromJwk(input), 'ERR_KEY_INVALID');
    for (const input of [null, {}, { keys: {} }, []])
      throwsKey(() => KeySet.fromJwks(input), 'ERR_KEY_INVALID');
  });

  it('fromKeys applies the same policy to KeyObjects and copies the keys', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    throwsKey(() => KeySet.fromKeys([{ kid: 'k', alg: 'RS256', key: small }]), 'ERR_KEY_WEAK');
    throwsKey(
      () => KeySet.fromKeys([{ kid: 'k', alg: 'ES256', key: es256.signingKey.privateKey }]),
      'ERR_KEY_INVALID',
    );
    const ecKey = createPublicKey(es256.signingKey.privateKey);
    throwsKey(() => KeySet.fromKeys([{ kid: 'k', alg: 'RS256', key: ecKey }]), 'ERR_KEY_INVALID');
    throwsKey(() => KeySet.fromKeys([{ kid: 'k', alg: 'ES384', key: ecKey }]), 'ERR_KEY_INVALID');
    throwsKey(() => KeySet.fromKeys([{ kid: 'k', alg: 'HS256' as 'ES256', key: ecKey }]), 'ERR_KEY_INVALID');
    throwsKey(() => KeySet.fromKeys([{ kid: '../k', alg: 'ES256', key: ecKey }]), 'ERR_KEY_INVALID');
    throwsKey(
      () =>
        KeySet.fromKeys([
          { kid: 'k', alg: 'ES256', key: ecKey },
          { kid: 'k', alg: 'ES256', key: ecKey },
        ]),
      'ERR_KEY_INVALID',
    );
    const mutable: { kid: string; alg: VerificationKey['alg']; key: KeyObject } = {
      kid: 'k',
      alg: 'ES256',
      key: ecKey,
    };
    const set = KeySet.fromKeys([mutable]);
    mutable.alg = 'RS256';
    assert.equal(set.resolve('k')?.alg, 'ES256');
    assert.equal(KeySet.fromKeys([]).size, 0);
  });
});
