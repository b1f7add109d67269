/**
 * `npm run bench:gateway`: the Gatehouse gateway against a bare node:http + undici proxy and nginx,
 * all in front of the same upstream (bench/peers/upstream.ts) on 127.0.0.1, with one token on
 * every request and with a token never seen before on every request; ES256 verify ops/s for the
 * crypto-bound limit; the bare proxy and the gateway at a fixed rate of half the bare proxy's
 * saturation for latency. Writes its section of bench/RESULTS.md (between the gateway markers).
 *
 * Env: as `npm run bench` (BENCH_DURATION, BENCH_WARMUP, BENCH_ROUNDS, BENCH_RETRIES,
 * BENCH_CONNECTIONS, BENCH_MAX_REQUESTS, BENCH_VERIFY_ROUND, BENCH_VERIFY_ROUNDS, BENCH_PROFILE),
 * plus BENCH_RATE_CONNECTIONS (fixed-rate runs, default 8) and BENCH_NGINX (default /usr/sbin/nginx).
 * Smoke run: BENCH_DURATION=2 BENCH_WARMUP=1 BENCH_ROUNDS=1 npm run bench:gateway
 */
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import {
  cryptoBound,
  type GatewayGoal,
  type GatewayProfile,
  type GatewayReport,
  type FixedRate,
  fixedRateTables,
  goalsTable,
  type Mix,
  renderGatewaySection,
  repeatedTable,
  roundRatios,
  uniqueTable,
  verifyLine,
} from './lib/gateway-report.js';
import {
  assertGatewayAnswers,
  assertProxies,
  gatewayRouteYaml,
  LOAD_PATH,
  mintTokens,
  NGINX,
  nginxAvailable,
  nginxProxy,
  nodeProxy,
  type ProxyUnderTest,
  startBareProxy,
  startHeaderProxy,
  startGatehouseGateway,
  startNginx,
  startUpstream,
  uniqueTokens,
} from './lib/gateway-servers.js';
import { combineRounds, type LoadFigures, type LoadTarget, measure, measureClean } from './lib/load.js';
import { ratio } from './lib/markdown.js';
import type { ServerProcess } from './lib/processes.js';
import { summariseMainThread } from './lib/profile.js';
import { RESULTS_FILE, writeGatewayResults } from './lib/results-file.js';
import { newSecret, ROOT } from './lib/servers.js';
import { codeVersion, commandLine, settingsFromEnv } from './lib/settings.js';
import { gatehouseProgram } from './lib/compiled.js';
import { measureSteadiness } from './lib/steadiness.js';
import { benchVerify } from './lib/verify-bench.js';

const settings = settingsFromEnv();
/** Token pools are the repeated mix's rate × seconds × this (the unique mix is never faster). */
const POOL_MARGIN = 1.3;
/** The goals (issue): gateway vs bare proxy and vs the crypto-bound limit, and the added p99. */
const MIN_RATIO = 0.8;
const MAX_ADDED_P99_MS = 1;

const log = (line: string) => process.stderr.write(`${line}\n`);

type ServerName = 'gateway' | 'bare-proxy' | 'header-proxy' | 'nginx';

/** A request every proxy is loaded with: the same path and the same size of Authorization header. */
function target(
  proxy: ProxyUnderTest,
  label: string,
  token: string | undefined,
  extra: Partial<LoadTarget> = {},
) {
  return {
    label,
    url: proxy.baseUrl + LOAD_PATH,
    method: 'GET',
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    ...extra,
  } satisfies LoadTarget;
}

/** A run capped by its token pool must still have lasted its whole measured window. */
function assertWholeWindow(figures: LoadFigures, label: string): LoadFigures {
  if (figures.seconds < settings.duration - 0.5)
    throw new Error(
      `${label}: the run stopped after ${figures.seconds} s of ${settings.duration}: the token pool ran out ` +
        `(${figures.requests} requests); raise POOL_MARGIN in bench/gateway-run.ts`,
    );
  return figures;
}

/** Warnings and errors (pino level ≥ 40) a server wrote, by message, with their counts. */
function loggedProblems(server: ServerProcess, into: Map<string, number>): void {
  for (const line of server.output().split('\n')) {
    const level = /"level":(\d+)/.exec(line)?.[1];
    if (level === undefined || Number(level) < 40) continue;
    const msg = /"msg":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line.slice(0, 200);
    into.set(msg, (into.get(msg) ?? 0) + 1);
  }
}

interface GatewayRun {
  repeated: LoadFigures;
  unique: LoadFigures;
}

/** A started, checked gateway: a token it accepts, and more on demand. */
interface LiveGateway {
  proxy: ProxyUnderTest;
  token: string;
  mint: (count: number) => Promise<string[]>;
}

