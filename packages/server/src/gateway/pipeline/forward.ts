import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Duplex, type Readable, Transform } from 'node:stream';
import { CircuitBreaker, type CircuitState, type Clock } from '@gatehouse/core';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { HOP_BY_HOP } from './mutate.js';

/** Consecutive failures that open a target's circuit. */
const FAILURES_TO_OPEN = 5;
/** How long an open circuit refuses before letting one probe through (half-open). */
const OPEN_MS = 10_000;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
const RETRY_STATUSES = new Set([502, 503, 504]);

export type { CircuitState };

/** Request headers for an upstream: a flat [name, value, …] list, as undici takes them. */
export type UpstreamHeaders = string[];

/**
 * One upstream target: a pooled keep-alive connection set (undici) and a circuit breaker. After
 * {@link FAILURES_TO_OPEN} failures in a row the circuit opens and the target is skipped; after
 * {@link OPEN_MS} one probe request is let through (half-open): success closes it, failure opens
 * it again. A hanging upstream therefore costs each request one timeout at most until it trips.
 */
class Target {
  readonly url: string;
  readonly pool: Pool;
  /** Requests in flight (least-connections balancing). */
  inFlight = 0;
  /** Last active health check result; true until a check says otherwise. */
  healthy = true;
  readonly #breaker: CircuitBreaker;

  constructor(url: string, clock: Clock, onState: (url: string, state: CircuitState) => void) {
    this.url = url;
    this.pool = new Pool(url, { connections: 64, keepAliveTimeout: 4_000, pipelining: 1 });
    this.#breaker = new CircuitBreaker({
      failures: FAILURES_TO_OPEN,
      openMs: OPEN_MS,
      clock,
      onChange: (state) => onState(url, state),
    });
  }

  get state(): CircuitState {
    return this.#breaker.state;
  }

  /** True when a request may go to this target now (and claims the probe when half-open). */
  admit(): boolean {
    return this.#breaker.admit();
  }

  succeeded(): void {
    this.#breaker.succeeded();
  }

  failed(): void {
    this.#breaker.failed();
  }

  abandoned(): void {
    this.#breaker.abandoned();
  }
}

/** How a forward ended, for metrics and the error answer. */
export type ForwardOutcome =
  | { ok: true; status: number; target: string; seconds: number }
  | {
      ok: false;
      reason: 'circuit_open' | 'timeout' | 'unreachable' | 'too_large' | 'client_left';
      target: string | undefined;
    };

/** Options of an {@link Upstream}. */
export interface UpstreamOptions {
  timeoutMs: number;
  retries: number;
  clock: Clock;
  onState: (url: string, state: CircuitState) => void;
  balance?: 'round_robin' | 'least_connections';
  healthCheck?: { path: string; intervalMs: number; timeoutMs: number } | undefined;
  /** Largest request body forwarded (a chunked body is counted as it streams). */
  bodyLimit: number;
}

/**
 * The upstreams of one route: round-robin over targets whose circuit admits, per-attempt
 * timeouts, and retries (idempotent methods without a body only, on connection failure or
 * 502/503/504) on the next target. The response is streamed back; hop-by-hop fields are dropped
 * both ways.
 */
export class Upstream {
  readonly #targets: Target[];
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #leastConnections: boolean;
  readonly #bodyLimit: number;
  readonly #healthTimer: NodeJS.Timeout | undefined;
  #next = 0;

