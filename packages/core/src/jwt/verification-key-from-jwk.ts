import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { GatehouseError } from '../errors.js';
import { EDWARDS_CURVES, isJwsAlgorithm, KID_PATTERN, KID_SYNTAX, specOf } from './internal/algorithms.js';
import { decodeCanonicalBase64url } from './internal/base64url.js';
import { preparedVerificationKey } from './internal/prepared-key.js';
import { isJsonObject } from './internal/strict-json.js';
import type { VerificationKey } from './types.js';

/** JWK members that only a private or symmetric key carries (RFC 7518 §6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** Smallest HMAC key RFC 7518 §3.2 allows for HS256; reported so the refusal says why. */
const MIN_HMAC_BYTES = 32;

const invalid = (kid: string, message: string) =>
  new GatehouseError('ERR_KEY_INVALID', `JWK ${JSON.stringify(kid)}: ${message}`);
const weak = (kid: string, message: string) =>
  new GatehouseError('ERR_KEY_WEAK', `JWK ${JSON.stringify(kid)}: ${message}`);

/**
 * Imports one public JWK as a {@link VerificationKey} pinned to its `alg`.
 *
 * Refuses (GatehouseError ERR_KEY_WEAK): symmetric `oct` keys of any size, RSA below 2048 bits,
 * RSA exponent 1 or even, RSA moduli with small factors or the ROCA fingerprint.
 * Refuses (ERR_KEY_INVALID): missing or `kid` outside KID_PATTERN, missing or unsupported
 * `alg`, `alg`/`kty`/`crv` mismatch, unsupported curve, `use` other than `sig`, `key_ops` without
 * `verify`, any private member, non-canonical base64url or wrong-length members, points off the curve.
 *
 * @example
 * ```ts
 * const key = verificationKeyFromJwk({ kty: 'EC', crv: 'P-256', x, y, kid: 'k1', alg: 'ES256', use: 'sig' });
 * verifyJwt(token, KeySet.fromKeys([key]), options);
 * ```
 */
export function verificationKeyFromJwk(jwk: unknown): VerificationKey {
  if (!isJsonObject(jwk)) throw new GatehouseError('ERR_KEY_INVALID', 'JWK must be a JSON object');
  const { kid, alg, kty, use, key_ops: keyOps } = jwk;
  if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) {
    throw new GatehouseError('ERR_KEY_INVALID', `JWK kid is required and must be ${KID_SYNTAX}`);
  }
  if (kty === 'oct') {
    const bytes = typeof jwk.k === 'string' ? Buffer.from(jwk.k, 'base64url').length : 0;
    throw weak(
      kid,
      bytes < MIN_HMAC_BYTES
        ? `symmetric key of ${bytes} bytes (and symmetric keys are never accepted)`
        : 'symmetric (HMAC) keys are never accepted; verification uses public keys only',
    );
  }
  for (const member of PRIVATE_MEMBERS) {
    if (member in jwk) throw invalid(kid, `private member "${member}" present; publish public keys only`);
  }
  if (alg === undefined) throw invalid(kid, 'alg is required: every key is pinned to one algorithm');
  if (!isJwsAlgorithm(alg)) throw invalid(kid, `unsupported alg ${JSON.stringify(alg)}`);
  if (use !== undefined && use !== 'sig') throw invalid(kid, `use must be "sig", not ${JSON.stringify(use)}`);
  if (keyOps !== undefined && !(Array.isArray(keyOps) && keyOps.includes('verify'))) {
    throw invalid(kid, 'key_ops must include "verify"');
  }
  const key = Object.freeze({ kid, alg, key: importPublicMembers(kid, alg, jwk) });
  try {
    // Size, exponent and curve checks live with the KeyObject so fromKeys() gets the same policy.
    preparedVerificationKey(key);
  } catch (cause) {
    if (!(cause instanceof GatehouseError)) throw cause;
    throw new GatehouseError(cause.code, `JWK ${JSON.stringify(kid)}: ${cause.message}`);
  }
  return key;
}

/** Builds the KeyObject from exactly the members the algorithm needs, each checked canonically. */
function importPublicMembers(
  kid: string,
  alg: VerificationKey['alg'],
  jwk: Record<string, unknown>,
): KeyObject {
  const spec = specOf(alg);
  const member = (name: string, bytes?: number): string => {
    const value = jwk[name];
    const decoded = typeof value === 'string' ? decodeCanonicalBase64url(value) : undefined;
    if (decoded === undefined || decoded.length === 0) {
      throw invalid(kid, `member "${name}" must be non-empty canonical base64url`);
    }
    if (bytes !== undefined && decoded.length !== bytes) {
      throw invalid(kid, `member "${name}" must be ${bytes} bytes, not ${decoded.length}`);
    }
    if (bytes === undefined && decoded[0] === 0) {
      throw invalid(kid, `member "${name}" has a leading zero octet (RFC 7518 §6.3.1)`);
    }
    return value as string;
  };
  let members: JsonWebKey;
  switch (spec.family) {
    case 'EC':
      if (jwk.kty !== 'EC') throw invalid(kid, `${alg} needs kty "EC"`);
      if (jwk.crv !== spec.jwkCurve) throw invalid(kid, `${alg} needs crv "${spec.jwkCurve}"`);
      members = {
        kty: 'EC',
        crv: spec.jwkCurve,
        x: member('x', spec.coordinateBytes),
        y: member('y', spec.coordinateBytes),
      };
      break;
    case 'RSA':
    case 'PSS':
      if (jwk.kty !== 'RSA') throw invalid(kid, `${alg} needs kty "RSA"`);
      members = { kty: 'RSA', n: member('n'), e: member('e') };
      break;
    case 'OKP': {
      const curve = typeof jwk.crv === 'string' ? EDWARDS_CURVES.get(jwk.crv) : undefined;
      if (jwk.kty !== 'OKP' || curve === undefined)
        throw invalid(kid, 'EdDSA needs kty "OKP" on Ed25519 or Ed448');
      members = { kty: 'OKP', crv: jwk.crv as string, x: member('x', curve.keyBytes) };
      break;
    }
  }
  try {
    // node checks the point is on the curve; we have already fixed the sizes.
    return createPublicKey({ key: members, format: 'jwk' });
  } catch (cause) {
    throw new GatehouseError('ERR_KEY_INVALID', `JWK ${JSON.stringify(kid)}: not a valid ${alg} public key`, {
      cause,
    });
  }
}
