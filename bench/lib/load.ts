import { readFileSync } from 'node:fs';
import autocannon, { type Client, type Result } from 'autocannon';
import type { Settings } from './settings.js';

/**
 * One connection's part in a load where each request depends on the answer before it (a rotating
 * refresh token): what to send next, and what to learn from each answer.
 */
export interface ConnectionScript {
  /** The body of the connection's next request. */
  body(): string;
  /** Called with each answer before the next request is built; false when the answer breaks the chain. */
  onResponse(status: number, body: string): boolean;
}

export interface LoadTarget {
  /** Shown in progress lines, e.g. "gatehouse token". */
  label: string;
  url: string;
  headers: Record<string, string>;
  /** Every request's body; with `scripts`, only a placeholder. */
  body: string;
  /**
   * One fresh script per connection for each autocannon run (warm-up and measured alike), made
   * before the run starts, outside the measured window. A run ends with requests in flight, so
   * a chain is never carried over into the next run.
   */
  scripts?: (connections: number) => Promise<ConnectionScript[]>;
}

export interface LoadFigures {
  /** Completed requests / measured seconds. */
  reqPerSec: number;
  /** Slowest and fastest whole second, to show how steady the run was. */
  minPerSec: number;
  maxPerSec: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  requests: number;
  seconds: number;
  statusCodes: Record<string, number>;
  /** req/s of each round (one entry for a single run). */
  rounds: number[];
  /** Server process CPU (user + system) during the measured run, in cores (1.0 = one core busy). */
  serverCores: number;
  /** Load generator (this process) CPU during the measured run, in cores. */
  clientCores: number;
  /** Whole machine busy CPU (everything, other work included, steal excluded), in cores. */
  machineCores: number;
  /** CPU stolen by the hypervisor, in cores. */
  stealCores: number;
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
 * CPU (in cores) that went neither to the server nor to autocannon during a run: other work on the
 * machine (or kernel time not charged to either). Above {@link CONTENDED_CORES} a run is suspect.
 */
export function otherCores(f: LoadFigures): number {
  return f.machineCores - f.serverCores - f.clientCores;
}

export const CONTENDED_CORES = 0.25;

/** user + system CPU seconds of a process so far, from /proc (Linux); NaN elsewhere. */
function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is [0], utime [11], stime [12], in clock ticks (USER_HZ = 100).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * Merges the rounds of one server and scenario: req/s = all requests / all measured seconds,
 * p50 = mean of the rounds' p50, p99 = the worst round's p99, per-second min–max over all rounds.
 */
export function combineRounds(runs: readonly LoadFigures[]): LoadFigures {
  const sum = (pick: (f: LoadFigures) => number) => runs.reduce((acc, f) => acc + pick(f), 0);
  const statusCodes: Record<string, number> = {};
  for (const f of runs) {
    for (const [code, count] of Object.entries(f.statusCodes))
      statusCodes[code] = (statusCodes[code] ?? 0) + count;
  }
  return {
    reqPerSec: sum((f) => f.requests) / sum((f) => f.seconds),
    minPerSec: Math.min(...runs.map((f) => f.minPerSec)),
    maxPerSec: Math.max(...runs.map((f) => f.maxPerSec)),
    p50: sum((f) => f.p50) / runs.length,
    p99: Math.max(...runs.map((f) => f.p99)),
    non2xx: sum((f) => f.non2xx),
    errors: sum((f) => f.errors),
    timeouts: sum((f) => f.timeouts),
    requests: sum((f) => f.requests),
    seconds: sum((f) => f.seconds),
    statusCodes,
    rounds: runs.flatMap((f) => f.rounds),
    serverCores: sum((f) => f.serverCores * f.seconds) / sum((f) => f.seconds),
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
    client.setRequests([
      {
        setupRequest: (request) => ({ ...request, body: script.body() }),
        onResponse: (status, body) => {
          if (!script.onResponse(status, body)) broken.count++;
        },
      },
    ]);
  };
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
  scripts?: ConnectionScript[],
): Promise<{ result: Result; perSecond: number[]; broken: number }> {
  const broken = { count: 0 };
  return new Promise((resolve, reject) => {
    let left = seconds;
    const perSecond: number[] = [];
    let watchdog: NodeJS.Timeout | undefined;
    let hardStop: NodeJS.Timeout | undefined;
    const instance = autocannon(
      {
        url: target.url,
        method: 'POST',
        headers: target.headers,
        body: target.body,
        connections: settings.connections,
        pipelining: 1,
        duration: seconds,
        maxOverallRequests: settings.maxRequests,
        timeout: 10,
        title: `${target.label} ${phase}`,
        ...(scripts && { setupClient: scriptedClients(scripts, broken) }),
      },
      (err, result) => {
        clearTimeout(watchdog);
        clearTimeout(hardStop);
        if (err) reject(err);
        else resolve({ result, perSecond, broken: broken.count });
      },
    );
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

/** A fresh script per connection, when the target has them. */
function scriptsFor(target: LoadTarget, settings: Settings): Promise<ConnectionScript[] | undefined> {
  return target.scripts ? target.scripts(settings.connections) : Promise.resolve(undefined);
}

/** Warm-up (discarded), then the measured run. Throws if any response was not 2xx or failed. */
export async function measure(
  target: LoadTarget,
  settings: Settings,
  serverPid: number,
): Promise<LoadFigures> {
  if (settings.warmup > 0)
    await runOnce(target, settings, settings.warmup, 'warm-up', await scriptsFor(target, settings));
  // Made before the counters start: logins or minting are not part of the measured work.
  const scripts = await scriptsFor(target, settings);
  const serverBefore = processCpuSeconds(serverPid);
  const clientBefore = process.cpuUsage();
  const machineBefore = machineCpuSeconds();
  const wallBefore = performance.now();
  const { result, perSecond, broken } = await runOnce(
    target,
    settings,
    settings.duration,
    'measuring',
    scripts,
  );
  const wall = (performance.now() - wallBefore) / 1000;
  const serverCores = (processCpuSeconds(serverPid) - serverBefore) / wall;
  const client = process.cpuUsage(clientBefore);
  const clientCores = (client.user + client.system) / 1e6 / wall;
  const machineAfter = machineCpuSeconds();
  const requests = result['2xx'] + result.non2xx;
  const statusCodes = Object.fromEntries(
    Object.entries(result.statusCodeStats).map(([code, stats]) => [code, stats.count]),
  );
  const figures: LoadFigures = {
    // Not result.requests.average: that averages per-second samples including a partial last one.
    reqPerSec: requests / result.duration,
    minPerSec: perSecond.length > 0 ? Math.min(...perSecond) : Number.NaN,
    maxPerSec: perSecond.length > 0 ? Math.max(...perSecond) : Number.NaN,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    requests,
    seconds: result.duration,
    statusCodes,
    rounds: [requests / result.duration],
    serverCores,
    clientCores,
    machineCores: (machineAfter.busy - machineBefore.busy) / wall,
    stealCores: (machineAfter.steal - machineBefore.steal) / wall,
  };
  progress(
    `  ${target.label}: ${Math.round(figures.reqPerSec)} req/s, p50 ${figures.p50} ms, p99 ${figures.p99} ms, non-2xx ${figures.non2xx}, errors ${figures.errors}${scripts ? `, broken chains ${broken}` : ''}, CPU cores: server ${serverCores.toFixed(2)}, autocannon ${clientCores.toFixed(2)}, machine ${figures.machineCores.toFixed(2)}`,
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
