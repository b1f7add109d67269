/**
 * `npm run bench`: Gatehouse vs oidc-provider (client_credentials issuance, introspection, rotating
 * refresh) over HTTP on 127.0.0.1, Gatehouse's RFC 8693 token exchange, a bare node:http token
 * endpoint as the issuance ceiling, plus the in-process verify path; writes bench/RESULTS.md.
 *
 * Env: BENCH_DURATION (s, default 10), BENCH_WARMUP (2), BENCH_ROUNDS (2), BENCH_RETRIES (2), BENCH_CONNECTIONS (32),
 * BENCH_MAX_REQUESTS, BENCH_VERIFY_ROUND (0.5 s), BENCH_VERIFY_ROUNDS (5),
 * BENCH_PROFILE (auto | always | never). Smoke run: BENCH_DURATION=2 BENCH_WARMUP=1 BENCH_ROUNDS=1 npm run bench
 */
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { SigningAlgorithm } from '@gatehouse/core';
import { combineRounds, type LoadFigures, type LoadTarget, measure, measureClean } from './lib/load.js';
import type { ServerProcess } from './lib/processes.js';
import { summariseMainThread } from './lib/profile.js';
import {
  exchangeLine,
  type Goal,
  goalsTable,
  headroomLine,
  httpTable,
  type ProfileRun,
  type Report,
  renderMarkdown,
  type Scenario,
  type ScenarioFigures,
  verifyTable,
} from './lib/report.js';
import {
  assertActive,
  assertBaselineIssues,
  BASELINE,
  basicAuth,
  decodeJwtHeader,
  EXCHANGE_CLIENT,
  fetchToken,
  formHeaders,
  INTROSPECT_PATH,
  JWT_CLIENT,
  newSecret,
  OPAQUE_CLIENT,
  ROOT,
  type ServerName,
  startBareNodeHttp,
  startServer,
  TOKEN_BODY,
  TOKEN_PATH,
} from './lib/servers.js';
import {
  assertExchanges,
  assertRotates,
  exchangeBody,
  gatehouseUser,
  oidcProviderRefreshSource,
  refreshChains,
} from './lib/sessions.js';
import { RESULTS_FILE, writeTokenResults } from './lib/results-file.js';
import { commandLine, settingsFromEnv } from './lib/settings.js';
import { measureSteadiness } from './lib/steadiness.js';
import { benchVerify, type VerifyFigures } from './lib/verify-bench.js';

const settings = settingsFromEnv();
const ALGS: SigningAlgorithm[] = ['ES256', 'RS256', 'EdDSA'];

const log = (line: string) => process.stderr.write(`${line}\n`);

/** A token each client can get right now, checked to be what the scenario needs. */
async function preflight(server: ServerProcess, name: ServerName, secret: string): Promise<string> {
  const jwt = await fetchToken(server, JWT_CLIENT, secret);
  const header = decodeJwtHeader(jwt);
  if (header.alg !== 'ES256')
    throw new Error(`${name}: expected an ES256 JWT, got header ${JSON.stringify(header)}`);
  const opaque = await fetchToken(server, OPAQUE_CLIENT, secret);
  if (opaque.split('.').length === 3) throw new Error(`${name}: expected an opaque token, got a JWT`);
  if (name === 'gatehouse' && !opaque.startsWith('gatehouse_at_'))
    throw new Error(`${name}: opaque token lacks gatehouse_at_`);
  await assertActive(server, opaque, secret);
  return opaque;
}

/** A form POST load; `authorization` undefined for a public client. */
function formTarget(label: string, url: string, authorization: string | undefined, body: string): LoadTarget {
  return { label, url, headers: formHeaders(authorization), body };
}

function tokenTarget(server: ServerProcess, name: string, secret: string): LoadTarget {
  return formTarget(`${name} token`, server.baseUrl + TOKEN_PATH, basicAuth(JWT_CLIENT, secret), TOKEN_BODY);
}

/** The scenarios each server is loaded with, in this order on every start. */
const SCENARIOS: Record<ServerName, readonly Scenario[]> = {
  gatehouse: ['token', 'introspect', 'refresh', 'exchange'],
  'oidc-provider': ['token', 'introspect', 'refresh'],
};

interface Prepared {
  targets: Partial<Record<Scenario, LoadTarget>>;
  /**
   * Run right after a scenario's load: the token it presented on every request is still good.
   * (Right after, not at the end: oidc-provider's in-memory adapter is an LRU of 1000 entries,
   * so the refresh scenario's tokens push out an opaque token introspected before it.)
   */
  checks: Partial<Record<Scenario, () => Promise<void>>>;
}

