import { type Cache, type Clock, GatehouseError, systemClock } from '@gatehouse/core';
import { assertOptionalTtl, assertStep, assertTtl, assertWindowIndex } from './cache-support.js';

/** Options of {@link createMemoryCache}. */
export interface MemoryCacheOptions {
  /** Source of time for TTLs; tests pass a ManualClock. */
  clock?: Clock;
  /** How often expired entries are swept even if nobody reads them; default 60 s. */
  sweepIntervalMs?: number;
}

/** The in-process cache, with `sweep()` exposed so tests and operators can force cleanup. */
export interface MemoryCache extends Cache {
  /** Removes every expired entry now; returns how many. */
  sweep(): number;
  /** Live entries (expired ones not yet swept are not counted). */
  size(): number;
}

type Entry =
  | { type: 'string'; value: string; expiresAtMs: number | null }
  | { type: 'set'; members: Set<string>; expiresAtMs: number | null }
  // A sliding window's two counts in one entry: one lookup per hit (see windowHit).
  | { type: 'window'; index: number; current: number; previous: number; expiresAtMs: number | null };

/**
 * The single-process Cache. Expiry is lazy (checked on every read) plus a periodic sweep so
 * keys nobody reads again do not pile up; the sweep timer is unref'd and never keeps the
 * process alive. Operations are synchronous inside, hence atomic within the process.
 *
 * @example
 * ```ts
 * const cache = createMemoryCache({ clock: new ManualClock() });
 * await cache.increment('rl:client-a', 1, 60);
 * ```
 */
export function createMemoryCache(options: MemoryCacheOptions = {}): MemoryCache {
  const clock = options.clock ?? systemClock;
  const entries = new Map<string, Entry>();

  const isExpired = (entry: Entry, nowMs: number) => entry.expiresAtMs !== null && entry.expiresAtMs <= nowMs;
  const expiry = (ttlSeconds: number | undefined, nowMs = clock.nowMs()) =>
    ttlSeconds === undefined ? null : nowMs + ttlSeconds * 1000;

  /** The live entry for a key, dropping it first when it has expired. */
  function live(key: string, nowMs = clock.nowMs()): Entry | undefined {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    if (isExpired(entry, nowMs)) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  }

  function liveOf<T extends Entry['type']>(
    key: string,
    type: T,
    nowMs?: number,
  ): Extract<Entry, { type: T }> | undefined {
    const entry = live(key, nowMs);
    if (entry === undefined) return undefined;
    // Same contract as Redis: a key holds one kind of value and misuse is an error, not a miss.
    if (entry.type !== type) {
      throw new GatehouseError('ERR_INTERNAL', `cache key holds a ${entry.type}, not a ${type}`);
    }
    return entry as Extract<Entry, { type: T }>;
  }

  function sweep(): number {
    const now = clock.nowMs();
    let removed = 0;
    for (const [key, entry] of entries) {
      if (isExpired(entry, now)) {
        entries.delete(key);
        removed++;
      }
    }
    return removed;
  }

  const timer = setInterval(sweep, options.sweepIntervalMs ?? 60_000);
  timer.unref();

  return {
    kind: 'memory',
    async get(key) {
      return liveOf(key, 'string')?.value ?? null;
    },
    async set(key, value, ttlSeconds) {
      assertOptionalTtl(ttlSeconds);
      entries.set(key, { type: 'string', value, expiresAtMs: expiry(ttlSeconds) });
    },
    async setIfAbsent(key, value, ttlSeconds) {
      assertTtl(ttlSeconds);
      if (live(key) !== undefined) return false;
      entries.set(key, { type: 'string', value, expiresAtMs: expiry(ttlSeconds) });
      return true;
    },
    async delete(key) {
      return live(key) !== undefined && entries.delete(key);
    },
    async increment(key, by, ttlSeconds) {
      assertStep(by);
      assertTtl(ttlSeconds);
      const entry = liveOf(key, 'string');
      if (entry === undefined) {
        entries.set(key, { type: 'string', value: String(by), expiresAtMs: expiry(ttlSeconds) });
        return by;
      }
      const current = Number(entry.value);
      if (!/^-?\d+$/.test(entry.value) || !Number.isSafeInteger(current)) {
        throw new GatehouseError('ERR_INTERNAL', 'cache value is not an integer');
      }
      entry.value = String(current + by);
      return current + by;
    },
    // Answers at once, without a promise: the gateway's rate limit asks on every request.
    windowHit(key, index, windowSeconds) {
      assertWindowIndex(index);
      assertTtl(windowSeconds);
      // One clock read for both the expiry check and the new expiry (this runs on every request).
      const nowMs = clock.nowMs();
      const entry = liveOf(key, 'window', nowMs);
      // As on Redis: a window's count lives two windows from its first hit (the next one reads it).
      const expiresAtMs = expiry(windowSeconds * 2, nowMs);
      if (entry === undefined || entry.index < index - 1) {
        entries.set(key, { type: 'window', index, current: 1, previous: 0, expiresAtMs });
        return { current: 1, previous: 0 };
      }
      if (entry.index === index - 1) {
        entry.previous = entry.current;
        entry.current = 0;
        entry.index = index;
        entry.expiresAtMs = expiresAtMs;
      }
      // (entry.index > index: a caller stamped just before the window turned; counted in the new one.)
      entry.current++;
      return { current: entry.current, previous: entry.previous };
    },
    async ttl(key) {
      const entry = live(key);
      if (entry === undefined || entry.expiresAtMs === null) return null;
      // Round up: a key with 300 ms left still exists, so it must not report 0.
      return Math.ceil((entry.expiresAtMs - clock.nowMs()) / 1000);
    },
    async setAdd(key, members, ttlSeconds) {
      assertOptionalTtl(ttlSeconds);
      // Nothing to add changes nothing, TTL included (Redis' SADD needs a member anyway).
      if (members.length === 0) return 0;
      let entry = liveOf(key, 'set');
      if (entry === undefined) {
        entry = { type: 'set', members: new Set(), expiresAtMs: null };
        entries.set(key, entry);
      }
      const before = entry.members.size;
      for (const member of members) entry.members.add(member);
      if (ttlSeconds !== undefined) entry.expiresAtMs = expiry(ttlSeconds);
      return entry.members.size - before;
    },
    async setRemove(key, members) {
      const entry = liveOf(key, 'set');
      if (entry === undefined) return 0;
      let removed = 0;
      for (const member of members) if (entry.members.delete(member)) removed++;
      // Redis deletes an emptied set; do the same so `ttl`/`get` agree across adapters.
      if (entry.members.size === 0) entries.delete(key);
      return removed;
    },
    async setHas(key, member) {
      return liveOf(key, 'set')?.members.has(member) ?? false;
    },
    async setMembers(key) {
      return [...(liveOf(key, 'set')?.members ?? [])];
    },
    async ping() {},
    async close() {
      clearInterval(timer);
      entries.clear();
    },
    sweep,
    size() {
      sweep();
      return entries.size;
    },
  };
}
