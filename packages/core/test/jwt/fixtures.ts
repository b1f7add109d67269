/** Shared fixtures for the JWT tests: keys generated once per file, a raw signer, default options. */
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { ManualClock } from '../../src/clock.js';
import { GatehouseError, JwtError } from '../../src/errors.js';
import { generateSigningKey } from '../../src/jwt/generate-signing-key.js';
import { KeySet } from '../../src/jwt/key-set.js';
import type { SigningKey, VerifyOptions } from '../../src/jwt/types.js';

export const NOW = 1_700_000_000;
export const ISSUER = 'https://id.example';
export const AUDIENCE = 'orders-api';
export const TYP = 'at+jwt';

export const es256 = generateSigningKey('ES256');
export const rs256 = generateSigningKey('RS256');
export const eddsa = generateSigningKey('EdDSA');
export const keys = KeySet.fromJwks({ keys: [es256.publicJwk, rs256.publicJwk, eddsa.publicJwk] });

/** Verify options at NOW; `overrides` replace members. */
export function options(overrides: Partial<VerifyOptions> = {}): VerifyOptions {
  return {
    issuer: ISSUER,
    audience: AUDIENCE,
    typ: TYP,
    maxLifetimeSeconds: 3600,
    clock: new ManualClock(NOW * 1000),
    ...overrides,
  };
}

/** A valid claim set issued at NOW for ten minutes; `overrides` replace or (as undefined) remove. */
export function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', iat: NOW, exp: NOW + 600, ...overrides };
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

/**
 * Signs arbitrary header and payload JSON *text* with node:crypto, bypassing signJwt's checks, so
 * tests can build tokens signJwt would never produce (duplicate members, crit, alg none, ...).
 */
export function signRaw(headerJson: string, payloadJson: string, key: SigningKey = es256.signingKey): string {
  const input = `${b64(headerJson)}.${b64(payloadJson)}`;
  const signature =
    key.alg === 'EdDSA'
      ? sign(null, Buffer.from(input), key.privateKey)
      : sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

/** Signs a header object (alg, kid and typ defaulted from `key`) and a payload object. */
export function token(
  header: Record<string, unknown> = {},
  payload: Record<string, unknown> = claims(),
  key: SigningKey = es256.signingKey,
): string {
  return signRaw(
    JSON.stringify({ alg: key.alg, kid: key.kid, typ: TYP, ...header }),
    JSON.stringify(payload),
    key,
  );
}

/** Asserts that `fn` throws a JwtError with exactly `code`. */
export function throwsJwt(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof JwtError, `expected JwtError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

/** Asserts that `fn` throws a GatehouseError with exactly `code` (and a message matching `message`). */
export function throwsKey(
  fn: () => unknown,
  code: 'ERR_KEY_WEAK' | 'ERR_KEY_INVALID',
  message?: RegExp,
): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof GatehouseError, `expected GatehouseError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

/** Replaces one of the three segments of a compact token. */
export function withSegment(compact: string, index: 0 | 1 | 2, replace: (segment: string) => string): string {
  const parts = compact.split('.');
  parts[index] = replace(parts[index]!);
  return parts.join('.');
}
