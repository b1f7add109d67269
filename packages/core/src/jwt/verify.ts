import { epochSeconds, systemClock } from '../clock.js';
import { JwtError } from '../errors.js';
import type { KeyResolver, VerifiedJwt, VerifyOptions } from './types.js';
import {
  parseJsonObject,
  type VerifiedJws,
  verifyJwsSignature,
  verifyJwsSignatureAsync,
} from './verify-jws.js';
import type { BatchedVerifier } from './batched-verifier.js';

/** Default for `clockSkewSeconds`. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 60;

/** Registered claims that must be finite NumericDates when present. */
const NUMERIC_DATE_CLAIMS = ['exp', 'nbf', 'iat'] as const;
/** Registered claims that must be strings when present. */
const STRING_CLAIMS = ['iss', 'sub', 'jti'] as const;

/**
 * Verifies a signed JWT: the one verification path every Gatehouse role uses. Synchronous,
 * node:crypto only, KeyObjects prepared at import.
 *
 * On top of {@link verifyJwsSignature} (encoding, header, pinned alg, kid, key, signature) it
 * requires the header `typ`, a strict JSON claim set with well-typed registered claims, `iss`
 * equal to `issuer`, an `aud` containing one of `audience`, `exp` and `iat` present, not expired,
 * `nbf`/`iat` not in the future (each ± `clockSkewSeconds`, edges inclusive) and
 * `exp - iat <= maxLifetimeSeconds`. Every failure is a {@link JwtError} with a stable code.
 *
 * @example
 * ```ts
 * const { payload } = verifyJwt(token, keys, {
 *   issuer: 'https://id.example',
 *   audience: 'orders-api',
 *   typ: 'at+jwt',
 *   maxLifetimeSeconds: 3600,
 * });
 * ```
 */
export function verifyJwt(token: string, keys: KeyResolver, options: VerifyOptions): VerifiedJwt {
  return checkClaims(verifyJwsSignature(token, keys, options), options);
}

/**
 * {@link verifyJwt} with the signature check off the main thread (see
 * {@link verifyJwsSignatureAsync}): on libuv's threadpool, or batched on `verifier`'s worker
 * threads when one is given. The same checks in the same order, the same errors (as a rejection).
 * For servers whose main thread is the bottleneck, such as the gateway.
 *
 * @example
 * ```ts
 * const { payload } = await verifyJwtAsync(token, keys, { issuer, audience, typ: 'at+jwt', maxLifetimeSeconds: 3600 });
 * ```
 */
export async function verifyJwtAsync(
  token: string,
  keys: KeyResolver,
  options: VerifyOptions,
  verifier?: BatchedVerifier,
): Promise<VerifiedJwt> {
  return checkClaims(await verifyJwsSignatureAsync(token, keys, options, verifier), options);
}

/** The claim rules of {@link verifyJwt}, on a JWS whose signature checked out. */
function checkClaims({ header, key, payload: bytes }: VerifiedJws, options: VerifyOptions): VerifiedJwt {
  const payload = parseJsonObject(bytes, 'payload');

  for (const claim of NUMERIC_DATE_CLAIMS) {
    const value = payload[claim];
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value))) {
      throw new JwtError('ERR_JWT_CLAIM_INVALID', `claim "${claim}" must be a finite number`);
    }
  }
  for (const claim of STRING_CLAIMS) {
    const value = payload[claim];
    if (value !== undefined && typeof value !== 'string') {
      throw new JwtError('ERR_JWT_CLAIM_INVALID', `claim "${claim}" must be a string`);
    }
  }
  const { iss, aud, exp, nbf, iat } = payload as {
    iss?: string;
    aud?: unknown;
    exp?: number;
    nbf?: number;
    iat?: number;
  };
  if (aud !== undefined && typeof aud !== 'string' && !isStringArray(aud)) {
    throw new JwtError('ERR_JWT_CLAIM_INVALID', 'claim "aud" must be a string or an array of strings');
  }
  if (iss === undefined) throw new JwtError('ERR_JWT_CLAIM_MISSING', 'claim "iss" is required');
  if (aud === undefined) throw new JwtError('ERR_JWT_CLAIM_MISSING', 'claim "aud" is required');
  if (exp === undefined) throw new JwtError('ERR_JWT_CLAIM_MISSING', 'claim "exp" is required');
  if (iat === undefined) throw new JwtError('ERR_JWT_CLAIM_MISSING', 'claim "iat" is required');

  if (iss !== options.issuer) throw new JwtError('ERR_JWT_ISSUER_INVALID', 'unexpected issuer');
  if (!audienceMatches(aud, options.audience))
    throw new JwtError('ERR_JWT_AUDIENCE_INVALID', 'unexpected audience');

  const now = epochSeconds(options.clock ?? systemClock);
  const skew = options.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
  if (now > exp + skew) throw new JwtError('ERR_JWT_EXPIRED', 'token has expired');
  if (nbf !== undefined && nbf > now + skew)
    throw new JwtError('ERR_JWT_NOT_YET_VALID', 'token is not valid yet (nbf)');
  if (iat > now + skew) throw new JwtError('ERR_JWT_NOT_YET_VALID', 'token was issued in the future (iat)');
  // Compared as a difference, so an absurd exp (1e20) fails here instead of living forever.
  if (!(exp - iat <= options.maxLifetimeSeconds)) {
    throw new JwtError(
      'ERR_JWT_LIFETIME_TOO_LONG',
      `token lifetime exceeds ${options.maxLifetimeSeconds} seconds`,
    );
  }

  return { header, payload: payload as VerifiedJwt['payload'], key };
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function audienceMatches(actual: string | string[], accepted: VerifyOptions['audience']): boolean {
  if (typeof accepted === 'function') return accepted(typeof actual === 'string' ? [actual] : actual);
  if (typeof accepted === 'string')
    return typeof actual === 'string' ? actual === accepted : actual.includes(accepted);
  return typeof actual === 'string' ? accepted.includes(actual) : actual.some((a) => accepted.includes(a));
}
