import { createHash } from 'node:crypto';
import type { Cache, Clock, RateLimitConfig, WindowCounts } from '@gatehouse/core';
import { andThen, type MaybePromise } from '../../internal/maybe-async.js';
import type { Identity } from './identity.js';
import { makeRoom } from '../../internal/bounded-map.js';

/** A limiter's verdict, with what the `RateLimit-*` and `Retry-After` headers say. */
export interface RateVerdict {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the current window ends. */
  reset: number;
  /** Seconds to wait before a retry can succeed (when refused). */
  retryAfter: number;
}

/**
 * Sliding-window rate limits in the shared cache: the current fixed window's count plus the
 * previous window's, weighted by how much of it still overlaps the sliding window. One atomic
 * step of the cache counts and reads both (in memory on the embedded default, one Redis script
 * when shared), so a limit holds across every gateway instance. Refused requests count too:
 * hammering does not pay.
 */
export class RateLimiter {
  readonly #cache: Cache;
  readonly #clock: Clock;

  constructor(cache: Cache, clock: Clock) {
    this.#cache = cache;
    this.#clock = clock;
  }

  /** Counts one hit on `key`; answers at once when the cache does (the in-memory one). */
  hit(key: string, limit: number, window: number): MaybePromise<RateVerdict> {
    const now = this.#clock.nowMs() / 1000;
    const index = Math.floor(now / window);
    const elapsed = now - index * window;
    return andThen(this.#cache.windowHit(`rl:${key}`, index, window), (counts) =>
      verdictOf(counts, limit, window, elapsed),
    );
  }
}

/** The sliding-window verdict from the two windows' counts, `elapsed` seconds into the current one. */
function verdictOf(
  { current, previous }: WindowCounts,
  limit: number,
  window: number,
  elapsed: number,
): RateVerdict {
  const weight = 1 - elapsed / window;
  const estimate = previous * weight + current;
  const reset = Math.max(1, Math.ceil(window - elapsed));
  if (estimate <= limit) {
    return {
      allowed: true,
      limit,
      remaining: Math.max(0, Math.floor(limit - estimate)),
      reset,
      retryAfter: 0,
    };
  }
  // When does the previous window's share decay enough? Past this window, only `current` counts.
  const wait =
    current >= limit || previous === 0
      ? window - elapsed
      : window * (1 - (limit - current) / previous) - elapsed;
  return { allowed: false, limit, remaining: 0, reset, retryAfter: Math.max(1, Math.ceil(wait)) };
}

/**
 * What a route's limit counts per. A verified claim that is absent falls back to the client
 * address, so leaving it out never escapes the limit. Values are hashed: no user id or address
 * is written into the shared cache.
 */
export function rateKey(
  routeId: string,
  config: RateLimitConfig,
  identity: Identity,
  clientIp: string,
): string {
  const kept = byIdentity.get(identity)?.get(config);
  if (kept !== undefined && kept.routeId === routeId) return kept.key;
  const own = identityValue(config, identity);
  const key = digestKey(routeId, own ?? `ip:${clientIp}`);
  if (own !== undefined) {
    let byLimit = byIdentity.get(identity);
    if (byLimit === undefined) {
      byLimit = new Map();
      byIdentity.set(identity, byLimit);
    }
    byLimit.set(config, { routeId, key });
  }
  return key;
}

/**
 * Keys the identity alone decides, per identity object and route limit: a verified-token cache
 * hit passes the same identity object, so a repeated caller's key is found without a string
 * built and hashed per request. Address-counted keys are not kept (one identity, many addresses).
 */
const byIdentity = new WeakMap<Identity, Map<RateLimitConfig, { routeId: string; key: string }>>();

/** `routeId:` and a digest of what is counted, made once per counted value. */
function digestKey(routeId: string, value: string): string {
  const counted = `${routeId}\u0000${value}`;
  // Digests by what is counted, not by identity object: a client's every fresh token (a new
  // identity object each) and a user's repeated one all reuse the digest.
  let key = digests.get(counted);
  if (key === undefined) {
    key = `${routeId}:${createHash('sha256').update(value).digest('base64url').slice(0, 22)}`;
    makeRoom(digests, DIGESTS_KEPT);
    digests.set(counted, key);
  }
  return key;
}

const digests = new Map<string, string>();
const DIGESTS_KEPT = 10_000;

/** What a request is counted by when the identity decides it; undefined: by the client address. */
function identityValue(config: RateLimitConfig, identity: Identity): string | undefined {
  switch (config.key) {
    case 'ip':
      return undefined;
    case 'sub':
      return identity.credential === 'anonymous' ? undefined : `sub:${identity.sub}`;
    case 'client':
      return identity.clientId === undefined ? undefined : `client:${identity.clientId}`;
    case 'api_key':
      return identity.apiKeyId === undefined ? undefined : `key:${identity.apiKeyId}`;
    default: {
      const claim = identity.claims[config.key.slice('claim:'.length)];
      return typeof claim === 'string' || typeof claim === 'number' ? `${config.key}:${claim}` : undefined;
    }
  }
}
