import { generateKeyPairSync, type KeyPairKeyObjectResult } from 'node:crypto';
import { jwkThumbprint, publicMembers } from './internal/jwk-members.js';
import type { PublicJwk, SigningAlgorithm, SigningKey } from './types.js';

/** RSA size for new keys: above the 2048-bit floor, as NIST SP 800-57 advises for use past 2030. */
export const GENERATED_RSA_BITS = 3072;

/**
 * Generates a signing key and its public JWK. `kid` is the RFC 7638 SHA-256 thumbprint, so the
 * same key always gets the same kid and the kid always fits the verifier's kid syntax.
 *
 * @example
 * ```ts
 * const { signingKey, publicJwk } = generateSigningKey('ES256');
 * const keys = KeySet.fromJwks({ keys: [publicJwk] });
 * ```
 */
export function generateSigningKey(alg: SigningAlgorithm): { signingKey: SigningKey; publicJwk: PublicJwk } {
  const { privateKey, publicKey } = generatePair(alg);
  const members = publicMembers(publicKey);
  const kid = jwkThumbprint(members);
  return {
    signingKey: Object.freeze({ kid, alg, privateKey }),
    publicJwk: { ...members, kid, alg, use: 'sig' },
  };
}

function generatePair(alg: SigningAlgorithm): KeyPairKeyObjectResult {
  switch (alg) {
    case 'ES256':
      return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    case 'RS256':
      return generateKeyPairSync('rsa', { modulusLength: GENERATED_RSA_BITS, publicExponent: 0x10001 });
    case 'EdDSA':
      return generateKeyPairSync('ed25519');
    default:
      throw new TypeError(`cannot generate keys for ${String(alg)}`);
  }
}
