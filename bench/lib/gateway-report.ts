/** The gateway section of bench/RESULTS.md (`npm run bench:gateway`), and its console summary. */
import { UPSTREAM_BODY } from '../peers/upstream-contract.js';
import { GATEWAY_RATE_LIMIT } from './gateway-servers.js';
import { CONTENDED_CORES, type LoadFigures, otherCores } from './load.js';
import {
  anyContendedRound,
  CONTENDED_ROUND_NOTE,
  int,
  type LoadColumns,
  loadCells,
  loadHead,
  ratio,
  runLines,
  table,
  UNSTEADY,
} from './markdown.js';
import type { ProfileSummary } from './profile.js';
import { profileSection } from './report.js';
import type { Settings } from './settings.js';
import type { Steadiness } from './steadiness.js';
import type { VerifyFigures } from './verify-bench.js';

export type Mix = 'repeated' | 'unique';

export const MIX_TITLES: Record<Mix, string> = {
  repeated: 'repeated token (one token on every request)',
  unique: 'unique tokens (a token never presented before on every request)',
};

export interface GatewayGoal {
  name: string;
  measured: string;
  target: string;
  pass: boolean;
  /** Why this run cannot judge the goal (its baseline too unsteady); such a goal is not passed. */
  undecided?: string;
  /** The gateway mix to profile when the goal is missed. */
  mix?: Mix;
}

export interface GatewayProfile {
  mix: Mix;
  figures: LoadFigures;
  summary: ProfileSummary;
}

/** The bare proxy and the gateway (repeated token) at one fixed rate. */
export interface FixedRate {
  rate: number;
  /** What the rate is half of, e.g. "the bare proxy's saturation". */
  halfOf: string;
  bare: LoadFigures;
  gateway: LoadFigures;
}

export interface GatewayReport {
  date: Date;
  loadAverage: { before: number; after: number };
  steadiness: Steadiness;
  command: string;
  settings: Settings;
  /** The route as configured (YAML lines, the upstream's port elided). */
  route: string[];
  gateway: Record<Mix, LoadFigures>;
  bare: LoadFigures;
  /** The bare proxy making the gateway's header changes (informational: what they cost alone). */
  headerProxy: LoadFigures;
  /** Undefined when nginx is not installed (the row is skipped, loudly). */
  nginx?: LoadFigures;
  nginxMissing?: string;
  verify: VerifyFigures;
  /** 1 / (1 / bare proxy req/s + 1 / verifyJwt ops/s). */
  cryptoBound: number;
  /**
   * The fixed-rate (latency) runs: first the goal's (half the bare proxy's saturation), then an
   * informational one at half the gateway's own (repeated-token) saturation.
   */
  fixedRates: FixedRate[];
  /** The code measured: HEAD and what the working tree changed on top of it. */
  code: string;
  goals: GatewayGoal[];
  /** Margin over the repeated-mix rate the unique mix's token pools are sized with. */
  poolMargin: number;
  /** Warnings and errors the gateway logged during its runs, deduplicated. */
  gatewayLog: string[];
  profiles: GatewayProfile[];
  profileDir?: string;
}

const signedMs = (n: number) => `${n >= 0 ? '+' : '−'}${Math.abs(n).toFixed(2)} ms`;
const cores = (n: number) => n.toFixed(2);

const HEADER_PROXY = "bare proxy + the gateway's header changes (informational)";

/** The crypto-bound limit: a proxy that did nothing but the bare proxy's work plus one verify. */
export function cryptoBound(proxyReqPerSec: number, verifyOps: number): number {
  return 1 / (1 / proxyReqPerSec + 1 / verifyOps);
}

export function goalsTable(report: GatewayReport): string {
  return table(
    ['Goal', 'Measured', 'Target', 'Result'],
    report.goals.map((g) => [
      g.name,
      g.undecided === undefined ? g.measured : `${g.measured}; ${g.undecided}`,
      g.target,
      g.undecided !== undefined ? '⚠️ not judged' : g.pass ? '✅ pass' : '❌ FAIL',
    ]),
  );
}

