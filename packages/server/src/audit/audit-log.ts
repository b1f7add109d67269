import { type AuditRecord, type Clock, GatehouseError, type Store } from '@gatehouse/core';
import type { Logger } from 'pino';
import { canonicalJson, chainEntries } from './audit-chain.js';

/** What a caller records; time, numbering and chaining are the log's job. */
export interface AuditEvent {
  actor: string;
  action: string;
  target?: string | null;
  outcome?: 'success' | 'failure';
  /** Never a secret, token or password: only ids, scopes, reasons. */
  details?: Record<string, unknown>;
}

interface Pending {
  event: AuditEvent;
  at: number;
  resolve: (record: AuditRecord) => void;
  reject: (error: unknown) => void;
}

const MAX_BATCH = 500;
/** Longest a note waits for company before it is written alone. */
export const NOTE_DELAY_MS = 100;
const ignore = () => {};
const closedError = () =>
  new GatehouseError('ERR_STORE_UNAVAILABLE', 'the audit log is closed (shutting down)', { status: 503 });
const MAX_ATTEMPTS = 8;

/**
 * The append-only audit log. `record()` resolves once the entry is durable, so callers answer
 * only after it is written. Entries that arrive while a write is in flight are committed
 * together in the next transaction (group commit): one round trip for many requests, so the
 * log keeps up with the token endpoint. `note()` is for entries no caller waits for; they wait up
 * to NOTE_DELAY_MS for company. Another instance appending first makes our seq collide
 * on the primary key; we re-read the head and chain again, so the chain never forks.
 */
export class AuditLog {
  readonly #store: Store;
  readonly #key: Buffer;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #queue: Pending[] = [];
  #head: { seq: number; hash: string } | undefined | null = null;
  #flushing = false;
  #closed = false;
  /** The flush in flight or last run (close() waits for it). */
  #flushed: Promise<void> | undefined;
  /** Pending write of notes alone (see note()). */
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: { store: Store; key: Buffer; clock: Clock; logger: Logger }) {
    this.#store = deps.store;
    this.#key = deps.key;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
  }

  record(event: AuditEvent): Promise<AuditRecord> {
    if (this.#closed) return Promise.reject(closedError());
    return new Promise((resolve, reject) => {
      this.#queue.push({ event, at: this.#clock.nowMs(), resolve, reject });
      this.#schedule(true);
    });
  }

  /**
   * An entry no caller waits for (a sampled allow): it joins the next commit, or is written
   * within {@link NOTE_DELAY_MS} when no other entry comes. Batching these saves a transaction
   * per sampled request; a write that fails is logged like any other.
   */
  note(event: AuditEvent): void {
    if (this.#closed) {
      // A request finishing during shutdown: its store is gone, so the entry cannot be kept.
      this.#logger.warn({ action: event.action, target: event.target }, 'audit log closed: entry dropped');
      return;
    }
    this.#queue.push({ event, at: this.#clock.nowMs(), resolve: ignore, reject: ignore });
    this.#schedule(false);
  }

  /**
   * Writes what is queued (notes included) and waits for any write in flight; afterwards
   * `record()` fails with ERR_STORE_UNAVAILABLE and `note()` drops its entry with a warning.
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (!this.#flushing && this.#queue.length > 0) this.#startFlush(false);
    await this.#flushed;
  }

  #schedule(urgent: boolean): void {
    // A running flush drains the queue, this entry included.
    if (this.#flushing) return;
    // Urgent: wait for the rest of this event-loop turn, so every request handled in it joins one commit.
    if (urgent) this.#startFlush(true);
    else this.#timer ??= setTimeout(() => this.#startFlush(false), NOTE_DELAY_MS);
  }

  /**
   * Starts the flush that drains the queue, at once or after this event-loop turn. It is the flush
   * in flight from this moment, so close() waits for it even before it runs.
   */
  #startFlush(afterThisTurn: boolean): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#flushing) return;
    this.#flushing = true;
    this.#flushed = afterThisTurn
      ? new Promise((resolve) => setImmediate(() => resolve(this.#flush())))
      : this.#flush();
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, MAX_BATCH);
        try {
          const records = await this.#write(batch);
          batch.forEach((pending, i) => {
            pending.resolve(records[i] as AuditRecord);
          });
        } catch (err) {
          this.#logger.error({ err }, 'audit entries could not be written');
          for (const pending of batch) pending.reject(err);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  async #write(batch: Pending[]): Promise<AuditRecord[]> {
    const entries = batch.map(({ event, at }) => ({
      at,
      actor: event.actor,
      action: event.action,
      target: event.target ?? null,
      outcome: event.outcome ?? ('success' as const),
      details: canonicalJson(event.details ?? {}),
    }));
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (this.#head === null) {
        const head = await this.#store.audit.head();
        this.#head = head ? { seq: head.seq, hash: head.hash } : undefined;
      }
      const records = chainEntries(this.#key, this.#head, entries);
      try {
        await this.#store.audit.append(records);
        const last = records[records.length - 1] as AuditRecord;
        this.#head = { seq: last.seq, hash: last.hash };
        return records;
      } catch (err) {
        this.#head = null;
        if (!(err instanceof GatehouseError && err.code === 'ERR_STORE_CONFLICT')) throw err;
      }
    }
    throw new GatehouseError('ERR_STORE_UNAVAILABLE', 'audit log: too much contention appending entries', {
      status: 503,
    });
  }
}
