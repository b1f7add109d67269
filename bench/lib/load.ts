import { readFileSync } from 'node:fs';
import autocannon, { type Client, type Result } from 'autocannon';
import { pacedRun } from './paced-generator.js';
import { procStat } from './processes.js';
import type { Settings } from './settings.js';

/**
 * One connection's part in a load where each request differs from the one before: a rotating
 * refresh token (the next body depends on the previous answer) or a fresh access token per request
 * (the next header comes from a pool): what to send next, and what to learn from each answer.
 */
export interface ConnectionScript {
  /** The body of the connection's next request; default the target's body. */
  body?(): string;
  /** Headers of the connection's next request, over the target's. */
  headers?(): Record<string, string>;
  /**
   * Called with each answer before the next request is built; false when the answer breaks the
   * chain. Without it autocannon does not keep the answers' bodies.
   */
  onResponse?(status: number, body: string): boolean;
}

/** The scripts of one autocannon run, and how many requests they can serve at the most. */
export interface ScriptSet {
  scripts: ConnectionScript[];
  /** The run stops after this many requests (e.g. the size of a token pool, never reused). */
  maxRequests?: number;
}

export interface LoadTarget {
  /** Shown in progress lines, e.g. "gatehouse token". */
  label: string;
  url: string;
  /** Default POST. */
  method?: 'GET' | 'POST';
  headers: Record<string, string>;
  /** Every request's body (none when undefined); with `scripts`, only a placeholder. */
  body?: string;
  /**
   * One fresh script per connection for each autocannon run (warm-up and measured alike) of
   * `seconds`, made before the run starts, outside the measured window. A run ends with requests
   * in flight, so a chain is never carried over into the next run.
   */
  scripts?: (connections: number, seconds: number) => Promise<ScriptSet>;
  /**
   * Requests per second, paced evenly (open loop, {@link pacedRun}) instead of as fast as answered;
   * latency then counts from the generator's tick that sent each request.
   */
  pacedRate?: number;
  /** Connections for this target; default settings.connections. */
  connections?: number;
}

/**
 * The processes a run's CPU is charged to: the server under test (nginx: master and worker) and
 * the helpers it needs (the upstream behind a proxy), each counted apart.
 */
export interface MeasuredProcesses {
  server: readonly number[];
  upstream?: readonly number[];
}

export interface LoadFigures {
  /** Completed requests / measured seconds. */
  reqPerSec: number;
  /** Slowest and fastest whole second, to show how steady the run was. */
  minPerSec: number;
  maxPerSec: number;
  p50: number;
  p99: number;
  /** Every 2xx response's latency in ms, sorted (what p50 and p99 are read from). */
  latencies: Float64Array;
  non2xx: number;
  errors: number;
  timeouts: number;
  requests: number;
  seconds: number;
  statusCodes: Record<string, number>;
  /** req/s of each round (one entry for a single run). */
  rounds: number[];
  /** {@link otherCores} of each round, beside `rounds`: how disturbed each one was. */
  roundOtherCores: number[];
  /** Each round's own p99, beside `rounds` (the pooled p99 can hide which round had a stall). */
  roundP99: number[];
  /** Server process CPU (user + system) during the measured run, in cores (1.0 = one core busy). */
  serverCores: number;
  /** CPU of the upstream behind a proxy during the measured run, in cores (0 when there is none). */
  upstreamCores: number;
  /** Load generator (this process) CPU during the measured run, in cores. */
  clientCores: number;
  /** Whole machine busy CPU (everything, other work included, steal excluded), in cores. */
  machineCores: number;
  /** CPU stolen by the hypervisor, in cores. */
  stealCores: number;
  /**
   * When the measured run ran, on the monotonic clock in µs (process.hrtime, as V8 stamps profile
   * samples); absent on figures combined from several runs.
   */
  window?: { startUs: number; endUs: number };
}

/** Busy and steal seconds of the whole machine so far, from /proc/stat (Linux); NaN elsewhere. */
function machineCpuSeconds(): { busy: number; steal: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal ...
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return {
      busy: ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0)) / 100,
      steal: (steal ?? 0) / 100,
    };
  } catch {
    return { busy: Number.NaN, steal: Number.NaN };
  }
}

/**
 * CPU (in cores) that went neither to the server, its upstream nor autocannon during a run: other
 * work on the machine (or kernel time not charged to them). Above {@link CONTENDED_CORES} a run is
 * suspect.
 */