const COLUMNS: LoadColumns = { latency: (n) => `${n.toFixed(2)} ms`, upstream: true };
const LOAD_HEAD = ['Server', ...loadHead(COLUMNS)];

function loadRow(name: string, f: LoadFigures): string[] {
  return [name, ...loadCells(f, COLUMNS)];
}

/** A row of a ratio or a computed limit: the req/s column, and by round when given. */
function figureRow(name: string, value: string, byRound = ''): string[] {
  return [name, value, byRound, ...LOAD_HEAD.slice(3).map(() => '')];
}

/**
 * `f` over `against` round by round (the same index is the same ABBA round): how far one run's
 * noise reaches, beside the pooled ratio.
 */
export function roundRatios(f: LoadFigures, against: (round: number) => number): string {
  return f.rounds.map((r, i) => ratio(r / against(i))).join(' / ');
}

/** The servers of the saturation runs, as table labels. */
function saturated(report: GatewayReport): [string, LoadFigures][] {
  return [
    ['Gatehouse gateway, repeated token', report.gateway.repeated],
    ['Gatehouse gateway, unique tokens', report.gateway.unique],
    ['bare node:http + undici proxy', report.bare],
    [HEADER_PROXY, report.headerProxy],
    ...(report.nginx ? [['nginx', report.nginx] as [string, LoadFigures]] : []),
  ];
}

export function repeatedTable(report: GatewayReport): string {
  const { repeated } = report.gateway;
  return table(LOAD_HEAD, [
    loadRow('Gatehouse gateway', repeated),
    loadRow('bare node:http + undici proxy', report.bare),
    loadRow(HEADER_PROXY, report.headerProxy),
    ...(report.nginx ? [loadRow('nginx', report.nginx)] : []),
    figureRow(
      '**gateway / bare proxy**',
      `**${ratio(repeated.reqPerSec / report.bare.reqPerSec, 3)}**`,
      roundRatios(repeated, (i) => report.bare.rounds[i] ?? Number.NaN),
    ),
    figureRow('header proxy / bare proxy', ratio(report.headerProxy.reqPerSec / report.bare.reqPerSec)),
    figureRow('gateway / header proxy', ratio(repeated.reqPerSec / report.headerProxy.reqPerSec)),
    ...(report.nginx
      ? [
          figureRow('gateway / nginx', ratio(repeated.reqPerSec / report.nginx.reqPerSec)),
          figureRow('bare proxy / nginx', ratio(report.bare.reqPerSec / report.nginx.reqPerSec)),
        ]
      : []),
  ]);
}

export function uniqueTable(report: GatewayReport): string {
  const { unique, repeated } = report.gateway;
  return table(LOAD_HEAD, [
    loadRow('Gatehouse gateway', unique),
    figureRow(
      'crypto-bound limit = 1 / (1 / bare proxy req/s + 1 / verifyJwt ES256 ops/s)',
      int(report.cryptoBound),
    ),
    figureRow('**gateway / crypto-bound limit**', `**${ratio(unique.reqPerSec / report.cryptoBound, 3)}**`),
    figureRow('gateway unique / gateway repeated', ratio(unique.reqPerSec / repeated.reqPerSec)),
  ]);
}

export function fixedRateTable(run: FixedRate): string {
  const { bare, gateway } = run;
  const head = ['Server', 'target req/s', ...LOAD_HEAD.slice(1)];
  const row = (name: string, f: LoadFigures) => {
    const [first, ...rest] = loadRow(name, f);
    return [first!, int(run.rate), ...rest];
  };
  return table(head, [
    row('bare node:http + undici proxy', bare),
    row('Gatehouse gateway, repeated token', gateway),
    [
      '**added by the gateway**',
      '',
      '',
      '',
      '',
      `**${signedMs(gateway.p50 - bare.p50)}**`,
      `**${signedMs(gateway.p99 - bare.p99)}**`,
      ...head.slice(7).map(() => ''),
    ],
  ]);
}

