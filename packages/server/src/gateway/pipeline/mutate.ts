import { randomFillSync, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { type Clock, epochSeconds, RandomIds, type SigningKey, signJwtAsync } from '@gatehouse/core';
import type { Identity } from './identity.js';
import { makeRoom } from '../../internal/bounded-map.js';

/** `typ` of the internal token: an upstream never mistakes it for a client's access token. */
export const INTERNAL_TOKEN_TYP = 'gatehouse-internal+jwt';

/** Prefixes and names in the internal namespace: only the gateway may set them. */
const INTERNAL_PREFIXES = ['x-gatehouse-', 'x-user-'];
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

/**
 * Removes every client-sent header in the internal namespace (and the configured extras) before
 * anything reads the request, so no stage and no upstream ever sees a spoofed one. Returns how
 * many were removed (for the audit of the attempt).
 */
export function stripInternalHeaders(headers: IncomingHttpHeaders, extra: readonly string[]): number {
  const named = new Set([...INTERNAL_NAMES, ...extra.map((h) => h.toLowerCase())]);
  let removed = 0;
  for (const name of Object.keys(headers)) {
    if (named.has(name) || INTERNAL_PREFIXES.some((p) => name.startsWith(p))) {
      delete headers[name];
      removed++;
    }
  }
  return removed;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A valid incoming X-Request-ID, or a new one. */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const incoming = headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * W3C Trace Context: continue a valid incoming trace with the gateway's own span as the new
 * parent, or start a new sampled trace. An invalid header is replaced, never passed on.
 */
export function traceparentOf(headers: IncomingHttpHeaders): string {
  const span = randomHex(8);
  const incoming = headers.traceparent;
  const match = typeof incoming === 'string' ? TRACEPARENT.exec(incoming) : null;
  if (match) {
    const [, version, traceId, parent, flags] = match as unknown as [string, string, string, string, string];
    if (version !== 'ff' && !/^0+$/.test(traceId) && !/^0+$/.test(parent))
      return `00-${traceId}-${span}-${flags}`;
  }
  return `00-${randomHex(16)}-${span}-01`;
}

// Trace and span ids from a pre-filled buffer: two randomBytes calls per request were 11 % of the
// gateway's time in a profile. Ids need to be unique, not secret; the bytes still come from the CSPRNG.
const pool = Buffer.alloc(8192);
let offset = pool.length;

function randomHex(bytes: number): string {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}

/**
 * Mints the short-lived internal token an upstream receives instead of the client's credential:
 * aud = the route's service, whatever credential the client used (JWT, opaque token, API key),
 * signed with the issuer's current key (published in its JWKS). Tokens are reused for the same
 * credential and service while more than half their life remains, so repeated calls sign once.
 */
export class InternalTokens {
  readonly #issuer: string;
  readonly #ttl: number;
  readonly #clock: Clock;
  readonly #signingKey: () => SigningKey;
  readonly #ids = new RandomIds();
  readonly #cache = new Map<string, { token: string; exp: number }>();

  constructor(options: { issuer: string; ttl: number; clock: Clock; signingKey: () => SigningKey }) {
    this.#issuer = options.issuer;
    this.#ttl = options.ttl;
    this.#clock = options.clock;
    this.#signingKey = options.signingKey;
  }

  /** The internal token for `identity` at `service`; `cacheKey` identifies the credential exactly. */
  async mint(identity: Identity, service: string, cacheKey: string | undefined): Promise<string> {
    const now = epochSeconds(this.#clock);
    const key = cacheKey === undefined ? undefined : `${service}\u0000${cacheKey}`;
    const hit = key === undefined ? undefined : this.#cache.get(key);
    if (hit && hit.exp - now > this.#ttl / 2) return hit.token;
    const upstreamExp = typeof identity.claims.exp === 'number' ? identity.claims.exp : now + this.#ttl;
    const exp = Math.min(now + this.#ttl, upstreamExp);
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
    const token = await signJwtAsync({ typ: INTERNAL_TOKEN_TYP }, claims, this.#signingKey());
    if (key !== undefined) {
      makeRoom(this.#cache, 10_000);
      this.#cache.set(key, { token, exp });
    }
    return token;
  }
}