export function otherCores(f: LoadFigures): number {
  return f.machineCores - f.serverCores - f.upstreamCores - f.clientCores;
}

export const CONTENDED_CORES = 0.25;

/** user + system CPU seconds of some processes so far, from /proc (Linux); NaN elsewhere. */
function processCpuSeconds(pids: readonly number[]): number {
  let seconds = 0;
  for (const pid of pids) {
    const fields = procStat(pid);
    seconds += fields ? (Number(fields[11]) + Number(fields[12])) / 100 : Number.NaN;
  }
  return seconds;
}

/** The `q` quantile (0–1) of latencies in ms, nearest rank. */
function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/**
 * Merges the rounds of one server and scenario: req/s = all requests / all measured seconds,
 * p50 and p99 over every 2xx response of all rounds (the rounds' latencies pooled, as merged
 * histograms give them), per-second min–max over all rounds.
 */
export function combineRounds(runs: readonly LoadFigures[]): LoadFigures {
  const sum = (pick: (f: LoadFigures) => number) => runs.reduce((acc, f) => acc + pick(f), 0);
  const pooled = new Float64Array(sum((f) => f.latencies.length));
  let at = 0;
  for (const f of runs) {
    pooled.set(f.latencies, at);
    at += f.latencies.length;
  }
  pooled.sort();
  const statusCodes: Record<string, number> = {};
  for (const f of runs) {
    for (const [code, count] of Object.entries(f.statusCodes))
      statusCodes[code] = (statusCodes[code] ?? 0) + count;
  }
  return {
    reqPerSec: sum((f) => f.requests) / sum((f) => f.seconds),
    minPerSec: Math.min(...runs.map((f) => f.minPerSec)),
    maxPerSec: Math.max(...runs.map((f) => f.maxPerSec)),
    p50: quantile(pooled, 0.5),
    p99: quantile(pooled, 0.99),
    latencies: pooled,
    non2xx: sum((f) => f.non2xx),
    errors: sum((f) => f.errors),
    timeouts: sum((f) => f.timeouts),
    requests: sum((f) => f.requests),
    seconds: sum((f) => f.seconds),
    statusCodes,
    rounds: runs.flatMap((f) => f.rounds),
    roundOtherCores: runs.flatMap((f) => f.roundOtherCores),
    roundP99: runs.flatMap((f) => f.roundP99),
    serverCores: sum((f) => f.serverCores * f.seconds) / sum((f) => f.seconds),
    upstreamCores: sum((f) => f.upstreamCores * f.seconds) / sum((f) => f.seconds),
    clientCores: sum((f) => f.clientCores * f.seconds) / sum((f) => f.seconds),
    machineCores: sum((f) => f.machineCores * f.seconds) / sum((f) => f.seconds),
    stealCores: sum((f) => f.stealCores * f.seconds) / sum((f) => f.seconds),
  };
}

const tty = process.stderr.isTTY;

function progress(text: string, final = false): void {
  if (tty) process.stderr.write(`\r\x1b[2K${text}${final ? '\n' : ''}`);
  else process.stderr.write(`${text}\n`);
}

/** autocannon's per-connection hook: each connection gets its own script, so its own chain. */
function scriptedClients(scripts: ConnectionScript[], broken: { count: number }): (client: Client) => void {
  let next = 0;
  return (client) => {
    const script = scripts[next++];
    if (!script) throw new Error(`more connections than scripts (${scripts.length})`);
    const { onResponse } = script;
    client.setRequests([
      {
        setupRequest: (request) => ({
          ...request,
          ...(script.body && { body: script.body() }),
          ...(script.headers && { headers: { ...request.headers, ...script.headers() } }),
        }),
        ...(onResponse && {
          onResponse: (status: number, body: string) => {
            if (!onResponse(status, body)) broken.count++;
          },
        }),
      },
    ]);
  };
}

/** What one run gives back (autocannon's or a paced one): counts, whole seconds' counts, every 2xx latency. */
interface RunOutcome {
  /** Answered requests (any status). */
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  seconds: number;
  perSecond: number[];
  broken: number;
  /** Each response's latency in ms, unrounded (autocannon's own histogram keeps whole ms). */
  latencies: Float64Array;
  /** CPU seconds of a load generator running in its own process (the paced one); 0 for autocannon. */
  generatorCpuSeconds: number;
}