const fixedRateTitle = (run: FixedRate) =>
  `Fixed rate: ${int(run.rate)} req/s (half ${run.halfOf}), repeated token`;

/** The fixed-rate tables, titled, for the console. */
export function fixedRateTables(report: GatewayReport): string {
  return report.fixedRates.map((run) => `${fixedRateTitle(run)}\n\n${fixedRateTable(run)}`).join('\n\n');
}

export function verifyLine(report: GatewayReport): string {
  const v = report.verify;
  return (
    `Verify ES256 (in-process, this benchmark's process): verifyJwt ${int(v.verifyJwt)} ops/s ` +
    `(raw node:crypto verify() ${int(v.raw)} ops/s, jose ${int(v.jose)} ops/s); ` +
    `crypto-bound limit = 1 / (1 / ${int(report.bare.reqPerSec)} + 1 / ${int(v.verifyJwt)}) = ${int(report.cryptoBound)} req/s`
  );
}

/** Things a reader should know before trusting the figures. */
function notes(report: GatewayReport): string[] {
  const out: string[] = [];
  const runs: [string, LoadFigures][] = [
    ...saturated(report),
    ...report.fixedRates.flatMap((r): [string, LoadFigures][] => [
      [`bare proxy at ${int(r.rate)} req/s`, r.bare],
      [`gateway at ${int(r.rate)} req/s`, r.gateway],
    ]),
  ];
  for (const [name, f] of runs) {
    const other = otherCores(f);
    if (other > CONTENDED_CORES) {
      out.push(
        `- ${name}: the machine was busy ${cores(f.machineCores)} cores while server + upstream + load generator used ` +
          `${cores(f.serverCores + f.upstreamCores + f.clientCores)}; ~${cores(other)} core went to kernel networking ` +
          'or other work on the machine on average over its rounds, so this figure may be depressed.',
      );
    }
  }
  if (anyContendedRound(runs.map(([, f]) => f))) out.unshift(CONTENDED_ROUND_NOTE);
  for (const run of report.fixedRates) {
    const short = (f: LoadFigures) => f.reqPerSec < 0.97 * run.rate;
    if (!short(run.bare) && !short(run.gateway)) continue;
    const saturation = report.gateway.repeated.reqPerSec;
    out.push(
      `- At ${int(run.rate)} req/s a server fell short of the rate (bare proxy ${int(run.bare.reqPerSec)}, gateway ` +
        `${int(run.gateway.reqPerSec)} req/s): it could not keep up, so its latency there is that of a saturated server` +
        (short(run.gateway) && saturation < run.rate
          ? ` — the gateway's own saturation with the repeated token (${int(saturation)} req/s) is below this rate.`
          : '.'),
    );
  }
  if (report.steadiness.minOverMax < UNSTEADY) {
    out.push(
      `- The CPU was unsteady before the run (single-thread loop slowest/fastest second ${report.steadiness.minOverMax.toFixed(2)}); ` +
        'rerun or raise BENCH_ROUNDS before concluding on a ratio near its goal.',
    );
  }
  out.push(
    `- Fixed-rate runs: an open-loop load paced evenly (bench/lib/paced-load.ts, as wrk2 paces), in a process of its own ` +
      "(so the benchmark's heap — the token pools — and its collections stay out of the latencies): request i is due at " +
      `start + i / rate, a 1 ms tick sends what has come due on one of ${report.settings.rateConnections} keep-alive ` +
      'connections, whatever is still unanswered, and each latency counts from the tick that sent it, a wait for a free ' +
      "connection included, so a server that falls behind shows it. autocannon's `overallRate` was not used: it lets each " +
      'connection send its share of a second back to back and then wait for the next second, bursts whose queueing it ' +
      `charges to the server. The saturation runs use autocannon with ${report.settings.connections} connections. On 2 ` +
      'cores the proxy, the upstream, the generator and kernel networking share the CPU, so a few ms of scheduling delay ' +
      'reach the p99 of every server alike; the added p99 is the difference of two such tails.',
    '- On a 2-core machine the proxy, the upstream and the load generator share the cores: each row is what the proxy reaches while ' +
      'the upstream and the load generator take their part (their CPU is in the table). A proxy that needs less CPU per ' +
      'request leaves more to the upstream and the load generator, so req per server CPU-s is the fairer efficiency figure.',
    '- Unique tokens: every request carries a token the gateway has never seen, so each one costs an ES256 verify (off ' +
      "the main thread: `verifyJwtAsync` on the gateway's BatchedVerifier, two worker threads that take the signatures " +
      'asked for in one event-loop turn as one message each), a ' +
      'revocation lookup, a verified-token cache insert and an identity built from the claims. The internal JWT is not ' +
      "signed again: its cache is keyed on the identity's content (sub, client, scopes…), the same for every token of the " +
      "bench's client. The crypto-bound limit counts the verify as if it ran on the proxy's one core; with the verify on " +
      'another thread a gateway could pass that limit where cores are free, but on 2 cores that thread shares the CPU ' +
      'with the main thread, the upstream and autocannon. Repeated token: the verified-token cache and the internal-token ' +
      'cache (kept while more than half its life remains) answer, and revocation is still checked on every request.',
    `- Token pools: before each unique-mix run (warm-up and measured alike, outside the measured window) ` +
      `rate × seconds × ${report.poolMargin} tokens are minted from \`POST /oauth2/token\` (16 at a time; rate = the repeated mix's ` +
      'req/s in the same process, an upper bound), and the run is capped at the pool size, so no token is presented twice.',
    `- The route's rate limit is ${int(GATEWAY_RATE_LIMIT)} per 60 s per sub, the largest the config schema allows ` +
      '(`gateway.routes[].rate_limit.limit` ≤ 1,000,000): every token here has the same sub, and no run comes near it; ' +
      'the limiter still counts every request (one atomic shared-cache step, `Cache.windowHit`).',
  );
  if (report.profiles.length > 0) {
    out.push(
      "- Profiles: V8's sampler records the main thread's stack on a wall clock, so on 2 busy cores the time the thread " +
        'spends descheduled is charged to where it stood — typically a syscall that wakes another thread or process ' +
        '(`writev` to a loopback socket; the async `sign()` dispatch waking a threadpool thread). "busy" is not-idle ' +
        'wall time, not CPU time; compare the server CPU column.',
    );
  }
  if (report.nginxMissing) out.push(`- **nginx row skipped: ${report.nginxMissing}.**`);
  if (report.gatewayLog.length > 0) {
    out.push(
      '- The gateway logged during its runs (warn and above, deduplicated):',
      ...report.gatewayLog.map((l) => `  - \`${l.replace(/`/g, "'")}\``),
    );
  }
  return out;
}

