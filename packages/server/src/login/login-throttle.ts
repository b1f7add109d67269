import { createHash } from 'node:crypto';
import type { Cache } from '@gatehouse/core';

export interface LoginThrottleOptions {
  /** Failures allowed per key within `window` before a lockout. */
  maxAttempts: number;
  /** Seconds the failure count runs over. */
  window: number;
  /** First lockout, seconds; each further lockout within a day doubles it. */
  lockout: number;
  maxLockout: number;
}

/** How long strikes are remembered: a lockout a day later starts from `lockout` again. */
const STRIKE_MEMORY_SECONDS = 86_400;

/**
 * Brute-force protection for password logins, per account and per client IP, in the shared
 * cache (so it holds across instances with Redis). Attempts count in a fixed window (reserved
 * before the password check, given back on success); reaching `maxAttempts` failures locks the
 * key for `lockout` seconds, doubling with each lockout (up to `maxLockout`). Unknown accounts are counted like real ones, so a lockout tells nothing about
 * whether an account exists. Keys hold a digest, never the username.
 */
export class LoginThrottle {
  readonly #cache: Cache;
  readonly #options: LoginThrottleOptions;

  constructor(cache: Cache, options: LoginThrottleOptions) {
    this.#cache = cache;
    this.#options = options;
  }

  /** The keys one attempt counts against. */
  keysFor(usernameKey: string, ip: string): string[] {
    return [`login:acct:${digest(usernameKey)}`, `login:ip:${digest(ip)}`];
  }

  /** Seconds until the longest lock among `keys` ends; 0 when none is locked. */
  async lockedFor(keys: readonly string[]): Promise<number> {
    let longest = 0;
    for (const key of keys) {
      const ttl = await this.#cache.ttl(`${key}:lock`);
      if (ttl !== null && ttl > longest) longest = ttl;
    }
    return longest;
  }

  /**
   * Reserves one attempt against every key before the password is checked, so parallel requests
   * cannot all slip past the count. The lock is read again after counting; an attempt refused
   * there keeps its count (it was made while a lock stood). Returns the lock in force (seconds;
   * the caller answers 429) or 0 to go ahead; then exactly one of {@link fail} or
   * {@link succeed} must follow.
   */
  async reserve(keys: readonly string[]): Promise<number> {
    const locked = await this.lockedFor(keys);
    if (locked > 0) return locked;
    let over = 0;
    for (const key of keys) {
      const attempts = await this.#cache.increment(`${key}:fails`, 1, this.#options.window);
      if (attempts <= this.#options.maxAttempts) continue;
      // The first request over the limit locks; the ones racing it read that lock.
      over = Math.max(over, attempts === this.#options.maxAttempts + 1 ? await this.#lock(key) : 1);
    }
    // A lock clears the count it ends. A request that read "not locked" before a racing
    // request locked, and counted after that clear, must still see the lock.
    return Math.max(over, await this.lockedFor(keys));
  }

  /** The reserved attempt failed: at the limit, the key is locked. Returns the lock (seconds), 0 when none. */
  async fail(keys: readonly string[]): Promise<number> {
    let locked = 0;
    for (const key of keys) {
      const attempts = Number((await this.#cache.get(`${key}:fails`)) ?? 0);
      if (attempts >= this.#options.maxAttempts) locked = Math.max(locked, await this.#lock(key));
    }
    return locked;
  }

  /** The reserved attempt succeeded: the account's count starts over, the address gets its slot back. */
  async succeed(keys: readonly string[]): Promise<void> {
    const [account, ...others] = keys;
    if (account !== undefined) await this.#cache.delete(`${account}:fails`);
    for (const key of others) await this.#cache.increment(`${key}:fails`, -1, this.#options.window);
  }

  async #lock(key: string): Promise<number> {
    const strikes = await this.#cache.increment(`${key}:strikes`, 1, STRIKE_MEMORY_SECONDS);
    const seconds = Math.min(this.#options.lockout * 2 ** (strikes - 1), this.#options.maxLockout);
    await this.#cache.set(`${key}:lock`, '1', seconds);
    await this.#cache.delete(`${key}:fails`);
    return seconds;
  }
}

function digest(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url').slice(0, 22);
}