/** Every scenario's load for one server, each checked first to answer what the scenario needs. */
async function prepare(server: ServerProcess, name: ServerName, secret: string): Promise<Prepared> {
  const opaque = await preflight(server, name, secret);
  const token = server.baseUrl + TOKEN_PATH;
  const targets: Partial<Record<Scenario, LoadTarget>> = {
    token: tokenTarget(server, name, secret),
    introspect: formTarget(
      `${name} introspect`,
      server.baseUrl + INTROSPECT_PATH,
      basicAuth(OPAQUE_CLIENT, secret),
      `token=${encodeURIComponent(opaque)}`,
    ),
  };
  const user = name === 'gatehouse' ? await gatehouseUser(server, secret) : undefined;
  const source = user ? user.source : oidcProviderRefreshSource(server, secret);
  await assertRotates(source);
  // The body comes from each connection's chain; the public client sends no credentials.
  targets.refresh = {
    ...formTarget(`${name} refresh`, token, undefined, ''),
    scripts: refreshChains(source),
  };
  const checks: Prepared['checks'] = { introspect: () => assertActive(server, opaque, secret) };
  if (user) {
    const subject = (await user.login()).accessToken;
    await assertExchanges(server, secret, subject);
    targets.exchange = formTarget(
      `${name} exchange`,
      token,
      basicAuth(EXCHANGE_CLIENT, secret),
      exchangeBody(subject),
    );
    checks.exchange = () => assertExchanges(server, secret, subject);
  }
  return { targets, checks };
}

function targetOf(prepared: Prepared, name: string, scenario: Scenario): LoadTarget {
  const target = prepared.targets[scenario];
  if (!target) throw new Error(`${name}: no ${scenario} scenario`);
  return target;
}

/** Starts one server, checks it answers correctly, loads each scenario, stops it. */
async function benchServer(name: ServerName): Promise<Partial<Record<Scenario, LoadFigures>>> {
  const secret = newSecret();
  log(`== ${name}: starting`);
  const server = await startServer(name, { secret });
  try {
    const prepared = await prepare(server, name, secret);
    const figures: Partial<Record<Scenario, LoadFigures>> = {};
    for (const scenario of SCENARIOS[name]) {
      figures[scenario] = await measureClean(targetOf(prepared, name, scenario), settings, server.pid, log);
      await prepared.checks[scenario]?.();
    }
    return figures;
  } finally {
    const code = await server.stop();
    log(`== ${name}: stopped (${code})`);
  }
}

/** Starts the bare node:http baseline, checks it issues real tokens, loads issuance, stops it. */
async function benchBaseline(): Promise<LoadFigures> {
  const secret = newSecret();
  log(`== ${BASELINE}: starting`);
  const server = await startBareNodeHttp({ secret });
  try {
    await assertBaselineIssues(server, secret);
    const token = await measureClean(tokenTarget(server, BASELINE, secret), settings, server.pid, log);
    await assertBaselineIssues(server, secret);
    return token;
  } finally {
    const code = await server.stop();
    log(`== ${BASELINE}: stopped (${code})`);
  }
}

/** Runs Gatehouse under --cpu-prof for one scenario and summarises the profile. */
async function profileScenario(scenario: Scenario, dir: string): Promise<ProfileRun> {
  const secret = newSecret();
  const profDir = join(dir, scenario);
  mkdirSync(profDir, { recursive: true });
  log(`\n== profiling gatehouse ${scenario} (node --cpu-prof)`);
  const server = await startServer('gatehouse', { secret, cpuProfDir: profDir });
  let figures: LoadFigures;
  try {
    const target = targetOf(await prepare(server, 'gatehouse', secret), 'gatehouse', scenario);
    figures = await measure({ ...target, label: `${target.label} (profiled)` }, settings, server.pid);
  } finally {
    // SIGTERM: Gatehouse shuts down gracefully and node writes the profile on exit.
    log(`== gatehouse (profiled): stopped (${await server.stop(30_000)})`);
  }
  return { scenario, figures, summary: summariseMainThread(profDir, ROOT, figures.window) };
}

