import { isUtf8 } from 'node:buffer';
import { verify } from 'node:crypto';
import { JwtError } from '../errors.js';
import { isJwsAlgorithm, KID_PATTERN, KID_SYNTAX } from './internal/algorithms.js';
import { decodeCanonicalBase64url } from './internal/base64url.js';
import { type PreparedKey, preparedVerificationKey } from './internal/prepared-key.js';
import { type BatchedVerifier, verifyOnThreadpool } from './batched-verifier.js';
import { isJsonObject, parseStrictJson } from './internal/strict-json.js';
import type { JwsAlgorithm, JwtHeader, KeyResolver, VerificationKey } from './types.js';

/** Default for `maxTokenBytes`. */
export const DEFAULT_MAX_TOKEN_BYTES = 8192;

/** Header members that would make us fetch or trust a key named by the token itself. */
const FORBIDDEN_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const;

/** Options of {@link verifyJwsSignature}. */
export interface JwsVerifyOptions {
  /** Optional further restriction; the key's own `alg` is always enforced. */
  algorithms?: readonly JwsAlgorithm[];
  /** Default 8192. */
  maxTokenBytes?: number;
  /** When set, the header `typ` must match (see {@link typMatches}); checked before any crypto. */
  typ?: string;
}

/** A compact JWS whose header, encoding, key and signature all checked out. */
export interface VerifiedJws {
  header: JwtHeader;
  key: VerificationKey;
  /** The decoded payload bytes; not interpreted here (a JWS payload need not be JSON). */
  payload: Buffer;
}

/**
 * Verifies a compact JWS: everything about the token except what its payload means. Internal
 * building block of {@link verifyJwt}, exposed for the Wycheproof suite, whose payloads are not
 * claim sets.
 *
 * Order is cheapest-first, and no JSON is parsed before all three segments are known canonical:
 * size (before any decoding) → exactly three segments → canonical base64url → strict header JSON
 * → crit / embedded-key headers → alg supported → kid syntax → alg allowed → typ → exact key
 * lookup → alg pinned to the key → exact signature length, non-zero ECDSA r and s → `crypto.verify`.
 *
 * @example
 * ```ts
 * const { header, payload } = verifyJwsSignature(jws, keys, { algorithms: ['ES256'] });
 * ```
 */
export function verifyJwsSignature(
  token: string,
  keys: KeyResolver,
  options: JwsVerifyOptions = {},
): VerifiedJws {
  try {
    return verifyCompact(token, keys, options);
  } catch (cause) {
    throw asJwtError(cause);
  }
}

/** Whatever a decoder, resolver or crypto throws, the caller sees one error type. */
function asJwtError(cause: unknown): JwtError {
  if (cause instanceof JwtError) return cause;
  return new JwtError('ERR_JWT_MALFORMED', 'token could not be verified', cause);
}

/** A compact JWS that passed every check but the signature itself, ready for `crypto.verify`. */
interface CheckedJws extends VerifiedJws {
  signingInput: Buffer;
  signature: Buffer;
  prepared: PreparedKey;
}

