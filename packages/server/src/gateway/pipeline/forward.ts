import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { type Duplex, type Readable, Transform, Writable } from 'node:stream';
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
}

/** How a forward ended, for metrics and the error answer. */
export type ForwardOutcome =
  | { ok: true; status: number; target: string; seconds: number }
  | {
      ok: false;
      reason: 'circuit_open' | 'timeout' | 'unreachable' | 'too_large';
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
    headers: OutgoingHttpHeaders,
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
      let status = 0;
      let retry = false;
      try {
        // undici's stream(): the body is written straight into the client's response (backpressure
        // included) and the response ended, without a Readable and an async iterator in between.
        await target.pool.stream(
          {
            path,
            method: (request.method ?? 'GET') as Dispatcher.HttpMethod,
            headers: headers as Record<string, string>,
            body,
            headersTimeout: this.#timeoutMs,
            bodyTimeout: this.#timeoutMs,
          },
          ({ statusCode, headers: upstreamHeaders }) => {
            status = statusCode;
            if (RETRY_STATUSES.has(statusCode) && attempt < attempts - 1) {
              retry = true;
              return discard();
            }
            if (statusCode >= 500) target.failed();
            response.writeHead(statusCode, Object.assign(responseHeaders(upstreamHeaders), answer));
            return response;
          },
        );
        if (retry) {
          target.failed();
          last = { ok: true, status, target: target.url, seconds: 0 };
          continue;
        }
        // A success is a whole answer: a body that breaks half-way counts as a failure below.
        if (status < 500) target.succeeded();
        return { ok: true, status, target: target.url, seconds: secondsSince(started) };
      } catch (err) {
        if (tooLarge) return { ok: false, reason: 'too_large', target: target.url };
        // undici destroys the client's response with the upstream's error when the upstream breaks
        // mid-answer; the stream then reports a premature close, so the cause is read there.
        const cause = response.errored ?? err;
        const code = (cause as { code?: string }).code ?? '';
        // The client left while the answer streamed: the upstream answered, nothing failed there.
        if (code === 'ERR_STREAM_PREMATURE_CLOSE' && status !== 0 && !retry) {
          if (status < 500) target.succeeded();
          return { ok: true, status, target: target.url, seconds: secondsSince(started) };
        }
        target.failed();
        last = {
          ok: false,
          reason: /TIMEOUT/.test(code) ? 'timeout' : 'unreachable',
          target: target.url,
        };
        // A response already under way cannot be replaced; end it as broken.
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
    headers: OutgoingHttpHeaders,
    protocol: string,
  ): Promise<{ headers: Record<string, string | string[] | undefined>; socket: Duplex } | undefined> {
    const target = this.#pick();
    if (!target) return undefined;
    try {
      const { headers: head, socket } = await target.pool.upgrade({
        path,
        method: 'GET',
        headers: headers as Record<string, string>,
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

/** Where the body of an answer that is retried elsewhere goes. */
function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

function responseHeaders(headers: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
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
