import type { JwsAlgorithm } from '../types.js';

/** How one JWS algorithm maps onto node:crypto and which key may carry it. */
export interface AlgorithmSpec {
  readonly family: 'EC' | 'RSA' | 'PSS' | 'OKP';
  /** Digest name for `crypto.verify`; `null` for EdDSA, whose digest is part of the scheme. */
  readonly hash: string | null;
  /** ECDSA only: the node curve name and the byte size of one coordinate (r, s, x, y). */
  readonly namedCurve?: string;
  readonly jwkCurve?: string;
  readonly coordinateBytes?: number;
}

const ec = (hash: string, namedCurve: string, jwkCurve: string, coordinateBytes: number): AlgorithmSpec => ({
  family: 'EC',
  hash,
  namedCurve,
  jwkCurve,
  coordinateBytes,
});

/**
 * Every algorithm we accept. A Map rather than an object literal so a header `alg` such as
 * `"__proto__"` or `"toString"` can never hit an inherited member.
 */
export const ALGORITHMS: ReadonlyMap<string, AlgorithmSpec> = new Map<JwsAlgorithm, AlgorithmSpec>([
  ['ES256', ec('sha256', 'prime256v1', 'P-256', 32)],
  ['ES384', ec('sha384', 'secp384r1', 'P-384', 48)],
  ['ES512', ec('sha512', 'secp521r1', 'P-521', 66)],
  ['RS256', { family: 'RSA', hash: 'sha256' }],
  ['RS384', { family: 'RSA', hash: 'sha384' }],
  ['RS512', { family: 'RSA', hash: 'sha512' }],
  ['PS256', { family: 'PSS', hash: 'sha256' }],
  ['PS384', { family: 'PSS', hash: 'sha384' }],
  ['PS512', { family: 'PSS', hash: 'sha512' }],
  ['EdDSA', { family: 'OKP', hash: null }],
]);

/** Ed25519 / Ed448: JWK `crv`, node key type, public key bytes and signature bytes. */
export const EDWARDS_CURVES: ReadonlyMap<
  string,
  { keyType: string; keyBytes: number; signatureBytes: number }
> = new Map([
  ['Ed25519', { keyType: 'ed25519', keyBytes: 32, signatureBytes: 64 }],
  ['Ed448', { keyType: 'ed448', keyBytes: 57, signatureBytes: 114 }],
]);

/** Narrows an untrusted value to a supported algorithm name. */
export function isJwsAlgorithm(value: unknown): value is JwsAlgorithm {
  return typeof value === 'string' && ALGORITHMS.has(value);
}

/** Looks up a supported algorithm; callers have narrowed with {@link isJwsAlgorithm} first. */
export function specOf(alg: JwsAlgorithm): AlgorithmSpec {
  return ALGORITHMS.get(alg)!;
}

/**
 * The only `kid` syntax we accept: an exact-lookup token, never a path, URL, query or SQL
 * fragment. No `/`, `\\`, quotes, `;`, spaces or controls; `@ + = : ~` are allowed because real
 * issuers use them (RFC 7520's "bilbo.baggins@hobbiton.example", base64 thumbprints with `=`).
 * Anchored and bounded so it cannot backtrack.
 */
export const KID_PATTERN = /^[A-Za-z0-9._~@+=:-]{1,128}$/;

/** {@link KID_PATTERN} as people read it, for error messages. */
export const KID_SYNTAX = '1–128 of A–Z a–z 0–9 . _ ~ @ + = : -';