function fromAutocannon(
  result: Result,
  perSecond: number[],
  broken: number,
  latencies: Float64Array,
): RunOutcome {
  return {
    requests: result['2xx'] + result.non2xx,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes: Object.fromEntries(
      Object.entries(result.statusCodeStats).map(([code, stats]) => [code, stats.count]),
    ),
    seconds: result.duration,
    perSecond,
    broken,
    latencies,
    generatorCpuSeconds: 0,
  };
}

/** One run at an even rate ({@link pacedRun}); a script-driven target cannot be paced. */
async function runPaced(
  target: LoadTarget,
  settings: Settings,
  seconds: number,
  phase: string,
  rate: number,
): Promise<RunOutcome> {
  if (target.scripts) throw new Error(`${target.label}: a scripted load cannot be paced`);
  progress(`  ${target.label}: ${phase}, ${seconds} s at ${rate} req/s, paced`);
  const outcome = await pacedRun({
    url: target.url,
    method: target.method ?? 'POST',
    headers: target.headers,
    ...(target.body !== undefined && { body: target.body }),
    rate,
    connections: target.connections ?? settings.connections,
    seconds,
    maxRequests: settings.maxRequests,
    onSecond: (left, answered) => {
      if (tty || left % 5 === 0) progress(`  ${target.label}: ${phase}, ${left} s left, ${answered} req/s`);
    },
  });
  if (outcome.skipped > 0)
    progress(
      `  ${target.label}: ${outcome.skipped} due requests not sent (a second's worth were waiting)`,
      true,
    );
  return { ...outcome, seconds, broken: 0, generatorCpuSeconds: outcome.cpuSeconds };
}

/**
 * One autocannon run, bounded in time (duration plus a watchdog) and in count. `scripts` (one per
 * connection) drive the requests when given; `broken` counts answers a script said broke its chain.
 */
function runOnce(
  target: LoadTarget,
  settings: Settings,
  seconds: number,
  phase: string,
  set?: ScriptSet,
): Promise<RunOutcome> {
  if (target.pacedRate !== undefined) return runPaced(target, settings, seconds, phase, target.pacedRate);
  const broken = { count: 0 };
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  const maxRequests = Math.min(settings.maxRequests, set?.maxRequests ?? Number.POSITIVE_INFINITY);
  return new Promise((resolve, reject) => {
    let left = seconds;
    const perSecond: number[] = [];
    let watchdog: NodeJS.Timeout | undefined;
    let hardStop: NodeJS.Timeout | undefined;
    const instance = autocannon(
      {
        url: target.url,
        method: target.method ?? 'POST',
        headers: target.headers,
        ...(target.body !== undefined && { body: target.body }),
        connections: target.connections ?? settings.connections,
        pipelining: 1,
        duration: seconds,
        maxOverallRequests: maxRequests,
        timeout: 10,
        title: `${target.label} ${phase}`,
        ...(set && { setupClient: scriptedClients(set.scripts, broken) }),
      },
      (err, result) => {
        clearTimeout(watchdog);
        clearTimeout(hardStop);
        if (err) reject(err);
        else resolve(fromAutocannon(result, perSecond, broken.count, latencies.subarray(0, count)));
      },
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status < 200 || status > 299) return;
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = ms;
    });
    instance.on('tick', (tick: { counter: number }) => {
      left -= 1;
      if (left >= 0) perSecond.push(tick.counter);
      // Non-TTY output (CI logs) gets a line every 5 s instead of every second.
      if (tty || left % 5 === 0)
        progress(`  ${target.label}: ${phase}, ${Math.max(left, 0)} s left, ${tick.counter} req/s`);
    });
    progress(`  ${target.label}: ${phase}, ${seconds} s`);
    watchdog = setTimeout(() => instance.stop(), (seconds + 10) * 1000);
    hardStop = setTimeout(
      () => reject(new Error(`${target.label}: autocannon did not finish in time`)),
      (seconds + 30) * 1000,
    );
  });
}

/** Fresh scripts for one run of `seconds`, when the target has them. */
function scriptsFor(target: LoadTarget, settings: Settings, seconds: number): Promise<ScriptSet | undefined> {
  return target.scripts
    ? target.scripts(target.connections ?? settings.connections, seconds)
    : Promise.resolve(undefined);
}

/**
 * Warm-up (discarded), then the measured run. Throws if any response was not 2xx or failed.
 * `pids`: the server's process (or processes, and its upstream's) whose CPU is accounted.
 */
