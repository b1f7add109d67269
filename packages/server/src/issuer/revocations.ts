import {
  type Bus,
  type Cache,
  type Clock,
  epochSeconds,
  type RevocationKind,
  type RevocationRecord,
  type Store,
} from '@gatehouse/core';
import type { Logger } from 'pino';
import { Gauge, Histogram, type Registry } from 'prom-client';
import { HotCounter } from '../observability/hot-metrics.js';
import { BloomFilter } from '../revocation/bloom-filter.js';
import { makeRoom } from '../internal/bounded-map.js';

interface RevocationMetrics {
  checks: HotCounter<'layer' | 'revoked'>;
  propagation: Histogram;
}

function revocationMetrics(registry: Registry, staleness: () => number): RevocationMetrics {
  const registers = [registry];
  new Gauge({
    name: 'gatehouse_revocation_staleness_seconds',
    help: 'Seconds since this instance last caught up with the durable revocation log (-1 before the first time).',
    registers,
    collect() {
      const value = staleness();
      this.set(Number.isFinite(value) ? value : -1);
    },
  });
  return {
    checks: new HotCounter({
      name: 'gatehouse_revocation_checks_total',
      help: 'Revocation checks by the layer that answered (watermark, recent, bloom, shared, log, local_only) and the answer.',
      labelNames: ['layer', 'revoked'],
      registers,
    }),
    propagation: new Histogram({
      name: 'gatehouse_revocation_propagation_seconds',
      help: 'Time from a revocation at one instance to its arrival here over the bus.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
  };
}

export const TOKEN_REVOKED_TOPIC = 'token.revoked';

/**
 * Bound of each exact map of recent revocations (token ids, session ids); past it the oldest go
 * (the Bloom filter stays).
 */
const RECENT_ENTRIES = 100_000;
/** How often each instance compares its position with the durable log's head. */
const RESYNC_MS = 1_000;
const PAGE = 10_000;

export interface RevocationOptions {
  /** Revoked ids the Bloom filter is sized for (at most 0.1 % false positives when full). */
  expectedEntries?: number;
  /** Past this many seconds without a successful resync, a Bloom "no" is no longer final. */
  maxStalenessSeconds?: number;
  /** Longest token lifetime: how long a subject or client watermark must be kept. */
  maxTokenLifetime?: number;
}

/**
 * What a check does when this instance cannot be sure: `fail_closed` asks the durable log and
 * refuses (503) when that cannot answer either; `fail_open` goes on with what it knows here.
 */
export type RevocationFailureMode = 'fail_closed' | 'fail_open';

/** Shared-store keys of revoked ids: `gh:rev:jti:<id>`, `gh:rev:sid:<id>`. */
const SHARED_PREFIX = 'gh:rev:';

type Layer = 'watermark' | 'recent' | 'bloom' | 'shared' | 'log' | 'local_only';

/** The claims a revocation check looks at. */
export interface RevocableClaims {
  jti: string;
  sid?: string | undefined;
  sub?: string | undefined;
  client_id?: string | undefined;
  iat?: number | undefined;
}

/** Where this instance stands against the durable log (readiness, metrics). */
export interface RevocationStatus {
  synced: boolean;
  appliedSeq: number;
  /** Seconds since the last successful resync. */
  staleness: number;
}

/**
 * The revocation fabric. A revocation is acknowledged only once it is in the durable log, then
 * applied here and published; every instance applies what it hears and, once a second (and at
 * once on a gap in the sequence numbers), reads what it missed from the log, which is also what
 * it loads at start before it reports ready. The bus only makes it fast: it may lose messages.
 *
 * The check, one function for the issuer, the gateway and introspection: subject and client
 * watermarks ("everything issued before T", one entry for any number of tokens) → the exact map
 * of recent revocations → the Bloom filter of revoked token and session ids, whose "no" is final
 * while this instance is in sync → the shared store (Redis), whose "yes" is final → the durable
 * log for a "maybe", or when this instance is not in sync. The shared store is only an
 * accelerator: Redis may lose acknowledged writes, so its "no" is never taken as final.
 */
export class Revocations {
  readonly #store: Store;
  readonly #bus: Bus;
  readonly #shared: Cache | undefined;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #bloom: BloomFilter;
  readonly #maxStalenessMs: number;
  readonly #maxTokenLifetime: number;
  readonly #expected: number;
  /** Revoked token and session ids by kind, each until its exp: raw ids, so a lookup builds no key. */
  readonly #recent = { jti: new Map<string, number>(), sid: new Map<string, number>() };
  readonly #watermarks = { sub: new Map<string, number>(), client: new Map<string, number>() };
  #applied = 0;
  #synced = false;
  #lastSyncMs = 0;
  #resyncing: Promise<void> | undefined;
  #unsubscribe: (() => Promise<void>) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #ticks = 0;
  #busUp = true;
  #missedPushes = false;

  readonly #metrics: RevocationMetrics | undefined;

  constructor(
    deps: {
      store: Store;
      bus: Bus;
      /** The shared store; an in-process cache adds nothing over the maps here and is ignored. */
      cache?: Cache;
      clock: Clock;
      logger: Logger;
      registry?: Registry;
    },
    options: RevocationOptions = {},
  ) {
    this.#metrics = deps.registry
      ? revocationMetrics(deps.registry, () => this.status().staleness)
      : undefined;
    this.#store = deps.store;
    this.#bus = deps.bus;
    this.#shared = deps.cache && deps.cache.kind !== 'memory' ? deps.cache : undefined;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#expected = options.expectedEntries ?? 1_000_000;
    // Sized for 0.09 %: at capacity the measured rate scatters around the design point with the
    // random seeds (0.093–0.103 % over runs at 10 M), and 0.1 % is the promise.
    this.#bloom = new BloomFilter(this.#expected, 0.0009);
    this.#maxStalenessMs = (options.maxStalenessSeconds ?? 5) * 1000;
    this.#maxTokenLifetime = options.maxTokenLifetime ?? 86_400;
  }

  /** Subscribes, then loads the whole live log: resolves once this instance may answer. */
  async start(): Promise<void> {
    this.#unsubscribe = await this.#bus.subscribe(TOKEN_REVOKED_TOPIC, (message) => this.#heard(message));
    await this.resync();
    this.#timer = setInterval(() => {
      // While the bus cannot be reached, pushes may be missed: no Bloom "no" is final then.
      this.#bus.ping().then(
        () => {
          this.#busUp = true;
        },
        () => {
          if (this.#busUp) this.#logger.warn('bus unreachable: revocation checks ask the durable log');
          this.#busUp = false;
          this.#missedPushes = true;
        },
      );
      this.resync().catch((err: unknown) => this.#logger.warn({ err }, 'revocation resync failed'));
      if (++this.#ticks % 60 === 0) this.#purge();
    }, RESYNC_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#unsubscribe?.();
  }

  status(): RevocationStatus {
    return {
      synced: this.#synced,
      appliedSeq: this.#applied,
      staleness:
        this.#lastSyncMs === 0 ? Number.POSITIVE_INFINITY : (this.#clock.nowMs() - this.#lastSyncMs) / 1000,
    };
  }

  /** Size of the Bloom filter and the ids in it (metrics, capacity planning). */
  filterStats(): { bytes: number; entries: number; sizedFor: number } {
    return { bytes: this.#bloom.byteLength, entries: this.#bloom.count, sizedFor: this.#expected };
  }

  /** Revokes a token id until `exp`. */
  revoke(jti: string, exp: number): Promise<RevocationRecord> {
    return this.#revoke('jti', jti, 0, exp);
  }

  /** Revokes every token minted from a session (refresh family) until `exp`. */
  revokeSession(sid: string, exp: number): Promise<RevocationRecord> {
    return this.#revoke('sid', sid, 0, exp);
  }

  /**
   * Revokes everything of a subject (or a client) issued up to now, with one entry whatever the
   * number of tokens: a token is revoked when its `iat` is before the watermark. The watermark
   * is the next second, so a token from this very second is caught too (iat has whole seconds).
   */
  revokeAllOf(kind: 'sub' | 'client', value: string): Promise<RevocationRecord> {
    const notBefore = epochSeconds(this.#clock) + 1;
    return this.#revoke(kind, value, notBefore, notBefore + this.#maxTokenLifetime);
  }

  /**
   * Whether a token is revoked: by id, by its session, or by a subject or client watermark.
   * Answered synchronously when memory can (nearly always: no promise on the request path), as a
   * promise when a store must be asked; that promise rejects with ERR_STORE_UNAVAILABLE (503) in
   * `fail_closed` mode when it cannot be sure. Callers may `await` either.
   */
  isTokenRevoked(
    claims: RevocableClaims,
    mode: RevocationFailureMode = 'fail_closed',
  ): boolean | Promise<boolean> {
    return this.#revokedLocally(claims, mode) ?? this.#askStores(claims, mode);
  }

  /**
   * The answer from this instance's memory alone (watermarks, recent revocations, a final Bloom
   * "no"), or undefined when a store must be asked.
   */
  #revokedLocally(claims: RevocableClaims, mode: RevocationFailureMode): boolean | undefined {
    const iat = claims.iat ?? 0;
    const { sub, client } = this.#watermarks;
    if (claims.sub !== undefined && iat < (sub.get(claims.sub) ?? 0)) return this.#answer('watermark', true);
    if (claims.client_id !== undefined && iat < (client.get(claims.client_id) ?? 0)) {
      return this.#answer('watermark', true);
    }
    const now = epochSeconds(this.#clock);
    const { jti, sid } = claims;
    const recent = this.#recent;
    if ((recent.jti.get(jti) ?? 0) >= now || (sid !== undefined && (recent.sid.get(sid) ?? 0) >= now)) {
      return this.#answer('recent', true);
    }
    if (
      !this.#bloom.mightContain(jti, 'jti:') &&
      (sid === undefined || !this.#bloom.mightContain(sid, 'sid:')) &&
      (mode === 'fail_open' || this.#fresh())
    ) {
      return this.#answer('bloom', false);
    }
    return undefined;
  }

  /** A Bloom "maybe", or knowledge too old to trust a "no": the shared store may say yes at once. */
  async #askStores(claims: RevocableClaims, mode: RevocationFailureMode): Promise<boolean> {
    const now = epochSeconds(this.#clock);
    const jti = `jti:${claims.jti}`;
    const sid = claims.sid === undefined ? undefined : `sid:${claims.sid}`;
    const jtiMaybe = this.#bloom.mightContain(claims.jti, 'jti:');
    const sidMaybe = claims.sid !== undefined && this.#bloom.mightContain(claims.sid, 'sid:');
    const trusted = this.#fresh();
    const askJti = jtiMaybe || !trusted;
    const askSid = sid !== undefined && (sidMaybe || !trusted);
    if ((askJti && (await this.#sharedHas(jti))) || (askSid && (await this.#sharedHas(sid)))) {
      return this.#answer('shared', true);
    }
    // Only the durable log can say no.
    try {
      if (askJti && (await this.#store.revocationLog.find('jti', claims.jti, now))) {
        return this.#answer('log', true);
      }
      if (askSid && (await this.#store.revocationLog.find('sid', claims.sid as string, now))) {
        return this.#answer('log', true);
      }
      return this.#answer('log', false);
    } catch (err) {
      if (mode === 'fail_closed') throw err;
      // Fail-open with what this instance knows: a Bloom "maybe" is still refused.
      return this.#answer('local_only', jtiMaybe || sidMaybe);
    }
  }

  /** Whether the shared store holds the revocation; unreachable counts as "don't know". */
  async #sharedHas(key: string): Promise<boolean> {
    // Down: an accelerator is skipped, not waited for (a command would sit out a reconnect).
    if (!this.#shared || this.#shared.connected?.() === false) return false;
    try {
      return (await this.#shared.get(SHARED_PREFIX + key)) !== null;
    } catch {
      return false;
    }
  }

  /** Counts which layer answered: a check of every request, so counted in place (HotCounter). */
  #answer(layer: Layer, revoked: boolean): boolean {
    this.#metrics?.checks.child(layer, revoked ? 'true' : 'false').inc();
    return revoked;
  }

  /**
   * A page of the log past sequence number `after` (the feed services read): its live records,
   * the number to ask from next, and whether more follow.
   */
  async page(
    after: number,
    limit: number,
  ): Promise<{ records: RevocationRecord[]; next: number; more: boolean }> {
    const now = epochSeconds(this.#clock);
    const page = await this.#store.revocationLog.since(after, limit);
    return {
      records: page.filter((r) => r.exp >= now),
      next: page.at(-1)?.seq ?? after,
      more: page.length === limit,
    };
  }

  /** Whether a token id is revoked (tokens without further claims). */
  isRevoked(jti: string): boolean | Promise<boolean> {
    return this.isTokenRevoked({ jti });
  }

  /** Reads what this instance missed from the durable log; one at a time. */
  resync(): Promise<void> {
    this.#resyncing ??= (async () => {
      const live = this.#bus.connected?.() !== false && this.#busUp;
      try {
        for (;;) {
          const page = await this.#store.revocationLog.since(this.#applied, PAGE);
          for (const record of page) this.#apply(record);
          if (page.length < PAGE) break;
        }
        this.#synced = true;
        this.#lastSyncMs = this.#clock.nowMs();
        if (live) this.#missedPushes = false;
      } finally {
        this.#resyncing = undefined;
      }
    })();
    return this.#resyncing;
  }

  async #revoke(
    kind: RevocationKind,
    value: string,
    notBefore: number,
    exp: number,
  ): Promise<RevocationRecord> {
    // Durable first: only then is the revocation acknowledged.
    const record = await this.#store.revocationLog.append({
      kind,
      value,
      notBefore,
      exp,
      createdAt: epochSeconds(this.#clock),
    });
    this.#place(record);
    if (this.#shared && this.#shared.connected?.() !== false && (kind === 'jti' || kind === 'sid')) {
      const ttl = Math.max(1, exp - epochSeconds(this.#clock));
      await this.#shared.set(`${SHARED_PREFIX}${kind}:${value}`, '1', ttl).catch((err: unknown) => {
        this.#logger.warn({ err }, 'could not write a revocation to the shared store; the log has it');
      });
    }
    const message = {
      at_ms: this.#clock.nowMs(),
      seq: record.seq,
      kind,
      value,
      not_before: notBefore,
      exp,
      ...(kind === 'jti' && { jti: value }),
    };
    await this.#bus.publish(TOKEN_REVOKED_TOPIC, message).catch((err: unknown) => {
      this.#logger.warn({ err }, 'could not publish a revocation; other instances read it from the log');
    });
    return record;
  }

  #heard(message: Record<string, unknown>): void {
    const { seq, kind, value, not_before: notBefore, exp } = message;
    if (
      typeof seq !== 'number' ||
      typeof value !== 'string' ||
      typeof notBefore !== 'number' ||
      typeof exp !== 'number' ||
      !['jti', 'sid', 'sub', 'client'].includes(kind as string)
    ) {
      return;
    }
    this.#place({ seq, kind: kind as RevocationKind, value, notBefore, exp, createdAt: 0 });
    if (typeof message.at_ms === 'number') {
      this.#metrics?.propagation.observe(Math.max(0, this.#clock.nowMs() - message.at_ms) / 1000);
    }
  }

  /** Applies a record heard out of band; a jump in the numbering means something was missed. */
  #place(record: RevocationRecord): void {
    const gap = record.seq > this.#applied + 1;
    this.#mark(record);
    if (!gap) {
      this.#applied = Math.max(this.#applied, record.seq);
      return;
    }
    this.resync().catch((err: unknown) => this.#logger.warn({ err }, 'revocation resync after a gap failed'));
  }

  #apply(record: RevocationRecord): void {
    this.#mark(record);
    this.#applied = Math.max(this.#applied, record.seq);
  }

  /** Records a revocation in memory (idempotent: applying twice changes nothing). */
  #mark(record: RevocationRecord): void {
    if (record.kind === 'sub' || record.kind === 'client') {
      const map = this.#watermarks[record.kind];
      map.set(record.value, Math.max(map.get(record.value) ?? 0, record.notBefore));
      return;
    }
    this.#bloom.add(record.value, `${record.kind}:`);
    const recent = this.#recent[record.kind];
    makeRoom(recent, RECENT_ENTRIES);
    recent.set(record.value, record.exp);
  }

  #fresh(): boolean {
    // Pushes sent while the connection was down are lost: after an outage, trust again only once
    // a resync begun on a live connection has read the log.
    if (this.#bus.connected?.() === false) {
      this.#missedPushes = true;
      return false;
    }
    return (
      this.#busUp &&
      !this.#missedPushes &&
      this.#synced &&
      this.#clock.nowMs() - this.#lastSyncMs <= this.#maxStalenessMs
    );
  }

  #purge(): void {
    const now = epochSeconds(this.#clock);
    for (const recent of Object.values(this.#recent)) {
      for (const [id, exp] of recent) if (exp < now) recent.delete(id);
    }
    // A watermark older than every token it could catch has done its work. (Bloom bits are not
    // removed; the filter is rebuilt from the log at the next start.)
    for (const map of Object.values(this.#watermarks)) {
      for (const [value, notBefore] of map) if (notBefore + this.#maxTokenLifetime < now) map.delete(value);
    }
    this.#store.revocationLog
      .purgeExpired(now)
      .catch((err: unknown) => this.#logger.warn({ err }, 'purging expired revocations failed'));
    this.#store.tokens
      .purgeExpired(now)
      .catch((err: unknown) => this.#logger.warn({ err }, 'purging expired tokens failed'));
  }
}
