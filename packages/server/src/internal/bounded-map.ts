/**
 * Makes room in an insertion-ordered Map kept to at most `limit` entries by dropping the oldest
 * tenth at once. Dropping one entry at a time from the front leaves deleted slots that every
 * later `keys().next()` walks over, which turns steady churn (unique tokens, millions of
 * revocations at start) quadratic; a batch walks them once.
 */
export function makeRoom<K, V>(map: Map<K, V>, limit: number): void {
  if (map.size < limit) return;
  let evict = Math.max(1, Math.ceil(limit / 10));
  for (const key of map.keys()) {
    map.delete(key);
    if (--evict <= 0) break;
  }
}

/**
 * The value under `key`, made once by `make`: for metric children bound to a label set and other
 * small, bounded memo tables.
 */
export function boundChild<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}