/**
 * Starts Gatehouse with the gateway (`title` in progress lines), checks it answers as configured
 * before and after `load`, keeps what it logged in `problems`, and stops it.
 */
async function withGateway<T>(
  title: string,
  upstream: ServerProcess,
  problems: Map<string, number>,
  load: (gateway: LiveGateway) => Promise<T>,
  cpuProfDir?: string,
): Promise<T> {
  const secret = newSecret();
  log(`== ${title}: starting`);
  const proxy = await startGatehouseGateway({
    secret,
    upstream,
    ...(cpuProfDir !== undefined && { cpuProfDir }),
  });
  try {
    const mint = (count: number) => mintTokens(proxy.server.baseUrl, secret, count, log);
    const [token] = await mint(1);
    if (token === undefined) throw new Error('no token minted');
    await assertGatewayAnswers(proxy, token);
    const result = await load({ proxy, token, mint });
    await assertGatewayAnswers(proxy, token);
    return result;
  } finally {
    loggedProblems(proxy.server, problems);
    // SIGTERM: Gatehouse shuts down gracefully (and, profiled, node writes the profile on exit).
    log(`== ${title}: stopped (${await proxy.server.stop(30_000)})`);
  }
}

/** The gateway with one token on every request, then a fresh token on every request. */
function benchGateway(
  upstream: ServerProcess,
  problems: Map<string, number>,
  sample: { token?: string },
): Promise<GatewayRun> {
  return withGateway('gatehouse gateway', upstream, problems, async ({ proxy, token, mint }) => {
    sample.token ??= token;
    const repeated = await measureClean(
      target(proxy, 'gateway, repeated token', token),
      settings,
      proxy.pids,
      log,
    );
    await assertGatewayAnswers(proxy, token);
    const label = 'gateway, unique tokens';
    const unique = assertWholeWindow(
      await measureClean(
        target(proxy, label, undefined, {
          scripts: uniqueTokens(mint, () => repeated.reqPerSec, POOL_MARGIN),
        }),
        settings,
        proxy.pids,
        log,
      ),
      label,
    );
    return { repeated, unique };
  });
}

/** Starts a plain proxy (bare or nginx), checks it forwards, loads it with `extra`, stops it. */
async function benchProxy(
  name: Exclude<ServerName, 'gateway'>,
  upstream: ServerProcess,
  token: string,
  extra: Partial<LoadTarget> = {},
): Promise<LoadFigures> {
  log(`== ${name}: starting`);
  const proxy =
    name === 'nginx'
      ? nginxProxy(await startNginx(Number(new URL(upstream.baseUrl).port)), upstream)
      : nodeProxy(
          await (name === 'header-proxy' ? startHeaderProxy : startBareProxy)(upstream.baseUrl),
          upstream,
        );
  try {
    await assertProxies(proxy, token);
    const figures = await measureClean(target(proxy, name, token, extra), settings, proxy.pids, log);
    await assertProxies(proxy, token);
    return figures;
  } finally {
    log(`== ${name}: stopped (${await proxy.server.stop()})`);
  }
}

/** The gateway with the repeated token at a fixed rate (the latency runs). */
function gatewayAtRate(
  upstream: ServerProcess,
  rate: number,
  problems: Map<string, number>,
): Promise<LoadFigures> {
  return withGateway('gatehouse gateway (fixed rate)', upstream, problems, ({ proxy, token }) =>
    measureClean(
      target(proxy, `gateway @ ${rate} req/s`, token, rateLimited(rate)),
      settings,
      proxy.pids,
      log,
    ),
  );
}

function rateLimited(rate: number): Partial<LoadTarget> {
  return { pacedRate: rate, connections: settings.rateConnections };
}

/** The bare proxy and the gateway at `rate`, in ABBA order over the rounds, each round fresh processes. */
async function atFixedRate(
  rate: number,
  halfOf: string,
  upstream: ServerProcess,
  problems: Map<string, number>,
  token: string,
): Promise<FixedRate> {
  const runs = { bare: [] as LoadFigures[], gateway: [] as LoadFigures[] };
  for (let round = 0; round < settings.rounds; round++) {
    const order =
      round % 2 === 0 ? (['bare-proxy', 'gateway'] as const) : (['gateway', 'bare-proxy'] as const);
    for (const name of order) {
      log(`\n== fixed rate ${rate} req/s, round ${round + 1}/${settings.rounds}: ${name}`);
      if (name === 'gateway') runs.gateway.push(await gatewayAtRate(upstream, rate, problems));
      else runs.bare.push(await benchProxy('bare-proxy', upstream, token, rateLimited(rate)));
    }
  }
  return { rate, halfOf, bare: combineRounds(runs.bare), gateway: combineRounds(runs.gateway) };
}

