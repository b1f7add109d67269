import { randomBytes } from 'node:crypto';
import type { Clock, DecisionRecord, Store } from '@gatehouse/core';
import type { Logger } from 'pino';
import type { CedarRequest, PolicyDecision } from './policy-engine.js';

/** `Gatehouse::User::"alice"`: how Cedar writes an entity uid, and how the log is filtered. */
export function uidText(uid: { type: string; id: string }): string {
  return `${uid.type}::${JSON.stringify(uid.id)}`;
}

/**
 * Writes decisions to the durable decision log: every deny, and allows at the configured
 * sample rate. Writes leave the request path (the decision is answered at once) and are
 * batched per event-loop turn; `flush()` waits for what is queued (tests, shutdown).
 */
export class DecisionLog {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #allowSample: number;
  readonly #random: () => number;
  #queue: DecisionRecord[] = [];
  #writing: Promise<void> = Promise.resolve();

  constructor(
    deps: { store: Store; clock: Clock; logger: Logger; random?: () => number },
    options: { allowSample: number },
  ) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#allowSample = options.allowSample;
    this.#random = deps.random ?? Math.random;
  }

  /** Records a decision when it is a deny or sampled; returns whether it was kept. */
  record(request: CedarRequest, decision: PolicyDecision, source: string): boolean {
    if (decision.decision === 'allow' && !(this.#random() < this.#allowSample)) return false;
    this.#queue.push({
      id: `dec_${randomBytes(12).toString('base64url')}`,
      at: this.#clock.nowMs(),
      decision: decision.decision,
      principal: uidText(request.principal),
      action: uidText(request.action),
      resource: uidText(request.resource),
      policyVersion: decision.version,
      policies: decision.policies,
      errors: decision.errors,
      latencyUs: Math.round(decision.latencyUs),
      source,
      input: JSON.stringify({ context: request.context, entities: request.entities }),
    });
    if (this.#queue.length === 1)
      this.#writing = this.#writing.then(() => new Promise(setImmediate)).then(() => this.#write());
    return true;
  }

  /** Resolves once every decision recorded so far is durable (or its write failed and was logged). */
  async flush(): Promise<void> {
    await this.#writing;
  }

  async #write(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    await this.#store.decisions.append(batch).catch((err: unknown) => {
      this.#logger.error({ err, lost: batch.length }, 'decision log write failed');
    });
  }
}