export async function measure(
  target: LoadTarget,
  settings: Settings,
  pids: number | MeasuredProcesses,
): Promise<LoadFigures> {
  const processes = typeof pids === 'number' ? { server: [pids] } : pids;
  const upstream = processes.upstream ?? [];
  // The measured run's scripts first, then the warm-up's: whatever making them costs the server
  // (logins, minting a token pool) is behind it, and the warm-up, when the measured run starts.
  const scripts = await scriptsFor(target, settings, settings.duration);
  if (settings.warmup > 0)
    await runOnce(
      target,
      settings,
      settings.warmup,
      'warm-up',
      await scriptsFor(target, settings, settings.warmup),
    );
  const serverBefore = processCpuSeconds(processes.server);
  const upstreamBefore = processCpuSeconds(upstream);
  const clientBefore = process.cpuUsage();
  const machineBefore = machineCpuSeconds();
  const wallBefore = performance.now();
  const startUs = Number(process.hrtime.bigint() / 1000n);
  const run = await runOnce(target, settings, settings.duration, 'measuring', scripts);
  const wall = (performance.now() - wallBefore) / 1000;
  const serverCores = (processCpuSeconds(processes.server) - serverBefore) / wall;
  const upstreamCores = (processCpuSeconds(upstream) - upstreamBefore) / wall;
  const client = process.cpuUsage(clientBefore);
  const clientCores = ((client.user + client.system) / 1e6 + run.generatorCpuSeconds) / wall;
  const machineAfter = machineCpuSeconds();
  const { requests, statusCodes, perSecond, broken } = run;
  const sorted = run.latencies.sort();
  const p99 = quantile(sorted, 0.99);
  const figures: LoadFigures = {
    // Not result.requests.average: that averages per-second samples including a partial last one.
    reqPerSec: requests / run.seconds,
    minPerSec: perSecond.length > 0 ? Math.min(...perSecond) : Number.NaN,
    maxPerSec: perSecond.length > 0 ? Math.max(...perSecond) : Number.NaN,
    p50: quantile(sorted, 0.5),
    p99,
    latencies: sorted,
    non2xx: run.non2xx,
    errors: run.errors,
    timeouts: run.timeouts,
    requests,
    seconds: run.seconds,
    statusCodes,
    rounds: [requests / run.seconds],
    roundOtherCores: [],
    roundP99: [p99],
    serverCores,
    upstreamCores,
    clientCores,
    machineCores: (machineAfter.busy - machineBefore.busy) / wall,
    stealCores: (machineAfter.steal - machineBefore.steal) / wall,
    window: { startUs, endUs: Number(process.hrtime.bigint() / 1000n) },
  };
  figures.roundOtherCores = [otherCores(figures)];
  const chained = scripts?.scripts.some((s) => s.onResponse) ?? false;
  progress(
    `  ${target.label}: ${Math.round(figures.reqPerSec)} req/s, p50 ${figures.p50.toFixed(2)} ms, p99 ${figures.p99.toFixed(2)} ms, non-2xx ${figures.non2xx}, errors ${figures.errors}${chained ? `, broken chains ${broken}` : ''}, CPU cores: server ${serverCores.toFixed(2)}${upstream.length > 0 ? `, upstream ${upstreamCores.toFixed(2)}` : ''}, autocannon ${clientCores.toFixed(2)}, machine ${figures.machineCores.toFixed(2)}`,
    true,
  );
  if (figures.non2xx > 0 || figures.errors > 0 || figures.timeouts > 0 || broken > 0) {
    throw new Error(
      `${target.label}: ${figures.non2xx} non-2xx responses, ${figures.errors} errors, ${figures.timeouts} timeouts, ` +
        `${broken} 2xx answers that broke their chain ` +
        `(status codes ${JSON.stringify(statusCodes)}); a benchmark of failures is worthless`,
    );
  }
  return figures;
}

/**
 * Measures, and measures again (up to settings.retries times) while other work on the machine
 * took CPU during the run; keeps the least disturbed attempt.
 */
export async function measureClean(
  target: LoadTarget,
  settings: Settings,
  pids: number | MeasuredProcesses,
  log: (line: string) => void,
): Promise<LoadFigures> {
  let best: LoadFigures | undefined;
  for (let attempt = 0; ; attempt++) {
    const figures = await measure(target, settings, pids);
    if (!best || otherCores(figures) < otherCores(best)) best = figures;
    if (!(otherCores(figures) > CONTENDED_CORES) || attempt >= settings.retries) return best;
    log(
      `  ${target.label}: ~${otherCores(figures).toFixed(2)} core went to other work on the machine; measuring again`,
    );
  }
}
