import type { KeyObject } from 'node:crypto';
import type { Clock } from '../clock.js';

/**
 * The JWS algorithms Gatehouse verifies. Symmetric (HS*) and `none` are deliberately absent.
 *
 * @example
 * ```ts
 * const allowed: readonly JwsAlgorithm[] = ['ES256', 'EdDSA'];
 * ```
 */
export type JwsAlgorithm =
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'EdDSA';

/**
 * The algorithms Gatehouse signs with.
 *
 * @example
 * ```ts
 * const alg: SigningAlgorithm = 'ES256';
 * ```
 */
export type SigningAlgorithm = 'ES256' | 'RS256' | 'EdDSA';

/**
 * A public key pinned to exactly one algorithm.
 *
 * @example
 * ```ts
 * const key: VerificationKey = { kid: 'k1', alg: 'ES256', key: createPublicKey(pem) };
 * ```
 */
export interface VerificationKey {
  readonly kid: string;
  readonly alg: JwsAlgorithm;
  readonly key: KeyObject;
}

/**
 * Synchronous lookup of a verification key by exact `kid`.
 *
 * @example
 * ```ts
 * const resolver: KeyResolver = { resolve: (kid) => (kid === key.kid ? key : undefined) };
 * ```
 */
export interface KeyResolver {
  resolve(kid: string): VerificationKey | undefined;
}

/**
 * A private key Gatehouse signs with, pinned to one algorithm.
 *
 * @example
 * ```ts
 * const { signingKey } = generateSigningKey('ES256');
 * ```
 */
export interface SigningKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly privateKey: KeyObject;
}

/**
 * A public JWK as Gatehouse publishes it: only public members, always `kid`, `alg` and `use: "sig"`.
 *
 * @example
 * ```ts
 * const jwks = { keys: [publicJwkOf(signingKey)] satisfies PublicJwk[] };
 * ```
 */
export interface PublicJwk {
  kty: 'EC' | 'RSA' | 'OKP';
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
  kid: string;
  alg: JwsAlgorithm;
  use: 'sig';
}

/**
 * A verified JOSE header. `alg` and `kid` are always present because verification requires them.
 *
 * @example
 * ```ts
 * const { header } = verifyJwt(token, keys, options);
 * header.kid; // the key that verified the token
 * ```
 */
export interface JwtHeader {
  readonly alg: JwsAlgorithm;
  readonly kid: string;
  readonly typ?: string;
  readonly [member: string]: unknown;
}

/**
 * A verified claim set. `iss`, `aud`, `exp` and `iat` are always present after {@link verifyJwt}.
 *
 * @example
 * ```ts
 * const { payload } = verifyJwt(token, keys, options);
 * payload.sub; // string | undefined
 * ```
 */
export interface JwtPayload {
  iss: string;
  aud: string | string[];
  exp: number;
  iat: number;
  sub?: string;
  nbf?: number;
  jti?: string;
  [claim: string]: unknown;
}

/**
 * What {@link verifyJwt} checks besides the signature.
 *
 * @example
 * ```ts
 * const options: VerifyOptions = { issuer: 'https://id.example', audience: 'api', typ: 'at+jwt', maxLifetimeSeconds: 3600 };
 * ```
 */
export interface VerifyOptions {
  /** Exact match of the required `iss` claim. */
  issuer: string;
  /**
   * The token's `aud` (string or array) must contain one of these; `aud` is required. A predicate
   * decides for itself: an issuer reading back its own tokens accepts any audience it issued to.
   */
  audience: string | readonly string[] | ((audiences: readonly string[]) => boolean);
  /** Expected header `typ`, compared case-insensitively with an optional `application/` prefix (RFC 8725 §3.11). */
  typ: string;
  /** `exp - iat` must not exceed this; `iat` is required. */
  maxLifetimeSeconds: number;
  /** Tolerance for `exp`, `nbf` and `iat`. Default 60. */
  clockSkewSeconds?: number;
  /** Default {@link systemClock}. */
  clock?: Clock;
  /** Tokens longer than this are refused before anything else. Default 8192. */
  maxTokenBytes?: number;
  /** Optional further restriction; the key's own `alg` is always enforced. */
  algorithms?: readonly JwsAlgorithm[];
}

/**
 * The result of a successful {@link verifyJwt}.
 *
 * @example
 * ```ts
 * const { payload, key } = verifyJwt(token, keys, options);
 * ```
 */
export interface VerifiedJwt {
  header: JwtHeader;
  payload: JwtPayload;
  key: VerificationKey;
}
