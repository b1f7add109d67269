import { execFileSync } from 'node:child_process';
/** Benchmark knobs, from the environment so a quick smoke run is one variable away. */
export interface Settings {
  /** Measured seconds per load run (BENCH_DURATION, default 10). */
  duration: number;
  /**
   * Rounds per server (BENCH_ROUNDS, default 2), in ABBA order (Gatehouse, oidc-provider,
   * oidc-provider, Gatehouse, ...) so slow drift in machine speed hits both alike.
   */
  rounds: number;
  /** Re-measurements of a run during which other work used the CPU (BENCH_RETRIES, default 2). */
  retries: number;
  /** Warm-up seconds before each measured run (BENCH_WARMUP, default 2). */
  warmup: number;
  /** Concurrent connections (BENCH_CONNECTIONS, default 32). */
  connections: number;
  /** Hard cap on requests per run, so a run is bounded in count as well as time. */
  maxRequests: number;
  /** Seconds per verify microbench round (BENCH_VERIFY_ROUND, default 0.5). */
  verifyRound: number;
  /** Verify microbench rounds; the median is reported (BENCH_VERIFY_ROUNDS, default 5). */
  verifyRounds: number;
  /** CPU-profile Gatehouse: `auto` (only when below a goal), `always` or `never` (BENCH_PROFILE). */
  profile: 'auto' | 'always' | 'never';
  /**
   * Connections of the gateway benchmark's fixed-rate (latency) runs (BENCH_RATE_CONNECTIONS,
   * default 64): the most requests in flight at once, enough that a paced load (paced-load.ts)
   * does not wait for a connection while the server keeps up.
   */
  rateConnections: number;
}

function numberFromEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`${name} must be a number in [${min}, ${max}], got "${raw}"`);
  }
  return value;
}

export function settingsFromEnv(): Settings {
  const profile = process.env.BENCH_PROFILE ?? 'auto';
  if (profile !== 'auto' && profile !== 'always' && profile !== 'never') {
    throw new Error(`BENCH_PROFILE must be auto, always or never, got "${profile}"`);
  }
  return {
    duration: numberFromEnv('BENCH_DURATION', 10, 1, 300),
    rounds: Math.round(numberFromEnv('BENCH_ROUNDS', 2, 1, 20)),
    retries: Math.round(numberFromEnv('BENCH_RETRIES', 2, 0, 10)),
    warmup: numberFromEnv('BENCH_WARMUP', 2, 0, 60),
    connections: Math.round(numberFromEnv('BENCH_CONNECTIONS', 32, 1, 1024)),
    maxRequests: Math.round(numberFromEnv('BENCH_MAX_REQUESTS', 5_000_000, 1000, 100_000_000)),
    verifyRound: numberFromEnv('BENCH_VERIFY_ROUND', 0.5, 0.05, 30),
    verifyRounds: Math.round(numberFromEnv('BENCH_VERIFY_ROUNDS', 5, 1, 50)),
    profile,
    rateConnections: Math.round(numberFromEnv('BENCH_RATE_CONNECTIONS', 64, 1, 1024)),
  };
}

/** How this run was started: its BENCH_* overrides, then `npm run <script>`. */
export function commandLine(script: string): string {
  const overrides = Object.entries(process.env)
    .filter(([name, value]) => name.startsWith('BENCH_') && value !== undefined && value !== '')
    .map(([name, value]) => `${name}=${value}`)
    .sort();
  return [...overrides, `npm run ${script}`].join(' ');
}

/**
 * What code a run measured: HEAD's short hash and subject, and how many files under `paths` the
 * working tree changes on top of it (a benchmark of uncommitted code says so).
 */
export function codeVersion(cwd: string, paths: readonly string[] = ['packages']): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
  try {
    const head = git('log', '-1', '--format=%h %s');
    const changed = git('status', '--porcelain', '--', ...paths)
      .split('\n')
      .filter((l) => l !== '').length;
    const subject = head.length > 90 ? `${head.slice(0, 90)}…` : head;
    return (
      `HEAD \`${subject.replace(/`/g, "'")}\`` +
      (changed > 0
        ? ` plus ${changed} uncommitted file(s) under ${paths.join(', ')}/ (the working tree as it was)`
        : `, no uncommitted changes under ${paths.join(', ')}/`)
    );
  } catch {
    return 'unknown (not a git checkout)';
  }
}