/** Every check of {@link verifyJwsSignature} up to the signature, in the documented order. */
function checkCompact(token: string, keys: KeyResolver, options: JwsVerifyOptions): CheckedJws {
  if (typeof token !== 'string') throw new JwtError('ERR_JWT_MALFORMED', 'token must be a string');
  const maxBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
  // UTF-16 length is a lower bound on UTF-8 bytes, 3× an upper bound; count only in between.
  if (
    token.length > maxBytes ||
    (token.length * 3 > maxBytes && Buffer.byteLength(token, 'utf8') > maxBytes)
  ) {
    throw new JwtError('ERR_JWT_TOO_LARGE', `token is larger than ${maxBytes} bytes`);
  }
  const dot1 = token.indexOf('.');
  const dot2 = dot1 < 0 ? -1 : token.indexOf('.', dot1 + 1);
  if (dot2 < 0 || token.indexOf('.', dot2 + 1) >= 0) {
    throw new JwtError('ERR_JWT_MALFORMED', 'a compact JWS has exactly three segments');
  }
  const payload = decodeCanonicalBase64url(token, dot1 + 1, dot2);
  const signature = decodeCanonicalBase64url(token, dot2 + 1, token.length);
  if (payload === undefined || signature === undefined) throw notCanonical();
  const header = headerOf(token, dot1);
  const { alg, kid } = header;
  if (options.algorithms !== undefined && !options.algorithms.includes(alg)) {
    throw new JwtError('ERR_JWT_ALG_NOT_ALLOWED', `alg ${alg} is not allowed here`);
  }
  if (options.typ !== undefined && !typMatches(header.typ, options.typ)) {
    throw new JwtError('ERR_JWT_TYP_INVALID', 'typ header does not match');
  }

  const key = keys.resolve(kid);
  if (key === undefined) throw new JwtError('ERR_JWT_KEY_UNKNOWN', 'no key with this kid');
  let prepared: PreparedKey;
  try {
    prepared = preparedVerificationKey(key);
  } catch (cause) {
    throw new JwtError('ERR_JWT_KEY_UNKNOWN', 'the key registered for this kid is not usable', cause);
  }
  if (prepared.alg !== alg) {
    // The key's own algorithm decides, never the token: no RS/PS, ES/HS or curve confusion.
    throw new JwtError('ERR_JWT_ALG_NOT_ALLOWED', `alg ${alg} is not the algorithm of this key`);
  }

  if (signature.length !== prepared.signatureBytes || zeroScalar(signature, prepared.coordinateBytes)) {
    throw badSignature();
  }
  // The signing input is the ASCII text of the first two segments; latin1 copies it byte for byte.
  const signingInput = Buffer.from(token.slice(0, dot2), 'latin1');
  return { header, key, payload, signingInput, signature, prepared };
}

function verifyCompact(token: string, keys: KeyResolver, options: JwsVerifyOptions): VerifiedJws {
  const checked = checkCompact(token, keys, options);
  let valid: boolean;
  try {
    valid = verify(checked.prepared.hash, checked.signingInput, checked.prepared.input, checked.signature);
  } catch (cause) {
    throw badSignature(cause);
  }
  if (!valid) throw badSignature();
  return verified(checked);
}

/**
 * {@link verifyJwsSignature} with the signature check off the main thread: on libuv's threadpool
 * (`crypto.verify` with a callback), or batched on `verifier`'s workers when one is given. Every
 * other check runs first, synchronously, and fails the same way. For a server whose main thread
 * is its bottleneck: an ES256 verify (~80 µs) then runs on another core.
 */
export function verifyJwsSignatureAsync(
  token: string,
  keys: KeyResolver,
  options: JwsVerifyOptions = {},
  verifier?: BatchedVerifier,
): Promise<VerifiedJws> {
  let checked: CheckedJws;
  try {
    checked = checkCompact(token, keys, options);
  } catch (cause) {
    return Promise.reject(asJwtError(cause));
  }
  const { hash, input } = checked.prepared;
  const { signingInput, signature } = checked;
  const checking = verifier
    ? verifier.verify(hash, signingInput, input, signature)
    : verifyOnThreadpool(hash, signingInput, input, signature);
  return checking.then(
    (valid) => {
      if (!valid) throw badSignature();
      return verified(checked);
    },
    (cause) => {
      throw badSignature(cause);
    },
  );
}

const badSignature = (cause?: unknown) =>
  new JwtError('ERR_JWT_SIGNATURE_INVALID', 'signature verification failed', cause);

function verified({ header, key, payload }: CheckedJws): VerifiedJws {
  return { header, key, payload };
}

/**
 * Headers that passed {@link checkHeader}, by their exact segment text. Issuers send the same
 * header on every token, so this saves the decode and strict parse (~0.7 µs, a few % of an ES256
 * verification) on nearly every call. Safe to share: the entry is a pure function of the text,
 * frozen, and only headers that passed every check are stored. Bounded in entries and entry size
 * and simply cleared when full, so varying headers cost speed, never memory.
 */
