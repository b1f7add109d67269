import { randomFillSync } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { type Clock, epochSeconds, RandomIds, type SigningKey, signJwtAsync } from '@gatehouse/core';
import type { Identity } from './identity.js';
import { makeRoom } from '../../internal/bounded-map.js';
import type { MaybePromise } from '../../internal/maybe-async.js';

import { INTERNAL_TOKEN_TYP } from '../../issuer/access-tokens.js';

export { INTERNAL_TOKEN_TYP };

/** Prefixes and names in the internal namespace: only the gateway may set them. */
const INTERNAL_PREFIXES = ['x-gatehouse-', 'x-user-'] as const;
const INTERNAL_NAMES = ['x-internal-token'];

/** RFC 9110 §7.6.1 hop-by-hop fields, never forwarded in either direction. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The internal names plus the configured extras, lower-cased: built once, used per request. */
export function internalHeaderNames(extra: readonly string[]): ReadonlySet<string> {
  return new Set([...INTERNAL_NAMES, ...extra.map((h) => h.toLowerCase())]);
}

/**
 * Removes every client-sent header in the internal namespace (and the configured extras, see
 * {@link internalHeaderNames}) before anything reads the request, so no stage and no upstream
 * ever sees a spoofed one. Returns how many were removed (for the audit of the attempt).
 */
export function stripInternalHeaders(headers: IncomingHttpHeaders, named: ReadonlySet<string>): number {
  let removed = 0;
  for (const name in headers) {
    if (named.has(name) || name.startsWith(INTERNAL_PREFIXES[0]) || name.startsWith(INTERNAL_PREFIXES[1])) {
      delete headers[name];
      removed++;
    }
  }
  return removed;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A valid incoming X-Request-ID, or a new one (a random UUID). */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const incoming = headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : newRequestId();
}

// Written into one buffer like the traceparent below, for the same reason: crypto.randomUUID()
// joins 16 hex pairs into a rope, which undici's header check then flattens in V8's runtime.
const uuid = Buffer.from('00000000-0000-4000-8000-000000000000', 'latin1');

/** A random (version 4, RFC 9562) UUID as one flat string. */
export function newRequestId(): string {
  randomHexInto(uuid, 0, 4);
  randomHexInto(uuid, 9, 2);
  randomHexInto(uuid, 14, 2);
  randomHexInto(uuid, 19, 2);
  randomHexInto(uuid, 24, 6);
  uuid[14] = VERSION_4;
  // The variant (binary 10xx): the random digit's two low bits kept under 8.
  const digit = uuid[19] as number;
  uuid[19] = HEX_DIGITS[8 | ((digit <= NINE ? digit - ZERO : digit - LETTER_A + 10) & 3)] as number;
  return uuid.toString('latin1');
}

const VERSION_4 = 0x34; // '4'
const ZERO = 0x30;
const NINE = 0x39;
const LETTER_A = 0x61;

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ALL_ZEROS = /^0+$/;

/**
 * W3C Trace Context: continue a valid incoming trace with the gateway's own span as the new
 * parent, or start a new sampled trace. An invalid header is replaced, never passed on.
 */
export function traceparentOf(headers: IncomingHttpHeaders): string {
  const incoming = headers.traceparent;
  const match = typeof incoming === 'string' ? TRACEPARENT.exec(incoming) : null;
  if (match) {
    const [, version, traceId, parent, flags] = match as unknown as [string, string, string, string, string];
    if (version !== 'ff' && !ALL_ZEROS.test(traceId) && !ALL_ZEROS.test(parent))
      return traceparentLine(traceId, flags);
  }
  return traceparentLine(undefined, '01');
}

// `00-<trace id>-<span id>-<flags>` written into one buffer and read out as one flat string: a
// concatenation is a rope, and undici's check of each header value (a RegExp) flattens a rope
// through V8's runtime, a measurable share of a proxied request.
const line = Buffer.from('00-00000000000000000000000000000000-0000000000000000-00', 'latin1');

/** A traceparent with `traceId` (32 hex digits; a new random one when undefined), a new span id and `flags`. */
function traceparentLine(traceId: string | undefined, flags: string): string {
  if (traceId === undefined) randomHexInto(line, 3, 16);
  else line.write(traceId, 3, 32, 'latin1');
  randomHexInto(line, 36, 8);
  line.write(flags, 53, 2, 'latin1');
  return line.toString('latin1');
}

// Trace and span ids from a pre-filled buffer: two randomBytes calls per request were 11 % of the
// gateway's time in a profile. Ids need to be unique, not secret; the bytes still come from the CSPRNG.
const pool = Buffer.alloc(8192);
let offset = pool.length;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/** Writes `bytes` random bytes as lower-case hex into `target` at `at`. */
function randomHexInto(target: Buffer, at: number, bytes: number): void {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  for (let i = 0; i < bytes; i++) {
    const byte = pool[offset + i] as number;
    target[at + 2 * i] = HEX_DIGITS[byte >> 4] as number;
    target[at + 2 * i + 1] = HEX_DIGITS[byte & 15] as number;
  }
  offset += bytes;
}

