import { sign } from 'node:crypto';
import { KID_PATTERN, KID_SYNTAX } from './internal/algorithms.js';
import { type PreparedKey, prepareKey } from './internal/prepared-key.js';
import type { SigningKey } from './types.js';

/** Header members the signer owns, or that our own verifier would refuse. */
const RESERVED_HEADERS = ['alg', 'kid', 'crit', 'jwk', 'jku', 'x5u', 'x5c'] as const;

/** Prepared form of each signing key object, checked on first use. */
const prepared = new WeakMap<SigningKey, PreparedKey>();
/** Encoded `{alg, kid, typ}` headers per prepared key (one prepared key per SigningKey and kid). */
const typOnlyHeaders = new WeakMap<PreparedKey, Map<string, string>>();

/**
 * Signs a JWT synchronously with node:crypto. Sets `alg` and `kid` from the key; ES256 signatures
 * are IEEE P1363 (r‖s) as JWS requires. The header must carry a `typ` (RFC 8725 §3.11).
 *
 * Throws TypeError for a header that names `alg`/`kid` itself or carries a member our verifier
 * refuses (`crit`, `jwk`, `jku`, `x5u`, `x5c`), and GatehouseError ERR_KEY_* for an unusable key.
 *
 * @example
 * ```ts
 * const token = signJwt({ typ: 'at+jwt' }, { iss, aud, sub, iat, exp }, signingKey);
 * ```
 */
export function signJwt(
  header: { typ: string } & Record<string, unknown>,
  payload: Record<string, unknown>,
  key: SigningKey,
): string {
  const { signingInput, prep } = prepareSigning(header, payload, key);
  const signature = sign(prep.hash, Buffer.from(signingInput, 'latin1'), prep.input);
  return `${signingInput}.${signature.toString('base64url')}`;
}

/**
 * Like {@link signJwt}, but the signature is computed on libuv's thread pool, so the event loop
 * keeps serving while the (dominant) private-key operation runs on another core. Same checks,
 * same output.
 *
 * @example
 * ```ts
 * const token = await signJwtAsync({ typ: 'at+jwt' }, { iss, aud, sub, iat, exp }, signingKey);
 * ```
 */
export function signJwtAsync(
  header: { typ: string } & Record<string, unknown>,
  payload: Record<string, unknown>,
  key: SigningKey,
): Promise<string> {
  const { signingInput, prep } = prepareSigning(header, payload, key);
  return new Promise((resolve, reject) => {
    sign(prep.hash, Buffer.from(signingInput, 'latin1'), prep.input, (err, signature) => {
      if (err) reject(err);
      else resolve(`${signingInput}.${signature.toString('base64url')}`);
    });
  });
}

function prepareSigning(
  header: { typ: string } & Record<string, unknown>,
  payload: Record<string, unknown>,
  key: SigningKey,
): { signingInput: string; prep: PreparedKey } {
  if (typeof header?.typ !== 'string' || header.typ === '') throw new TypeError('header.typ is required');
  for (const name of RESERVED_HEADERS) {
    if (name in header) throw new TypeError(`header.${name} must not be set by the caller`);
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new TypeError('payload must be a plain object');
  }
  const prep = preparedSigningKey(key);
  return { signingInput: `${encodedHeader(prep, key.kid, header)}.${encodeJson(payload)}`, prep };
}

/**
 * The encoded header, memoised per key for the common header that is only `typ` (every access
 * token): one JSON.stringify + base64url less per token on the issuance hot path.
 */
function encodedHeader(
  prep: PreparedKey,
  kid: string,
  header: { typ: string } & Record<string, unknown>,
): string {
  const keys = Object.keys(header);
  if (keys.length !== 1) return encodeJson({ alg: prep.alg, kid, ...header });
  let cached = typOnlyHeaders.get(prep);
  if (cached === undefined) {
    cached = new Map();
    typOnlyHeaders.set(prep, cached);
  }
  const cacheKey = `${kid}\u0000${header.typ}`;
  let encoded = cached.get(cacheKey);
  if (encoded === undefined) {
    encoded = encodeJson({ alg: prep.alg, kid, typ: header.typ });
    if (cached.size < 16) cached.set(cacheKey, encoded);
  }
  return encoded;
}

function encodeJson(value: object): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

function preparedSigningKey(key: SigningKey): PreparedKey {
  // Checked on every call: a token our own verifier would refuse must never be minted.
  if (typeof key?.kid !== 'string' || !KID_PATTERN.test(key.kid)) {
    throw new TypeError(`signing kid must be ${KID_SYNTAX}`);
  }
  const hit = prepared.get(key);
  if (hit !== undefined && hit.alg === key.alg && hit.key === key.privateKey) return hit;
  // Only the three algorithms Gatehouse issues with; prepareKey would accept any verifiable one.
  if (key.alg !== 'ES256' && key.alg !== 'RS256' && key.alg !== 'EdDSA') {
    throw new TypeError('signing alg must be ES256, RS256 or EdDSA');
  }
  const fresh = prepareKey(key.alg, key.privateKey, 'private');
  prepared.set(key, fresh);
  return fresh;
}
