/** Hits in the current fixed window and in the one before it (see {@link Cache.windowHit}). */
export interface WindowCounts {
  current: number;
  previous: number;
}

/**
 * The shared ephemeral state port: TTL keys, atomic counters and sets. Values are strings;
 * callers serialize. TTLs are in seconds. Implementations must be safe across processes
 * when the adapter is shared (Redis) and within one process for the in-memory adapter.
 */
export interface Cache {
  readonly kind: string;
  get(key: string): Promise<string | null>;
  /** Sets a value; without `ttlSeconds` it lives until deleted. */
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /** Sets only when absent; returns true when this call set it. */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  delete(key: string): Promise<boolean>;
  /**
   * Atomically adds `by` to an integer counter and returns the new value. The TTL is applied
   * when the counter is created and left alone afterwards (fixed window semantics).
   */
  increment(key: string, by: number, ttlSeconds: number): Promise<number>;
  /**
   * A sliding-window rate limit's one step: counts a hit in fixed window `index` of `key` (a
   * window is `windowSeconds` long) and returns that window's count with the previous window's,
   * atomically and in one round trip. Each window's count lives two windows. An in-process
   * adapter may answer with the counts themselves instead of a promise (the gateway asks on
   * every request); refused arguments are a RangeError, thrown or rejected.
   */
  windowHit(key: string, index: number, windowSeconds: number): WindowCounts | Promise<WindowCounts>;
  /** Remaining TTL in seconds; null when the key is absent or has no TTL. */
  ttl(key: string): Promise<number | null>;
  /** Adds members to a set; returns how many were new. The TTL, when given, is (re)set. */
  setAdd(key: string, members: string[], ttlSeconds?: number): Promise<number>;
  setRemove(key: string, members: string[]): Promise<number>;
  setHas(key: string, member: string): Promise<boolean>;
  setMembers(key: string): Promise<string[]>;
  ping(): Promise<void>;
  /**
   * False the moment the connection is known to be down (optional: in-process caches are never
   * down), so callers that only want an accelerator can skip it instead of waiting on a retry.
   */
  connected?(): boolean;
  close(): Promise<void>;
}
