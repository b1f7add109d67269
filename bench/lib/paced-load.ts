import { type Dispatcher, Pool } from 'undici';

/** What a paced run gives back, in the terms {@link measure} reports. */
export interface PacedOutcome {
  /** Answered requests (any status). */
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Requests that were due but not sent, because a second's worth were already waiting. */
  skipped: number;
  statusCodes: Record<string, number>;
  /** Answers in each whole second of the run. */
  perSecond: number[];
  /** Each 2xx answer's latency in ms, from when the tick sent its request (a wait for a connection included). */
  latencies: Float64Array;
  /** CPU (user + system) the load generator's own process used during the run, in seconds. */
  cpuSeconds: number;
}

/** One paced run's request and load shape. */
export interface PacedRun {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  /** Requests per second, spread evenly over each second. */
  rate: number;
  /** Connections kept open to the server (a sent request waits for a free one, and that wait counts). */
  connections: number;
  seconds: number;
  maxRequests: number;
  /** Called once a second with the seconds left and that second's answers. */
  onSecond?: (left: number, answered: number) => void;
}

/** How often due requests are sent: a 1 ms tick spreads the rate over the second. */
const TICK_MS = 1;
/** An answer later than this is a timeout (as autocannon's `timeout: 10`). */
const TIMEOUT_MS = 10_000;

/**
 * An open-loop load at an even rate, as wrk2 makes it: request i is due at start + i / rate, and
 * a 1 ms tick sends every request that has come due, whatever is still unanswered — the load does
 * not slow down when the server does (no coordinated omission). Each latency counts from the tick
 * that sent the request, so a wait for a free connection (a server falling behind) is in it, but
 * a tick's own lateness, which is this process's, is not. autocannon's `overallRate` instead lets
 * each connection send its share of a second back to back and then wait for the next second:
 * bursts, whose queueing it charges to the server.
 *
 * No more than a second's worth of requests are left waiting for a connection; past that, due
 * requests are counted as skipped, so a server that cannot hold the rate shows a lower req/s.
 */
async function runHere(run: PacedRun): Promise<PacedOutcome> {
  const cpuBefore = process.cpuUsage();
  const url = new URL(run.url);
  const pool = new Pool(url.origin, { connections: run.connections, pipelining: 1 });
  const path = `${url.pathname}${url.search}`;
  const options: Dispatcher.DispatchOptions = {
    path,
    method: run.method,
    headers: run.headers,
    ...(run.body !== undefined && { body: run.body }),
    headersTimeout: TIMEOUT_MS,
    bodyTimeout: TIMEOUT_MS,
  };
  const outcome: PacedOutcome = {
    requests: 0,
    non2xx: 0,
    errors: 0,
    timeouts: 0,
    skipped: 0,
    statusCodes: {},
    perSecond: [],
    cpuSeconds: 0,
    latencies: new Float64Array(Math.min(run.maxRequests, Math.ceil(run.rate * run.seconds) + 1)),
  };
  let count = 0;
  let sent = 0;
  let waiting = 0;
  let thisSecond = 0;
  const intervalMs = 1000 / run.rate;
  const start = performance.now();
  const end = start + run.seconds * 1000;

  const send = (sentAt: number) => {
    waiting++;
    let status = 0;
    const finished = (err?: Error) => {
      waiting--;
      if (err !== undefined) {
        if (/TIMEOUT/.test((err as { code?: string }).code ?? '')) outcome.timeouts++;
        else outcome.errors++;
        return;
      }
      outcome.requests++;
      thisSecond++;
      outcome.statusCodes[status] = (outcome.statusCodes[status] ?? 0) + 1;
      if (status < 200 || status > 299) outcome.non2xx++;
      else if (count < outcome.latencies.length) outcome.latencies[count++] = performance.now() - sentAt;
    };
    pool.dispatch(options, {
      onConnect() {},
      onHeaders(statusCode) {
        status = statusCode;
        return true;
      },
      onData() {
        return true;
      },
      onComplete() {
        finished();
      },
      onError(err) {
        finished(err);
      },
    });
  };

  await new Promise<void>((resolve) => {
    let second = 1;
    const tick = setInterval(() => {
      const now = performance.now();
      const dueNow = Math.min(run.maxRequests, Math.floor((Math.min(now, end) - start) / intervalMs) + 1);
      for (; sent < dueNow; sent++) {
        if (waiting >= run.rate) outcome.skipped++;
        else send(now);
      }
      if (now >= start + second * 1000) {
        outcome.perSecond.push(thisSecond);
        run.onSecond?.(run.seconds - second, thisSecond);
        thisSecond = 0;
        second++;
      }
      if (now >= end || sent >= run.maxRequests) {
        clearInterval(tick);
        resolve();
      }
    }, TICK_MS);
  });
  // Answers still on their way are waited for (each is bounded by its timeout); they count.
  const drainBy = performance.now() + TIMEOUT_MS + 1000;
  while (waiting > 0 && performance.now() < drainBy) await new Promise((r) => setTimeout(r, 5));
  await pool.destroy();
  outcome.latencies = outcome.latencies.slice(0, count);
  const cpu = process.cpuUsage(cpuBefore);
  outcome.cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return outcome;
}

/** What the generator's process says to the benchmark: ready, each second's count, then the outcome. */
export type PacedMessage =
  | { ready: true }
  | { second: { left: number; answered: number } }
  | { outcome: PacedOutcome };

export const CHILD_FLAG = '--paced-load-child';

// The generator's process (bench/lib/paced-generator.ts starts this module, bundled, with CHILD_FLAG).
if (process.argv[2] === CHILD_FLAG && process.send) {
  const send = (message: PacedMessage) => process.send?.(message);
  process.on('message', (run: Omit<PacedRun, 'onSecond'>) => {
    runHere({ ...run, onSecond: (left, answered) => send({ second: { left, answered } }) }).then(
      (outcome) => send({ outcome }),
      (err: unknown) => {
        process.stderr.write(`paced load failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  });
  process.once('disconnect', () => process.exit(0));
  // Sent once the listener is in place: a run sent before that would be lost.
  send({ ready: true });
}
