/**
 * A bounded map of recent decisions. Keys carry the policy-set version and the entities'
 * versions, so a new version simply stops matching old entries; nothing has to be flushed.
 * Eviction drops the oldest tenth at once (cheap under steady churn).
 */
export class DecisionCache<V> {
  readonly #entries = new Map<string, V>();
  readonly #limit: number;

  /** `limit` 0 disables caching. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  get(key: string): V | undefined {
    return this.#entries.get(key);
  }

  set(key: string, value: V): void {
    if (this.#limit === 0) return;
    if (this.#entries.size >= this.#limit) {
      let evict = Math.max(1, Math.ceil(this.#limit / 10));
      for (const old of this.#entries.keys()) {
        this.#entries.delete(old);
        if (--evict <= 0) break;
      }
    }
    this.#entries.set(key, value);
  }

  get size(): number {
    return this.#entries.size;
  }
}
