/**
 * Argument checks shared by every Cache adapter, so a bad TTL fails the same way in tests (memory)
 * as in production (Redis, which would reject it with its own error text).
 */

/** TTLs are whole seconds, at least 1: Redis rejects 0 and would round fractions. */
export function assertTtl(ttlSeconds: number): void {
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new RangeError(`cache TTL must be a whole number of seconds >= 1, got ${ttlSeconds}`);
  }
}

/** Counter steps are integers, as INCRBY requires. */
export function assertStep(by: number): void {
  if (!Number.isSafeInteger(by)) throw new RangeError(`cache increment must be an integer, got ${by}`);
}

/** Checks an optional TTL; undefined means "no expiry". */
export function assertOptionalTtl(ttlSeconds: number | undefined): void {
  if (ttlSeconds !== undefined) assertTtl(ttlSeconds);
}

/** A window index is a whole, non-negative number (time / window length, floored). */
export function assertWindowIndex(index: number): void {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new RangeError(`window index must be a whole number >= 0, got ${index}`);
  }
}