export function renderGatewaySection(report: GatewayReport): string {
  const s = report.settings;
  const parts = [
    '## Gateway: Gatehouse vs a bare node:http + undici proxy vs nginx',
    '',
    ...runLines(report),
    `- Code: ${report.code}`,
    `- Load: autocannon in the benchmark process, \`GET /api/x\` with \`Authorization: Bearer <ES256 JWT>\` (the same header ` +
      `size on every server; the bare proxy and nginx pass it through), ${s.connections} connections, pipelining 1, ` +
      `${s.warmup} s warm-up + ${s.duration} s measured per run, ${s.rounds} round(s) in ABBA order (gateway, bare proxy, ` +
      'header proxy, nginx, then reversed…), each round a fresh process per server; servers never run at the same time; requests capped ' +
      `at ${int(s.maxRequests)} per run. req/s (mean) = all 2xx / all measured seconds; p50 and p99 over every 2xx response ` +
      'of all rounds (pooled, unrounded). A run during which other work took more than ' +
      `${CONTENDED_CORES} core is measured again (up to ${s.retries} times; the least disturbed attempt is kept). Any ` +
      'non-2xx, error or timeout fails the run.',
    `- Upstream: bench/peers/upstream.ts, node:http with keep-alive answering a fixed ${UPSTREAM_BODY.length}-byte JSON body, one process ` +
      "for the whole run, behind every proxy alike. Each proxy is checked before it is loaded: 200 with the upstream's " +
      'body, and the upstream receives the request (the gateway: its internal JWT, typ `gatehouse-internal+jwt`, aud ' +
      "`urn:bench:api`, never the client's token; 401 with a Bearer challenge without a token).",
    '- Gatehouse: `gatehouse start` from the production build (issuer and gateway in one process), client `bench` (scope `read`, resources ' +
      '`[urn:bench:api]`), tokens from `POST /oauth2/token` with `grant_type=client_credentials&scope=read&resource=urn:bench:api` ' +
      '(Basic auth); the gateway on `gateway.port`, every other setting its default (internal token TTL 30 s, 1 % of allowed ' +
      'requests audited). The route:',
    '',
    '```yaml',
    ...report.route,
    '```',
    '',
    '- bare node:http + undici proxy: bench/peers/bare-proxy.ts — node:http, an undici Pool (64 connections, keep-alive), ' +
      'hop-by-hop headers dropped, the answer streamed back; no auth.',
    "- bare proxy + the gateway's header changes: the same program with `BENCH_GATEWAY_HEADERS=1`: it adds what the " +
      'gateway adds to an allowed request (X-Forwarded-Host/-Proto/-For, an X-Request-ID and a traceparent made per request ' +
      "by the gateway's own functions, X-Gatehouse-Sub/-Client-Id/-Scopes) and to its answer (X-Request-ID, RateLimit-Limit/" +
      "-Remaining/-Reset), but passes the client's Authorization through; no auth. Informational: what the issue's " +
      'mutations cost a proxy by themselves.',
    '- nginx: Debian nginx, `daemon off`, `worker_processes 1`, `upstream { server 127.0.0.1:<port>; keepalive 64; }`, ' +
      '`proxy_http_version 1.1`, `proxy_set_header Connection ""`, `access_log off`, temp paths in a temp prefix; ' +
      'keepalive_requests raised on both sides so it never closes a busy connection. Informational: not a goal.',
    `- Fixed rate: the bare proxy and the gateway (repeated token) at ${report.fixedRates.map((r) => `${int(r.rate)} req/s (half ${r.halfOf})`).join(' and at ')}, ` +
      `paced evenly (open loop, bench/lib/paced-load.ts), at most ${s.rateConnections} connections (BENCH_RATE_CONNECTIONS), ` +
      `${s.warmup} s warm-up + ${s.duration} s measured, ${s.rounds} round(s) ABBA.`,
    `- Verify: ${s.verifyRounds} rounds of ${s.verifyRound} s after a warm-up, median round (bench/lib/verify-bench.ts).`,
    '',
    '### Goals',
    '',
    goalsTable(report),
    '',
    verifyLine(report),
    '',
    `### Saturation, ${MIX_TITLES.repeated}`,
    '',
    repeatedTable(report),
    '',
    `### Saturation, ${MIX_TITLES.unique}`,
    '',
    uniqueTable(report),
    '',
    ...report.fixedRates.flatMap((run) => [`### ${fixedRateTitle(run)}`, '', fixedRateTable(run), '']),
    '### Measurement notes',
    '',
    ...notes(report),
  ];
  if (report.profiles.length > 0) {
    parts.push('', "### Where the gateway's time goes", '');
    if (report.profileDir) parts.push(`CPU profiles (\`node --cpu-prof\`) in \`${report.profileDir}\`.`, '');
    parts.push(
      report.profiles
        .map((p) => profileSection(`Gatehouse gateway, ${MIX_TITLES[p.mix]}`, p.figures, p.summary))
        .join('\n\n'),
    );
  }
  return parts.join('\n');
}