/** A flat copy of `text` (latin1): one sequential string, not a rope of concatenations. */
function flat(text: string): string {
  return Buffer.from(text, 'latin1').toString('latin1');
}

/** An internal token and the Authorization value that carries it upstream, made once and kept together. */
export interface InternalToken {
  readonly token: string;
  /**
   * `Bearer <token>`, one flat string reused on every hit: a concatenation made per request would
   * be a rope, which undici's check of the header value flattens through V8's runtime.
   */
  readonly authorization: string;
}

/**
 * Mints the short-lived internal token an upstream receives instead of the client's credential:
 * aud = the route's service, whatever credential the client used (JWT, opaque token, API key),
 * signed with the issuer's current key (published in its JWKS). A token is reused for the same
 * identity and service — the same claims it would carry, so the upstream cannot tell — while more
 * than half its life remains, never past the presented credential's own `exp` and never minted
 * before that credential's `iat`, so a user's
 * many calls (and a client's fresh tokens) sign once per half-TTL instead of once per request.
 */
export class InternalTokens {
  readonly #issuer: string;
  readonly #ttl: number;
  readonly #clock: Clock;
  readonly #signingKey: () => SigningKey;
  readonly #ids = new RandomIds();
  readonly #cache = new Map<string, { minted: InternalToken; iat: number; exp: number }>();
  /**
   * The cache key of an identity object per service (a verified-token cache hit reuses the same
   * object), kept so that a hit builds and hashes no string: the same key object each time.
   */
  readonly #keys = new WeakMap<Identity, Map<string, string>>();

  constructor(options: { issuer: string; ttl: number; clock: Clock; signingKey: () => SigningKey }) {
    this.#issuer = options.issuer;
    this.#ttl = options.ttl;
    this.#clock = options.clock;
    this.#signingKey = options.signingKey;
  }

  /** The internal token for `identity` at `service`: at once when one is kept, else once signed. */
  mint(identity: Identity, service: string): MaybePromise<InternalToken> {
    const now = epochSeconds(this.#clock);
    const upstreamExp = typeof identity.claims.exp === 'number' ? identity.claims.exp : now + this.#ttl;
    const key = this.#keyOf(identity, service);
    const hit = this.#cache.get(key);
    // Never minted before the presented credential: after a subject or client watermark, the
    // identity's new token must not be answered with an internal token the watermark revokes.
    const credentialIat = typeof identity.claims.iat === 'number' ? identity.claims.iat : 0;
    if (hit && hit.exp - now > this.#ttl / 2 && hit.exp <= upstreamExp && hit.iat >= credentialIat) {
      return hit.minted;
    }
    return this.#sign(identity, service, key, now, Math.min(now + this.#ttl, upstreamExp));
  }

  async #sign(
    identity: Identity,
    service: string,
    key: string,
    now: number,
    exp: number,
  ): Promise<InternalToken> {
    const claims: Record<string, unknown> = {
      iss: this.#issuer,
      sub: identity.sub,
      aud: service,
      iat: now,
      exp,
      jti: this.#ids.next(16),
    };
    if (identity.scopes.length > 0) claims.scope = identity.scopes.join(' ');
    if (identity.roles.length > 0) claims.roles = identity.roles;
    if (identity.clientId !== undefined) claims.client_id = identity.clientId;
    if (identity.act !== undefined) claims.act = identity.act;
    if (identity.sid !== undefined) claims.sid = identity.sid;
    claims.gh_credential = identity.credential;
    // Another IdP's user: its sub is that IdP's, not one of ours. Marked, so the issuer never
    // takes this token as the subject of a token exchange.
    if (identity.issuer !== undefined && identity.issuer !== this.#issuer) claims.src_iss = identity.issuer;
    const token = await signJwtAsync({ typ: INTERNAL_TOKEN_TYP }, claims, this.#signingKey());
    const minted: InternalToken = { token, authorization: flat(`Bearer ${token}`) };
    makeRoom(this.#cache, 10_000);
    this.#cache.set(key, { minted, iat: now, exp });
    return minted;
  }

  /** The service and everything of the identity the token carries; one key, equal tokens. */
  #keyOf(identity: Identity, service: string): string {
    let byService = this.#keys.get(identity);
    if (byService === undefined) {
      byService = new Map();
      this.#keys.set(identity, byService);
    }
    let key = byService.get(service);
    if (key === undefined) {
      key = `${service}\u0000${JSON.stringify([
        identity.credential,
        identity.issuer ?? null,
        identity.sub,
        identity.clientId ?? null,
        identity.scopes,
        identity.roles,
        identity.sid ?? null,
        identity.act ?? null,
      ])}`;
      byService.set(service, key);
    }
    return key;
  }
}
