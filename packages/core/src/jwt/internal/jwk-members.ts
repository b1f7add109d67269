import { createHash, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { PublicJwk } from '../types.js';

/** The public members of a JWK, without `kid`, `alg` and `use`. */
export type PublicMembers = Pick<PublicJwk, 'kty' | 'crv' | 'x' | 'y' | 'n' | 'e'>;

/** The required public members per `kty`, in the lexicographic order RFC 7638 §3.2 prescribes. */
const REQUIRED_MEMBERS = {
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
  RSA: ['e', 'kty', 'n'],
} as const;

/**
 * Exactly the required public members of a public key, in thumbprint order. Picked by name, never
 * filtered, so a private member cannot slip through.
 */
export function publicMembers(publicKey: KeyObject): PublicMembers {
  const jwk: JsonWebKey = publicKey.export({ format: 'jwk' });
  const kty = jwk.kty;
  if (kty !== 'EC' && kty !== 'OKP' && kty !== 'RSA')
    throw new TypeError(`unsupported key type ${String(kty)}`);
  const members: Record<string, string> = {};
  for (const name of REQUIRED_MEMBERS[kty]) members[name] = String(jwk[name]);
  return members as PublicMembers;
}

/**
 * RFC 7638 JWK thumbprint (SHA-256, base64url): the hash of the required members serialised in
 * lexicographic order without whitespace. Synchronous, unlike jose's calculateJwkThumbprint.
 */
export function jwkThumbprint(members: PublicMembers): string {
  // Every value is base64url or a fixed name, so JSON.stringify adds no escapes or spaces.
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}
