import { type Bus, type Clock, epochSeconds, type Store } from '@gatehouse/core';
import type { Logger } from 'pino';

export const TOKEN_REVOKED_TOPIC = 'token.revoked';

const SESSION_PREFIX = 'sid:';

/** Bound of the local map: past it the oldest entries go, and the store answers for them. */
const LOCAL_ENTRIES = 100_000;

/**
 * Revoked token ids. The durable store is the truth and is written before a revocation is
 * acknowledged; a local map answers repeat checks without a round trip, and the bus tells the
 * other instances at once. (The full fabric — watermarks, bloom filter, shared cache — builds on this.)
 */
export class Revocations {
  readonly #store: Store;
  readonly #bus: Bus;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #local = new Map<string, number>();
  #unsubscribe: (() => Promise<void>) | undefined;
  #sweep: NodeJS.Timeout | undefined;

  constructor(deps: { store: Store; bus: Bus; clock: Clock; logger: Logger }) {
    this.#store = deps.store;
    this.#bus = deps.bus;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
  }

  async start(): Promise<void> {
    this.#unsubscribe = await this.#bus.subscribe(TOKEN_REVOKED_TOPIC, (message) => {
      if (typeof message.jti === 'string' && typeof message.exp === 'number')
        this.#remember(message.jti, message.exp);
    });
    this.#sweep = setInterval(() => this.#purge(), 60_000);
    this.#sweep.unref();
  }

  async stop(): Promise<void> {
    if (this.#sweep) clearInterval(this.#sweep);
    await this.#unsubscribe?.();
  }

  /** Revokes a token id until `exp`; durable before it resolves, then announced. */
  async revoke(jti: string, exp: number): Promise<void> {
    await this.#store.tokens.revoke({ jti, exp, revokedAt: epochSeconds(this.#clock) });
    this.#remember(jti, exp);
    await this.#bus.publish(TOKEN_REVOKED_TOPIC, { jti, exp }).catch((err: unknown) => {
      this.#logger.warn({ err }, 'could not publish revocation; other instances read it from the store');
    });
  }

  /**
   * Revokes every token minted from a session (refresh family) until `exp`, the moment the last
   * of them expires. Kept beside token ids under a `sid:` key (a jti never contains ':').
   */
  revokeSession(sid: string, exp: number): Promise<void> {
    return this.revoke(SESSION_PREFIX + sid, exp);
  }

  /** Whether a token's own id or its session is revoked. */
  async isTokenRevoked(claims: { jti: string; sid?: string | undefined }): Promise<boolean> {
    if (await this.isRevoked(claims.jti)) return true;
    return claims.sid !== undefined && this.isRevoked(SESSION_PREFIX + claims.sid);
  }

  async isRevoked(jti: string): Promise<boolean> {
    if (this.#local.has(jti)) return true;
    return this.#store.tokens.isRevoked(jti);
  }

  #remember(jti: string, exp: number): void {
    if (this.#local.size >= LOCAL_ENTRIES) {
      const oldest = this.#local.keys().next();
      if (!oldest.done) this.#local.delete(oldest.value);
    }
    this.#local.set(jti, exp);
  }

  #purge(): void {
    const now = epochSeconds(this.#clock);
    for (const [jti, exp] of this.#local) if (exp <= now) this.#local.delete(jti);
    this.#store.tokens
      .purgeExpired(now)
      .catch((err: unknown) => this.#logger.warn({ err }, 'purging expired tokens failed'));
  }
}
