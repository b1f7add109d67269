import { JwtError } from '../errors.js';
import type { RemoteKeySet } from './remote-key-set.js';
import type { VerifiedJwt, VerifyOptions } from './types.js';
import { verifyJwt } from './verify.js';

/**
 * {@link verifyJwt} against a {@link RemoteKeySet}. A token whose kid is unknown (or arrives
 * before the first fetch, or after the set went stale) triggers one rate-limited refresh and one
 * retry, so key rotation at the issuer needs no restart. If there is still no usable set the
 * error is ERR_JWKS_UNAVAILABLE rather than ERR_JWT_KEY_UNKNOWN, so an outage is not mistaken
 * for a bad token.
 *
 * @example
 * ```ts
 * const { payload } = await verifyJwtWithRemote(token, remoteKeys, options);
 * ```
 */
export async function verifyJwtWithRemote(
  token: string,
  keys: RemoteKeySet,
  options: VerifyOptions,
): Promise<VerifiedJwt> {
  try {
    return verifyJwt(token, keys, options);
  } catch (error) {
    if (!isUnknownKey(error)) throw error;
  }
  await keys.refresh('unknown-kid');
  try {
    return verifyJwt(token, keys, options);
  } catch (error) {
    if (isUnknownKey(error) && keys.status().stale) {
      throw new JwtError('ERR_JWKS_UNAVAILABLE', 'signing keys are unavailable', error);
    }
    throw error;
  }
}

function isUnknownKey(error: unknown): boolean {
  return error instanceof JwtError && error.code === 'ERR_JWT_KEY_UNKNOWN';
}
