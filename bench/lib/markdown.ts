/** Markdown pieces shared by bench/RESULTS.md's sections (token service and gateway). */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { CONTENDED_CORES, type LoadFigures } from './load.js';
import type { Steadiness } from './steadiness.js';

export function machine(): { cpus: number; node: string; cpu: string } {
  let cpu = 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) cpu = line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // not Linux
  }
  return { cpus: availableParallelism(), node: process.version, cpu };
}

export const int = (n: number) => Math.round(n).toLocaleString('en-US');
export const ratio = (n: number, digits = 2) => `${n.toFixed(digits)}×`;
export const ms = (n: number) => `${n.toFixed(0)} ms`;
export const pct = (n: number) => `${n.toFixed(0)} %`;
export const cell = (s: string) => s.replace(/\|/g, '\\|');

export function table(head: string[], rows: string[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** Below this slowest/fastest second ratio the CPU itself is too unsteady to trust small differences. */
export const UNSTEADY = 0.85;

/** The Date, Machine, CPU steadiness and Command bullets every results section opens with. */
export function runLines(run: {
  date: Date;
  loadAverage: { before: number; after: number };
  steadiness: Steadiness;
  command: string;
}): string[] {
  const m = machine();
  return [
    `- Date: ${run.date.toISOString()}`,
    `- Machine: ${m.cpus} CPUs (nproc), ${m.cpu}, Node ${m.node}; 1-min load average ` +
      `${run.loadAverage.before.toFixed(2)} before, ${run.loadAverage.after.toFixed(2)} after the run`,
    `- CPU steadiness (single-threaded SHA-256 loop, 3 × 1 s before the run): ${run.steadiness.perSecond.map(int).join(', ')} ` +
      `hashes/s, slowest/fastest ${run.steadiness.minOverMax.toFixed(2)}` +
      (run.steadiness.minOverMax < UNSTEADY
        ? ' — **the CPU itself is unsteady (shared/throttled VM); treat differences below ~20% as noise**'
        : ''),
    `- Command: \`${run.command}\` (from the repository root)`,
    '- Programs: every process under load runs a bundle under plain node (bench/lib/compiled.ts, built from the tree ' +
      'at the start of the run): Gatehouse as its production build (`npm run build`: packages/server/dist/gatehouse.mjs, ' +
      'what the Docker image runs), the peers under bench/peers and the fixed-rate load generator alike; no TypeScript ' +
      'loader (tsx) in any of them.',
  ];
}

/** How a load table shows latency and whether it has an upstream CPU column. */
export interface LoadColumns {
  latency: (ms: number) => string;
  upstream: boolean;
}

/** The headings of a load run's cells ({@link loadCells}), from req/s to non-2xx. */
export function loadHead(columns: LoadColumns): string[] {
  return [
    'req/s (mean)',
    'req/s by round',
    'any 1 s, min–max',
    'p50',
    'p99 (by round)',
    'server CPU (cores)',
    'req per server CPU-s',
    ...(columns.upstream ? ['upstream CPU (cores)'] : []),
    'load generator CPU (cores)',
    'machine busy (cores)',
    'requests',
    'non-2xx',
  ];
}

/** One load run's cells, under {@link loadHead}. */
export function loadCells(f: LoadFigures, columns: LoadColumns): string[] {
  return [
    int(f.reqPerSec),
    f.rounds
      .map((r, i) => `${int(r)}${(f.roundOtherCores[i] ?? 0) > CONTENDED_CORES ? '*' : ''}`)
      .join(' / '),
    `${int(f.minPerSec)}–${int(f.maxPerSec)}`,
    columns.latency(f.p50),
    f.roundP99.length > 1
      ? `${columns.latency(f.p99)} (${f.roundP99.map(columns.latency).join(' / ')})`
      : columns.latency(f.p99),
    f.serverCores.toFixed(2),
    int(f.reqPerSec / f.serverCores),
    ...(columns.upstream ? [f.upstreamCores.toFixed(2)] : []),
    f.clientCores.toFixed(2),
    `${f.machineCores.toFixed(2)}${f.stealCores >= 0.05 ? ` (+${f.stealCores.toFixed(2)} steal)` : ''}`,
    int(f.requests),
    String(f.non2xx),
  ];
}

/** What a `*` after a round's req/s means (see {@link loadCells}). */
export const CONTENDED_ROUND_NOTE =
  `- \`*\` after a round's req/s: during that round (the least disturbed of its attempts) other work on the machine ` +
  `took more than ${CONTENDED_CORES} core, so that round is likely depressed, and the mean with it.`;

/** True when any round of any of `figures` carries a `*`. */
export function anyContendedRound(figures: readonly LoadFigures[]): boolean {
  return figures.some((f) => f.roundOtherCores.some((c) => c > CONTENDED_CORES));
}
