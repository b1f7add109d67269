import { createPublicKey } from 'node:crypto';
import { publicMembers } from './internal/jwk-members.js';
import type { PublicJwk, SigningKey } from './types.js';

/**
 * The public JWK of a signing key: `{kty, crv?, x?, y?, n?, e?, kid, alg, use: 'sig'}`, never a
 * private member.
 *
 * @example
 * ```ts
 * const jwks = { keys: [publicJwkOf(signingKey)] };
 * ```
 */
export function publicJwkOf(key: SigningKey): PublicJwk {
  return { ...publicMembers(createPublicKey(key.privateKey)), kid: key.kid, alg: key.alg, use: 'sig' };
}
