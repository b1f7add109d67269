import { type Clock, epochSeconds, systemClock } from '@gatehouse/core';
import { type GatehouseEndpoint, postForm } from './gatehouse-endpoint.js';

/** The claims a revocation check looks at. */
export interface RevocableClaims {
  jti?: unknown;
  sid?: unknown;
  sub?: unknown;
  client_id?: unknown;
  iat?: unknown;
}

/** Options of a {@link RevocationFeed}. */
export interface RevocationFeedOptions {
  /** How often the log is read; default 1000 ms. */
  intervalMs?: number;
  /** Past this many seconds without a successful read, checks throw (fail-closed); default 5. */
  maxStalenessSeconds?: number;
  /** Go on with what is known when the feed is stale, instead of refusing; default false. */
  failOpen?: boolean;
  clock?: Clock;
}

/** What a record of Gatehouse's revocation log says. */
interface FeedRecord {
  seq: number;
  kind: 'jti' | 'sid' | 'sub' | 'client';
  value: string;
  not_before: number;
  exp: number;
}

/**
 * This service's copy of the revocation fabric: token ids, sessions, and subject and client
 * watermarks, read from Gatehouse's log (`/oauth2/revocation-feed`) once a second and kept
 * until each entry's token would have expired anyway. The service's client needs the
 * `gatehouse:introspect` scope. Fail-closed by default: when the log cannot be read for longer
 * than `maxStalenessSeconds`, {@link isRevoked} throws, and the middleware answers 503.
 */
export class RevocationFeed {
  readonly #endpoint: GatehouseEndpoint;
  readonly #intervalMs: number;
  readonly #maxStalenessMs: number;
  readonly #failOpen: boolean;
  readonly #clock: Clock;
  readonly #ids = { jti: new Map<string, number>(), sid: new Map<string, number>() };
  /** Watermarks: tokens issued before `notBefore` are revoked; the entry goes at `exp`. */
  readonly #watermarks = {
    sub: new Map<string, { notBefore: number; exp: number }>(),
    client: new Map<string, { notBefore: number; exp: number }>(),
  };
  #after = 0;
  #lastReadMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<void> | undefined;

  constructor(endpoint: GatehouseEndpoint, options: RevocationFeedOptions = {}) {
    this.#endpoint = endpoint;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#maxStalenessMs = (options.maxStalenessSeconds ?? 5) * 1000;
    this.#failOpen = options.failOpen ?? false;
    this.#clock = options.clock ?? systemClock;
  }

  /** Reads the whole live log, then keeps reading; resolves once checks can be answered. */
  async start(): Promise<void> {
    await this.read();
    this.#timer = setInterval(() => {
      this.read().catch(() => undefined); // staleness shows in isRevoked
    }, this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  /** Seconds since the log was last read (Infinity before the first read). */
  staleness(): number {
    return this.#lastReadMs === 0
      ? Number.POSITIVE_INFINITY
      : (this.#clock.nowMs() - this.#lastReadMs) / 1000;
  }

  /** Reads what is new in the log; one read at a time. */
  read(): Promise<void> {
    this.#reading ??= (async () => {
      try {
        for (;;) {
          const { status, body } = await postForm(this.#endpoint, '/oauth2/revocation-feed', {
            after: String(this.#after),
          });
          if (status !== 200)
            throw new Error(`the revocation feed answered ${status} ${String(body.error ?? '')}`);
          for (const record of body.records as FeedRecord[]) this.#apply(record);
          this.#after = Math.max(this.#after, Number(body.next));
          if (body.more !== true) break;
        }
        this.#lastReadMs = this.#clock.nowMs();
        this.#purge();
      } finally {
        this.#reading = undefined;
      }
    })();
    return this.#reading;
  }

  /**
   * Whether a token is revoked: by id, by session, or issued before a subject or client
   * watermark. Throws when the copy is too old to answer and the feed is fail-closed.
   */
  isRevoked(claims: RevocableClaims): boolean {
    if (!this.#failOpen && this.staleness() * 1000 > this.#maxStalenessMs) {
      throw new Error('the revocation feed is stale');
    }
    const now = epochSeconds(this.#clock);
    const iat = typeof claims.iat === 'number' ? claims.iat : 0;
    const live = (map: Map<string, number>, key: unknown) =>
      typeof key === 'string' && (map.get(key) ?? -1) >= now;
    const before = (map: Map<string, { notBefore: number }>, key: unknown) =>
      typeof key === 'string' && iat < (map.get(key)?.notBefore ?? Number.NEGATIVE_INFINITY);
    return (
      live(this.#ids.jti, claims.jti) ||
      live(this.#ids.sid, claims.sid) ||
      before(this.#watermarks.sub, claims.sub) ||
      before(this.#watermarks.client, claims.client_id)
    );
  }

  #apply(record: FeedRecord): void {
    if (record.kind === 'sub' || record.kind === 'client') {
      const map = this.#watermarks[record.kind];
      const held = map.get(record.value);
      map.set(record.value, {
        notBefore: Math.max(held?.notBefore ?? 0, record.not_before),
        exp: Math.max(held?.exp ?? 0, record.exp),
      });
      return;
    }
    if (record.kind === 'jti' || record.kind === 'sid') this.#ids[record.kind].set(record.value, record.exp);
  }

  #purge(): void {
    const now = epochSeconds(this.#clock);
    for (const map of Object.values(this.#ids)) for (const [k, exp] of map) if (exp < now) map.delete(k);
    for (const map of Object.values(this.#watermarks)) {
      for (const [k, mark] of map) if (mark.exp < now) map.delete(k);
    }
  }
}
