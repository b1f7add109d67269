import { type Clock, systemClock } from './clock.js';

/** Where a {@link CircuitBreaker} stands. */
export type CircuitState = 'closed' | 'open' | 'half_open';

/** Options of a {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit; default 5. */
  failures?: number;
  /** How long it stays open before one probe is let through; default 10 s. */
  openMs?: number;
  clock?: Clock;
  /** Called on every change of state (metrics, logs). */
  onChange?: (state: CircuitState) => void;
}

/**
 * Closed → (N failures in a row) → open: calls are refused at once → (after `openMs`)
 * half-open: one probe is let through; success closes the circuit, failure opens it again. A
 * caller of a hanging dependency therefore waits for one timeout at most until it trips. Used by
 * the gateway per upstream target and by @gatehouse/node per downstream origin.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ failures: 5, openMs: 10_000 });
 * if (!breaker.admit()) throw new Error('unavailable');
 * ```
 */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #openMs: number;
  readonly #clock: Clock;
  readonly #onChange: ((state: CircuitState) => void) | undefined;
  #state: CircuitState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probing = false;

  constructor(options: CircuitBreakerOptions = {}) {
    this.#threshold = options.failures ?? 5;
    this.#openMs = options.openMs ?? 10_000;
    this.#clock = options.clock ?? systemClock;
    this.#onChange = options.onChange;
  }

  get state(): CircuitState {
    return this.#state;
  }

  /** True when a call may go now (and claims the single probe when half-open). */
  admit(): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open' && this.#clock.nowMs() - this.#openedAt >= this.#openMs)
      this.#set('half_open');
    if (this.#state === 'half_open' && !this.#probing) {
      this.#probing = true;
      return true;
    }
    return false;
  }

  succeeded(): void {
    this.#failures = 0;
    this.#probing = false;
    if (this.#state !== 'closed') this.#set('closed');
  }

  /**
   * A call that ended without saying anything about the dependency (its caller gave up before
   * any answer): no failure is counted, and a half-open probe it held is free for the next call.
   * Counting it would let clients who hang up open the circuit for everyone.
   */
  abandoned(): void {
    this.#probing = false;
  }

  failed(): void {
    this.#probing = false;
    this.#failures++;
    if (this.#state === 'half_open' || this.#failures >= this.#threshold) {
      this.#openedAt = this.#clock.nowMs();
      if (this.#state !== 'open') this.#set('open');
    }
  }

  #set(state: CircuitState): void {
    this.#state = state;
    this.#onChange?.(state);
  }
}