async function main(): Promise<void> {
  const date = new Date();
  const loadBefore = loadavg()[0] ?? 0;
  log(
    `Gatehouse benchmark: ${settings.warmup} s warm-up + ${settings.duration} s per run, ` +
      `${settings.connections} connections; verify ${settings.verifyRounds} × ${settings.verifyRound} s`,
  );

  log('\n== CPU steadiness check (3 s)');
  const steadiness = measureSteadiness(3);
  log(
    `  sha256/s per second: ${steadiness.perSecond.join(', ')} (min/max ${steadiness.minOverMax.toFixed(2)})`,
  );

  log('\n== verify path (in-process)');
  const verify: VerifyFigures[] = [];
  for (const alg of ALGS) verify.push(await benchVerify(alg, settings));

  const runs: Record<ServerName, Partial<Record<Scenario, LoadFigures>>[]> = {
    gatehouse: [],
    'oidc-provider': [],
  };
  const baselineRuns: LoadFigures[] = [];
  // ABBA over three servers (A B C, C B A, ...), one at a time, so drift in machine speed hits all alike.
  const forward: (ServerName | typeof BASELINE)[] = ['gatehouse', 'oidc-provider', BASELINE];
  for (let round = 0; round < settings.rounds; round++) {
    const order = round % 2 === 0 ? forward : [...forward].reverse();
    for (const name of order) {
      log(`\n== round ${round + 1}/${settings.rounds}: ${name}`);
      if (name === BASELINE) baselineRuns.push(await benchBaseline());
      else runs[name].push(await benchServer(name));
    }
  }
  const combined = (name: ServerName, scenario: Scenario) =>
    combineRounds(runs[name].flatMap((r) => r[scenario] ?? []));
  const figuresOf = (scenario: Scenario): ScenarioFigures => ({
    gatehouse: combined('gatehouse', scenario),
    ...(SCENARIOS['oidc-provider'].includes(scenario) && { peer: combined('oidc-provider', scenario) }),
  });
  const http: Record<Scenario, ScenarioFigures> = {
    token: figuresOf('token'),
    introspect: figuresOf('introspect'),
    refresh: figuresOf('refresh'),
    exchange: figuresOf('exchange'),
  };
  /** Gatehouse req/s over oidc-provider's in a scenario both run. */
  const vsPeer = (scenario: Scenario) => {
    const { gatehouse, peer } = http[scenario];
    if (!peer) throw new Error(`oidc-provider does not run ${scenario}`);
    return gatehouse.reqPerSec / peer.reqPerSec;
  };
  const baseline = combineRounds(baselineRuns);

  const es256 = verify.find((v) => v.alg === 'ES256')!;
  const goal = (name: string, measured: number, target: number, scenario?: Scenario): Goal => ({
    name,
    measured,
    target,
    pass: measured >= target,
    ...(scenario ? { scenario } : {}),
  });
  const goals: Goal[] = [
    goal('Issuance: Gatehouse tokens/s vs oidc-provider', vsPeer('token'), 3, 'token'),
    goal('Introspection: Gatehouse req/s vs oidc-provider', vsPeer('introspect'), 2, 'introspect'),
    goal('Refresh: Gatehouse req/s vs oidc-provider', vsPeer('refresh'), 1, 'refresh'),
    goal('Verify ES256: verifyJwt vs raw node:crypto', es256.verifyJwt / es256.raw, 0.9),
  ];

  const toProfile: Scenario[] =
    settings.profile === 'never'
      ? []
      : settings.profile === 'always'
        ? [...SCENARIOS.gatehouse]
        : goals.filter((g) => !g.pass && g.scenario).map((g) => g.scenario!);
  const profiles: ProfileRun[] = [];
  const profileDir = join(ROOT, 'bench', 'results', `profile-${date.toISOString().replace(/[:.]/g, '-')}`);
  for (const scenario of toProfile) profiles.push(await profileScenario(scenario, profileDir));

  const report: Report = {
    date,
    loadAverage: { before: loadBefore, after: loadavg()[0] ?? 0 },
    steadiness,
    command: commandLine('bench'),
    settings,
    http,
    baseline,
    verify,
    goals,
    profiles,
    ...(profiles.length > 0 ? { profileDir: profileDir.slice(ROOT.length) } : {}),
  };
  writeTokenResults(renderMarkdown(report));
  process.stdout.write(
    `\n${goalsTable(report)}\n\n${headroomLine(report)}\n\n${exchangeLine(report)}\n\n${httpTable(report)}\n\n${verifyTable(report)}\n\nWrote ${RESULTS_FILE.slice(ROOT.length)}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`\nbenchmark failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
