import { constants, createPublicKey, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto';
import { GatehouseError } from '../../errors.js';
import type { JwsAlgorithm, VerificationKey } from '../types.js';
import { EDWARDS_CURVES, isJwsAlgorithm, specOf } from './algorithms.js';
import { bytesToBigInt, rsaModulusWeakness } from './rsa-modulus.js';

/** Below this an RSA key is refused (NIST SP 800-131A). */
export const MIN_RSA_BITS = 2048;
/** Above this an RSA key is refused: verification cost grows with the modulus and nobody needs more. */
export const MAX_RSA_BITS = 8192;

/**
 * A key checked once against its algorithm, with the exact argument `crypto.verify`/`crypto.sign`
 * wants built in advance, so the hot path allocates nothing per token.
 */
export interface PreparedKey {
  readonly alg: JwsAlgorithm;
  readonly key: KeyObject;
  readonly hash: string | null;
  readonly input: KeyObject | VerifyKeyObjectInput;
  /** The only signature length this key can produce (P1363 r||s, RSA modulus size, EdDSA size). */
  readonly signatureBytes: number;
  /** ECDSA: reject r = 0 or s = 0 before crypto (CVE-2022-21449 "psychic signatures"). */
  readonly coordinateBytes: number;
}

const weak = (message: string) => new GatehouseError('ERR_KEY_WEAK', message);
const invalid = (message: string) => new GatehouseError('ERR_KEY_INVALID', message);

/**
 * Checks that `key` is a `type` key usable for `alg` and strong enough; throws GatehouseError
 * ERR_KEY_WEAK / ERR_KEY_INVALID otherwise.
 */
export function prepareKey(alg: JwsAlgorithm, key: KeyObject, type: 'public' | 'private'): PreparedKey {
  if (!isJwsAlgorithm(alg)) throw invalid(`unsupported algorithm ${String(alg)}`);
  if (key?.type !== type) throw invalid(`a ${type} KeyObject is required for ${alg}`);
  const spec = specOf(alg);
  const keyType = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  switch (spec.family) {
    case 'EC': {
      if (keyType !== 'ec' || details.namedCurve !== spec.namedCurve) {
        throw invalid(`${alg} needs an EC key on ${spec.jwkCurve}`);
      }
      const bytes = spec.coordinateBytes!;
      return Object.freeze({
        alg,
        key,
        hash: spec.hash,
        input: Object.freeze({ key, dsaEncoding: 'ieee-p1363' as const }),
        signatureBytes: 2 * bytes,
        coordinateBytes: bytes,
      });
    }
    case 'RSA':
    case 'PSS': {
      if (keyType !== 'rsa') throw invalid(`${alg} needs an RSA key`);
      const bits = details.modulusLength ?? 0;
      const exponent = details.publicExponent ?? 0n;
      if (bits < MIN_RSA_BITS) throw weak(`RSA key of ${bits} bits is below ${MIN_RSA_BITS}`);
      if (bits > MAX_RSA_BITS) throw invalid(`RSA key of ${bits} bits is above ${MAX_RSA_BITS}`);
      if (exponent <= 1n || (exponent & 1n) === 0n)
        throw weak('RSA public exponent must be odd and greater than 1');
      const publicKey = type === 'public' ? key : createPublicKey(key);
      const n = publicKey.export({ format: 'jwk' }).n;
      const weakness = rsaModulusWeakness(bytesToBigInt(Buffer.from(n ?? '', 'base64url')));
      if (weakness) throw weak(weakness);
      return Object.freeze({
        alg,
        key,
        hash: spec.hash,
        input:
          spec.family === 'PSS'
            ? Object.freeze({
                key,
                padding: constants.RSA_PKCS1_PSS_PADDING,
                // RFC 7518 §3.5: the salt is exactly as long as the digest.
                saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
              })
            : key,
        signatureBytes: Math.ceil(bits / 8),
        coordinateBytes: 0,
      });
    }
    case 'OKP': {
      const curve = [...EDWARDS_CURVES.values()].find((c) => c.keyType === keyType);
      if (!curve) throw invalid('EdDSA needs an Ed25519 or Ed448 key');
      return Object.freeze({
        alg,
        key,
        hash: null,
        input: key,
        signatureBytes: curve.signatureBytes,
        coordinateBytes: 0,
      });
    }
  }
}

/** Prepared form of each verification key object, computed on first use. */
const prepared = new WeakMap<VerificationKey, PreparedKey>();

/**
 * The prepared form of a verification key. Keys from {@link KeySet} are prepared at import, so
 * this is one WeakMap hit on the hot path; a key from a custom resolver is checked on first use.
 * Re-checked when a mutable caller object has changed `alg` or `key` since.
 */
export function preparedVerificationKey(vk: VerificationKey): PreparedKey {
  const hit = prepared.get(vk);
  if (hit !== undefined && hit.alg === vk.alg && hit.key === vk.key) return hit;
  const fresh = prepareKey(vk.alg, vk.key, 'public');
  prepared.set(vk, fresh);
  return fresh;
}
