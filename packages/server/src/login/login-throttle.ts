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
 * cache (so it holds across instances with Redis). Failures count in a fixed window; reaching
 * `maxAttempts` locks the key for `lockout` seconds, doubling with each lockout (up to
 * `maxLockout`). Unknown accounts are counted like real ones, so a lockout tells nothing about
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

  /** Counts a failure against every key; returns the lock now in force (seconds), 0 when none. */
  async fail(keys: readonly string[]): Promise<number> {
    let locked = 0;
    for (const key of keys) {
      const failures = await this.#cache.increment(`${key}:fails`, 1, this.#options.window);
      if (failures < this.#options.maxAttempts) continue;
      const strikes = await this.#cache.increment(`${key}:strikes`, 1, STRIKE_MEMORY_SECONDS);
      const seconds = Math.min(this.#options.lockout * 2 ** (strikes - 1), this.#options.maxLockout);
      await this.#cache.set(`${key}:lock`, '1', seconds);
      await this.#cache.delete(`${key}:fails`);
      locked = Math.max(locked, seconds);
    }
    return locked;
  }

  /** A success clears the account's failure count (not the IP's, nor earlier strikes). */
  async succeed(accountKey: string): Promise<void> {
    await this.#cache.delete(`${accountKey}:fails`);
  }
}

function digest(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url').slice(0, 22);
}
