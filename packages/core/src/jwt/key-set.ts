import { GatehouseError } from '../errors.js';
import { KID_PATTERN, KID_SYNTAX } from './internal/algorithms.js';
import { preparedVerificationKey } from './internal/prepared-key.js';
import { isJsonObject } from './internal/strict-json.js';
import type { KeyResolver, VerificationKey } from './types.js';
import { verificationKeyFromJwk } from './verification-key-from-jwk.js';

/**
 * An immutable set of verification keys, each pinned to one algorithm, looked up by exact `kid`.
 * Every key is checked once, at construction, so a bad key fails at start and never on a request.
 *
 * @example
 * ```ts
 * const keys = KeySet.fromJwks(JSON.parse(readFileSync('jwks.json', 'utf8')));
 * const { payload } = verifyJwt(token, keys, options);
 * ```
 */
export class KeySet implements KeyResolver {
  readonly #keys: ReadonlyMap<string, VerificationKey>;

  private constructor(keys: readonly VerificationKey[]) {
    const byKid = new Map<string, VerificationKey>();
    for (const key of keys) {
      if (byKid.has(key.kid)) {
        throw new GatehouseError('ERR_KEY_INVALID', `duplicate kid ${JSON.stringify(key.kid)} in key set`);
      }
      byKid.set(key.kid, key);
    }
    this.#keys = byKid;
  }

  /**
   * Imports a JWKS (`{ keys: [...] }`). The whole set is refused if any key is: a set that
   * silently drops keys hides the mistake until the day that key signs something.
   *
   * @example
   * ```ts
   * const keys = KeySet.fromJwks({ keys: [publicJwkOf(signingKey)] });
   * ```
   */
  static fromJwks(jwks: unknown): KeySet {
    if (!isJsonObject(jwks) || !Array.isArray(jwks.keys)) {
      throw new GatehouseError('ERR_KEY_INVALID', 'JWKS must be an object with a "keys" array');
    }
    return new KeySet((jwks.keys as unknown[]).map(verificationKeyFromJwk));
  }

  /**
   * Builds a set from KeyObjects you already hold; the same weak-key policy applies.
   *
   * @example
   * ```ts
   * const keys = KeySet.fromKeys([{ kid: 'k1', alg: 'EdDSA', key: createPublicKey(pem) }]);
   * ```
   */
  static fromKeys(keys: readonly VerificationKey[]): KeySet {
    return new KeySet(
      keys.map((candidate) => {
        if (typeof candidate?.kid !== 'string' || !KID_PATTERN.test(candidate.kid)) {
          throw new GatehouseError('ERR_KEY_INVALID', `kid is required and must be ${KID_SYNTAX}`);
        }
        // A frozen copy: nobody can re-pin the algorithm after the check.
        const key: VerificationKey = Object.freeze({
          kid: candidate.kid,
          alg: candidate.alg,
          key: candidate.key,
        });
        preparedVerificationKey(key);
        return key;
      }),
    );
  }

  /**
   * The key with exactly this `kid`, if any.
   *
   * @example
   * ```ts
   * keys.resolve('k1')?.alg; // 'ES256'
   * ```
   */
  resolve(kid: string): VerificationKey | undefined {
    return this.#keys.get(kid);
  }

  /**
   * Number of keys in the set.
   *
   * @example
   * ```ts
   * if (keys.size === 0) throw new Error('no verification keys');
   * ```
   */
  get size(): number {
    return this.#keys.size;
  }
}