const checkedHeaders = new Map<string, JwtHeader>();
const CHECKED_HEADERS_MAX = 256;
const CHECKED_HEADER_MAX_CHARS = 512;

function headerOf(token: string, dot1: number): JwtHeader {
  const segment = token.slice(0, dot1);
  const known = checkedHeaders.get(segment);
  if (known !== undefined) return known;
  const bytes = decodeCanonicalBase64url(segment);
  if (bytes === undefined) throw notCanonical();
  const header = checkHeader(parseJsonObject(bytes, 'header'));
  if (segment.length <= CHECKED_HEADER_MAX_CHARS) {
    if (checkedHeaders.size >= CHECKED_HEADERS_MAX) checkedHeaders.clear();
    checkedHeaders.set(segment, header);
  }
  return header;
}

/** The token-independent header rules: no crit, no embedded keys, a supported alg, a sane kid. */
function checkHeader(header: Record<string, unknown>): JwtHeader {
  if (header.crit !== undefined) {
    throw new JwtError('ERR_JWT_CRIT_UNSUPPORTED', 'no critical header extensions are supported');
  }
  for (const name of FORBIDDEN_HEADERS) {
    if (header[name] !== undefined) {
      throw new JwtError('ERR_JWT_HEADER_FORBIDDEN', `header "${name}" is never trusted`);
    }
  }
  if (!isJwsAlgorithm(header.alg)) {
    throw new JwtError('ERR_JWT_ALG_NOT_ALLOWED', 'alg is not an accepted algorithm');
  }
  if (typeof header.kid !== 'string' || !KID_PATTERN.test(header.kid)) {
    throw new JwtError('ERR_JWT_KID_INVALID', `kid header is required and must be ${KID_SYNTAX}`);
  }
  return deepFreeze(header) as JwtHeader;
}

/** Freezes a parsed JSON value all the way down, so a shared header cannot be altered. */
function deepFreeze(value: object): object {
  for (const item of Object.values(value)) {
    if (typeof item === 'object' && item !== null) deepFreeze(item);
  }
  return Object.freeze(value);
}

const notCanonical = () => new JwtError('ERR_JWT_MALFORMED', 'segments must be canonical unpadded base64url');

/** ECDSA: true when r or s (each `half` bytes of a P1363 signature) is zero. */
function zeroScalar(signature: Buffer, half: number): boolean {
  if (half === 0) return false;
  let r = 0;
  let s = 0;
  for (let i = 0; i < half; i++) {
    r |= signature[i]!;
    s |= signature[half + i]!;
  }
  return r === 0 || s === 0;
}

/**
 * Parses a decoded segment as a strict JSON object (UTF-8 checked, duplicates and
 * prototype-named members refused).
 */
export function parseJsonObject(bytes: Buffer, what: 'header' | 'payload'): Record<string, unknown> {
  if (!isUtf8(bytes)) throw new JwtError('ERR_JWT_MALFORMED', `${what} is not UTF-8`);
  let value: unknown;
  try {
    value = parseStrictJson(bytes.toString('utf8'));
  } catch (cause) {
    throw new JwtError('ERR_JWT_MALFORMED', `${what} is not strict JSON`, cause);
  }
  if (!isJsonObject(value)) throw new JwtError('ERR_JWT_MALFORMED', `${what} must be a JSON object`);
  return value;
}

/**
 * RFC 7515 §4.1.9 / RFC 8725 §3.11: media types compare case-insensitively and the
 * `application/` prefix may be omitted, so `at+jwt` and `application/AT+JWT` are the same type.
 */
export function typMatches(actual: unknown, expected: string): boolean {
  return typeof actual === 'string' && normalizeTyp(actual) === normalizeTyp(expected);
}

function normalizeTyp(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice(12) : lower;
}
