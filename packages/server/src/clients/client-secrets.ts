import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 32 random bytes: 256 bits, as the issue and RFC 6749 §10.10 ask of generated credentials. */
const SECRET_BYTES = 32;
const DIGEST_PREFIX = 'sha256:';

/**
 * Generates a client secret. Secrets are random and high-entropy, so a fast SHA-256 digest is
 * the right storage: a slow password hash would only cap the token endpoint's throughput.
 */
export function generateClientSecret(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

/** `sha256:<base64url>` digest of a secret, the only form Gatehouse stores. */
export function digestSecret(secret: string): string {
  return DIGEST_PREFIX + createHash('sha256').update(secret, 'utf8').digest('base64url');
}

// Compared when the client is unknown, so that both paths do the same work.
const DECOY_DIGEST = digestSecret(generateClientSecret());

/**
 * Checks a presented secret against a stored digest in constant time. With `stored` undefined
 * (unknown client) it still hashes and compares, then answers false.
 */
export function secretMatches(presented: string, stored: string | undefined): boolean {
  const expected = Buffer.from(stored ?? DECOY_DIGEST, 'utf8');
  const actual = Buffer.from(digestSecret(presented), 'utf8');
  const same = expected.length === actual.length && timingSafeEqual(expected, actual);
  return same && stored !== undefined;
}