  constructor(targets: readonly string[], options: UpstreamOptions) {
    this.#targets = targets.map((url) => new Target(url, options.clock, options.onState));
    this.#timeoutMs = options.timeoutMs;
    this.#retries = options.retries;
    this.#leastConnections = options.balance === 'least_connections';
    this.#bodyLimit = options.bodyLimit;
    const check = options.healthCheck;
    if (check) {
      const probe = () => {
        for (const target of this.#targets) void this.#probe(target, check.path, check.timeoutMs);
      };
      probe();
      this.#healthTimer = setInterval(probe, check.intervalMs);
      this.#healthTimer.unref();
    }
  }

  async #probe(target: Target, path: string, timeoutMs: number): Promise<void> {
    try {
      const res = await target.pool.request({
        path,
        method: 'GET',
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      await res.body.dump();
      target.healthy = res.statusCode < 400;
    } catch {
      target.healthy = false;
    }
  }

  /** Circuit state per target (metrics). */
  states(): { target: string; state: CircuitState }[] {
    return this.#targets.map((t) => ({ target: t.url, state: t.state }));
  }

  async forward(
    request: IncomingMessage,
    response: ServerResponse,
    path: string,
    headers: UpstreamHeaders,
    /** The gateway's own answer headers, written with the upstream's. */
    answer: Readonly<Record<string, string>> = {},
  ): Promise<ForwardOutcome> {
    const bodiless =
      request.headers['content-length'] === undefined && request.headers['transfer-encoding'] === undefined;
    const attempts = IDEMPOTENT.has(request.method ?? '') && bodiless ? 1 + this.#retries : 1;
    let last: ForwardOutcome = { ok: false, reason: 'circuit_open', target: undefined };
    let tooLarge = false;
    const body = bodiless
      ? null
      : limited(request, this.#bodyLimit, () => {
          tooLarge = true;
        });
    for (let attempt = 0; attempt < attempts; attempt++) {
      const target = this.#pick();
      // Nothing admits (every circuit open): answer at once instead of waiting on a dead upstream.
      if (!target) return last.ok ? { ok: false, reason: 'unreachable', target: last.target } : last;
      const started = process.hrtime.bigint();
      target.inFlight++;
      try {
        const { status, retry } = await relay(
          target.pool,
          {
            path,
            method: (request.method ?? 'GET') as Dispatcher.HttpMethod,
            headers,
            body,
            headersTimeout: this.#timeoutMs,
            bodyTimeout: this.#timeoutMs,
          },
          response,
          answer,
          attempt < attempts - 1,
        );
        if (retry) {
          target.failed();
          last = { ok: true, status, target: target.url, seconds: 0 };
          continue;
        }
        // A success is a whole answer: a body that breaks half-way counts as a failure below.
        if (status < 500) target.succeeded();
        else target.failed();
        return { ok: true, status, target: target.url, seconds: secondsSince(started) };
      } catch (err) {
        if (tooLarge) return { ok: false, reason: 'too_large', target: target.url };
        // The client left while the answer streamed: the upstream answered, nothing failed there.
        if (err instanceof ClientLeft && err.status !== 0) {
          if (err.status < 500) target.succeeded();
          else target.failed();
          return { ok: true, status: err.status, target: target.url, seconds: secondsSince(started) };
        }
        // It left before any answer: that says nothing of the upstream (a hanging one is caught by
        // the timeouts of the clients who wait), and counting it would let clients who hang up
        // open the circuit for everyone.
        if (err instanceof ClientLeft) {
          target.abandoned();
          response.destroy();
          return { ok: false, reason: 'client_left', target: target.url };
        }
        target.failed();
        const code = (err as { code?: string }).code ?? '';
        last = {
          ok: false,
          reason: /TIMEOUT/.test(code) ? 'timeout' : 'unreachable',
          target: target.url,
        };
        // A response already under way cannot be answered again; end it as broken.
        if (response.headersSent) {
          response.destroy();
          return last;
        }
      } finally {
        target.inFlight--;
      }
    }
    return last;
  }

  /**
   * Opens an upgraded connection (WebSocket and the like) to a target: the upstream's 101 head
   * and its socket, or undefined when no target admits or the upstream refused the upgrade.
   */
  async upgrade(
    path: string,
    headers: UpstreamHeaders,
    protocol: string,
  ): Promise<{ headers: Record<string, string | string[] | undefined>; socket: Duplex } | undefined> {
    const target = this.#pick();
    if (!target) return undefined;
    try {
      const { headers: head, socket } = await target.pool.upgrade({
        path,
        method: 'GET',
        headers,
        protocol,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      target.succeeded();
      return { headers: head, socket };
    } catch {
      target.failed();
      return undefined;
    }
  }

  async close(): Promise<void> {
    if (this.#healthTimer) clearInterval(this.#healthTimer);
    await Promise.all(this.#targets.map((t) => t.pool.close()));
  }

  #pick(): Target | undefined {
    const n = this.#targets.length;
    if (this.#leastConnections) {
      // Fewest in flight among the healthy; ties go round-robin so equal targets share the load.
      let best: Target | undefined;
      for (let i = 0; i < n; i++) {
        const t = this.#targets[(this.#next + i) % n] as Target;
        if (t.healthy && t.state === 'closed' && (!best || t.inFlight < best.inFlight)) best = t;
      }
      this.#next = (this.#next + 1) % n;
      if (best) return best;
    }
    for (let i = 0; i < n; i++) {
      const target = this.#targets[(this.#next + i) % n] as Target;
      if (target.healthy && target.admit()) {
        this.#next = (this.#next + i + 1) % n;
        return target;
      }
    }
    return undefined;
  }
}

function secondsSince(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** The client went away while its answer streamed (the status the upstream had answered). */
class ClientLeft extends Error {
  constructor(readonly status: number) {
    super('the client left before its answer was through');
  }
}

/** What one attempt ended with: the upstream's status, and whether its answer was set aside for a retry. */
interface Relayed {
  status: number;
  retry: boolean;
}

/**
 * One request to `pool` whose answer is written straight into the client's `response`: an undici
 * dispatch handler, so the upstream's head goes out as it arrived (hop-by-hop fields dropped, the
 * gateway's own `answer` fields in place of the upstream's) and each body chunk is written as it
 * comes, with backpressure both ways. Resolves once the upstream's answer is complete; rejects with
 * the upstream's error (the response destroyed if it had begun) or {@link ClientLeft}. With
 * `mayRetry`, a 502/503/504 is not written but discarded, for the caller to try elsewhere.
 *
 * Why by hand: undici's `stream()` parses the head into an object, wraps each request in an
 * AsyncResource and watches the response with `finished()` (a handful of listeners per request);
 * on the gateway's hot path that was measurable, and none of it is needed here.
 */
function relay(
  pool: Pool,
  options: Dispatcher.DispatchOptions,
  response: ServerResponse,
  answer: Readonly<Record<string, string>>,
  mayRetry: boolean,
): Promise<Relayed> {
  return new Promise<Relayed>((resolve, reject) => {
    pool.dispatch(options, new Relay(response, answer, mayRetry, resolve, reject));
  });
}

const RELAY = Symbol('gatehouse.relay');
type RelayedResponse = ServerResponse & { [RELAY]?: Relay | undefined };

/** One 'close' listener for every response (the emitter is `this`), finding its relay by symbol. */
function clientClosed(this: RelayedResponse): void {
  this[RELAY]?.clientLeft();
}

/**
 * The handler of {@link relay}. A class rather than closures made per request: its methods exist
 * once, where the closures (and the name each gets under the tsx loader) cost every request.
 */
class Relay implements Dispatcher.DispatchHandler {
  #status = 0;
  #discarding = false;
  #done = false;
  #abort: ((reason?: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  readonly #response: ServerResponse;
  readonly #answer: Readonly<Record<string, string>>;
  readonly #mayRetry: boolean;
  readonly #resolve: (relayed: Relayed) => void;
  readonly #reject: (err: Error) => void;

  constructor(
    response: ServerResponse,
    answer: Readonly<Record<string, string>>,
    mayRetry: boolean,
    resolve: (relayed: Relayed) => void,
    reject: (err: Error) => void,
  ) {
    this.#response = response;
    this.#answer = answer;
    this.#mayRetry = mayRetry;
    this.#resolve = resolve;
    this.#reject = reject;
    (response as RelayedResponse)[RELAY] = this;
    response.on('close', clientClosed);
  }

  /** The client's connection closed (see {@link clientClosed}). */
  clientLeft(): void {
    if (!this.#done) this.#abort?.(new ClientLeft(this.#status));
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.#abort = abort;
    if (this.#response.destroyed) abort(new ClientLeft(0));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    this.#status = statusCode;
    this.#resume = resume;
    if (this.#mayRetry && RETRY_STATUSES.has(statusCode)) {
      this.#discarding = true;
      return true;
    }
    this.#response.writeHead(statusCode, answerHead(rawHeaders, this.#answer));
    return this.#flowing();
  }

  onData(chunk: Buffer): boolean {
    if (this.#discarding) return true;
    return this.#response.write(chunk) || this.#flowing();
  }

  onComplete(): void {
    if (!this.#discarding) this.#response.end();
    this.#settle(undefined);
  }

  onError(err: Error): void {
    if (!(err instanceof ClientLeft) && this.#response.headersSent) this.#response.destroy(err);
    this.#settle(err);
  }

  /** Backpressure: once the client's response buffers past its mark, the upstream waits for 'drain'. */
  #flowing(): boolean {
    if (!this.#response.writableNeedDrain || this.#resume === undefined) return true;
    this.#response.once('drain', this.#resume);
    return false;
  }

  #settle(err: Error | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.#response.off('close', clientClosed);
    (this.#response as RelayedResponse)[RELAY] = undefined;
    if (err === undefined) this.#resolve({ status: this.#status, retry: this.#discarding });
    else this.#reject(err);
  }
}

/**
 * The client's answer head as a flat [name, value, …] list: the upstream's fields as they came
 * (repeated ones such as Set-Cookie kept apart) minus hop-by-hop ones and those the gateway sets
 * itself, then the gateway's `answer` fields. Bytes are read as latin1, as Node writes them.
 */
function answerHead(raw: readonly Buffer[], answer: Readonly<Record<string, string>>): string[] {
  const head: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1').toLowerCase();
    if (HOP_BY_HOP.has(name) || Object.hasOwn(answer, name)) continue;
    head.push(name, (raw[i + 1] as Buffer).toString('latin1'));
  }
  for (const name in answer) head.push(name, answer[name] as string);
  return head;
}

/** The request body, refused once it passes `limit` bytes (a chunked body has no length to check first). */
function limited(source: IncomingMessage, limit: number, onTooLarge: () => void): Readable {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > limit) {
        onTooLarge();
        done(new Error('request body over the limit'));
        return;
      }
      done(null, chunk);
    },
  });
  source.on('error', (err) => counter.destroy(err));
  return source.pipe(counter);
}