/** The gateway under `node --cpu-prof` for one mix; its profile summarised over the measured run. */
async function profileGateway(
  mix: Mix,
  upstream: ServerProcess,
  problems: Map<string, number>,
  dir: string,
): Promise<GatewayProfile> {
  const profDir = join(dir, mix);
  mkdirSync(profDir, { recursive: true });
  log('');
  const figures = await withGateway(
    `gatehouse gateway, ${mix}, profiled (node --cpu-prof)`,
    upstream,
    problems,
    async ({ proxy, token, mint }) => {
      const repeated = target(proxy, 'gateway, repeated token (profiled)', token);
      if (mix === 'repeated') return measure(repeated, settings, proxy.pids);
      // The pool is sized from a pilot: the repeated mix under the same profiler.
      const pilot = await measure(
        { ...repeated, label: 'gateway, repeated token (pilot)' },
        settings,
        proxy.pids,
      );
      return measure(
        target(proxy, 'gateway, unique tokens (profiled)', undefined, {
          scripts: uniqueTokens(mint, () => pilot.reqPerSec, POOL_MARGIN),
        }),
        settings,
        proxy.pids,
      );
    },
    profDir,
  );
  return { mix, figures, summary: summariseMainThread(profDir, ROOT, figures.window) };
}

async function main(): Promise<void> {
  const date = new Date();
  // What is measured is the tree as it is now: Gatehouse is bundled from it at once, so edits
  // made while the run goes on are neither measured nor reported as measured.
  const code = codeVersion(ROOT);
  gatehouseProgram();
  const loadBefore = loadavg()[0] ?? 0;
  log(
    `Gatehouse gateway benchmark: ${settings.warmup} s warm-up + ${settings.duration} s per run, ` +
      `${settings.connections} connections (fixed rate: ${settings.rateConnections}), ${settings.rounds} round(s); ` +
      `verify ${settings.verifyRounds} × ${settings.verifyRound} s`,
  );
  log('\n== CPU steadiness check (3 s)');
  const steadiness = measureSteadiness(3);
  log(
    `  sha256/s per second: ${steadiness.perSecond.join(', ')} (min/max ${steadiness.minOverMax.toFixed(2)})`,
  );

  log('\n== verify path (in-process)');
  const verify = await benchVerify('ES256', settings);

  const nginxMissing = nginxAvailable()
    ? undefined
    : `nginx not found at ${NGINX} (apt-get install nginx, or set BENCH_NGINX)`;
  if (nginxMissing) log(`\n!!! SKIPPING the nginx row: ${nginxMissing}\n`);

  log('\n== upstream: starting');
  const upstream = await startUpstream();
  const problems = new Map<string, number>();
  const sample: { token?: string } = {};
  const gatewayRuns: GatewayRun[] = [];
  const bareRuns: LoadFigures[] = [];
  const headerRuns: LoadFigures[] = [];
  const nginxRuns: LoadFigures[] = [];
  const profiles: GatewayProfile[] = [];
  const profileDir = join(
    ROOT,
    'bench',
    'results',
    `gateway-profile-${date.toISOString().replace(/[:.]/g, '-')}`,
  );
  let report: GatewayReport;
  try {
    // ABBA (A B C, C B A, ...), one server at a time, so drift in machine speed hits all alike. The
    // gateway comes first: its token is the Authorization header the plain proxies pass through.
    const forward: ServerName[] = [
      'gateway',
      'bare-proxy',
      'header-proxy',
      ...(nginxMissing ? [] : (['nginx'] as const)),
    ];
    for (let round = 0; round < settings.rounds; round++) {
      const order = round % 2 === 0 ? forward : [...forward].reverse();
      for (const name of order) {
        log(`\n== round ${round + 1}/${settings.rounds}: ${name}`);
        if (name === 'gateway') gatewayRuns.push(await benchGateway(upstream, problems, sample));
        else {
          const figures = await benchProxy(name, upstream, sample.token!);
          (name === 'nginx' ? nginxRuns : name === 'header-proxy' ? headerRuns : bareRuns).push(figures);
        }
      }
    }
    const bare = combineRounds(bareRuns);
    const gateway = {
      repeated: combineRounds(gatewayRuns.map((r) => r.repeated)),
      unique: combineRounds(gatewayRuns.map((r) => r.unique)),
    };
    // The goal's rate, then one the gateway can hold: latency without its own saturation in it.
    const fixedRates: FixedRate[] = [];
    for (const [halfOf, saturation] of [
      ["the bare proxy's saturation", bare.reqPerSec],
      ["the gateway's own repeated-token saturation; informational", gateway.repeated.reqPerSec],
    ] as const) {
      fixedRates.push(
        await atFixedRate(Math.round(saturation / 2), halfOf, upstream, problems, sample.token!),
      );
    }
    const bound = cryptoBound(bare.reqPerSec, verify.verifyJwt);
    const [goalRate] = fixedRates as [FixedRate];
    const added = goalRate.gateway.p99 - goalRate.bare.p99;
    // A difference of two tails shows a 1 ms effect only if the same server's tail holds still
    // from one identical round to the next; here, the two servers' rounds are compared alike.
    const spread = (f: LoadFigures) => Math.max(...f.roundP99) - Math.min(...f.roundP99);
    const oneRound = goalRate.bare.roundP99.length < 2;
    const unsteady = oneRound || Math.max(spread(goalRate.bare), spread(goalRate.gateway)) > MAX_ADDED_P99_MS;
    const range = (f: LoadFigures) =>
      `${Math.min(...f.roundP99).toFixed(2)}–${Math.max(...f.roundP99).toFixed(2)} ms`;
    // Three digits where the goal is judged, so a ratio just under it never reads as the target;
    // and each ABBA round's own ratio, to show how far one run's noise reaches.
    const versus = (a: number, b: number, of: string, byRound: string) =>
      `${ratio(a / b, 3)} (${Math.round(a).toLocaleString('en-US')} vs ${Math.round(b).toLocaleString('en-US')} ${of}; by round ${byRound})`;
    const goals: GatewayGoal[] = [
      {
        name: 'Repeated token: gateway req/s vs the bare node:http + undici proxy',
        measured: versus(
          gateway.repeated.reqPerSec,
          bare.reqPerSec,
          'req/s',
          roundRatios(gateway.repeated, (i) => bare.rounds[i] ?? Number.NaN),
        ),
        target: `≥ ${ratio(MIN_RATIO)}`,
        pass: gateway.repeated.reqPerSec >= MIN_RATIO * bare.reqPerSec,
        mix: 'repeated',
      },
      {
        name: 'Unique tokens: gateway req/s vs the crypto-bound limit',
        measured: versus(
          gateway.unique.reqPerSec,
          bound,
          'req/s',
          roundRatios(gateway.unique, (i) => cryptoBound(bare.rounds[i] ?? Number.NaN, verify.verifyJwt)),
        ),
        target: `≥ ${ratio(MIN_RATIO)}`,
        pass: gateway.unique.reqPerSec >= MIN_RATIO * bound,
        mix: 'unique',
      },
      {
        name: `Added p99 at ${goalRate.rate.toLocaleString('en-US')} req/s (half the bare proxy's saturation), repeated token`,
        measured: `${added >= 0 ? '+' : '−'}${Math.abs(added).toFixed(2)} ms (${goalRate.gateway.p99.toFixed(2)} vs ${goalRate.bare.p99.toFixed(2)} ms)`,
        target: `≤ ${MAX_ADDED_P99_MS.toFixed(2)} ms`,
        pass: added <= MAX_ADDED_P99_MS && !unsteady,
        ...(unsteady && {
          undecided: oneRound
            ? 'not measurable in one round: how steady a tail is takes two or more (BENCH_ROUNDS)'
            : `not measurable in this run: round p99s ranged ${range(goalRate.bare)} (bare proxy) and ` +
              `${range(goalRate.gateway)} (gateway), wider than the ${MAX_ADDED_P99_MS} ms to be judged`,
        }),
      },
    ];

    const toProfile: Mix[] =
      settings.profile === 'never'
        ? []
        : settings.profile === 'always'
          ? ['repeated', 'unique']
          : [...new Set(goals.filter((g) => !g.pass).map((g) => g.mix ?? 'repeated'))];
    for (const mix of toProfile) profiles.push(await profileGateway(mix, upstream, problems, profileDir));

    report = {
      date,
      loadAverage: { before: loadBefore, after: loadavg()[0] ?? 0 },
      steadiness,
      command: commandLine('bench:gateway'),
      settings,
      route: gatewayRouteYaml('http://127.0.0.1:<upstream port>').map((l) => l.slice(2)),
      gateway,
      bare,
      headerProxy: combineRounds(headerRuns),
      ...(nginxRuns.length > 0 && { nginx: combineRounds(nginxRuns) }),
      ...(nginxMissing && { nginxMissing }),
      verify,
      cryptoBound: bound,
      fixedRates,
      code,
      goals,
      poolMargin: POOL_MARGIN,
      gatewayLog: [...problems].map(([msg, count]) => `${msg} (×${count})`),
      profiles,
      ...(profiles.length > 0 && { profileDir: profileDir.slice(ROOT.length) }),
    };
  } finally {
    log(`== upstream: stopped (${await upstream.stop()})`);
  }
  writeGatewayResults(renderGatewaySection(report));
  process.stdout.write(
    `\n${goalsTable(report)}\n\n${verifyLine(report)}\n\n${repeatedTable(report)}\n\n${uniqueTable(report)}\n\n` +
      `${fixedRateTables(report)}\n\nWrote the gateway section of ${RESULTS_FILE.slice(ROOT.length)}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`\ngateway benchmark failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
