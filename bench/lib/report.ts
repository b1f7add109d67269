import { CONTENDED_CORES, type LoadFigures, otherCores } from './load.js';
import {
  anyContendedRound,
  CONTENDED_ROUND_NOTE,
  cell,
  int,
  type LoadColumns,
  loadCells,
  loadHead,
  ms,
  pct,
  ratio,
  runLines,
  table,
  UNSTEADY,
} from './markdown.js';
import type { ProfileSummary } from './profile.js';
import type { Settings } from './settings.js';
import type { Steadiness } from './steadiness.js';
import type { VerifyFigures } from './verify-bench.js';

export type Scenario = 'token' | 'introspect' | 'refresh' | 'exchange';

/** Every HTTP scenario, in table order. */
export const SCENARIOS: readonly Scenario[] = ['token', 'introspect', 'refresh', 'exchange'];

export const SCENARIO_TITLES: Record<Scenario, string> = {
  token: 'client_credentials issuance (ES256 JWT)',
  introspect: 'introspection (opaque token)',
  refresh: 'refresh_token grant, rotating (ES256 JWT + new refresh token)',
  exchange: 'token exchange, RFC 8693 (ES256 JWT)',
};

/** One scenario's figures; `peer` (oidc-provider) absent where it has no such feature. */
export interface ScenarioFigures {
  gatehouse: LoadFigures;
  peer?: LoadFigures;
}

export interface Goal {
  name: string;
  measured: number;
  target: number;
  pass: boolean;
  /** The scenario to profile when the goal is missed (HTTP goals only). */
  scenario?: Scenario;
}

export interface ProfileRun {
  scenario: Scenario;
  figures: LoadFigures;
  summary: ProfileSummary;
}

export interface Report {
  date: Date;
  /** 1-minute load average before and after the run: other work on the machine skews figures. */
  loadAverage: { before: number; after: number };
  steadiness: Steadiness;
  command: string;
  settings: Settings;
  http: Record<Scenario, ScenarioFigures>;
  /** Issuance on bench/peers/bare-node-http.ts: the ceiling for any Node token endpoint here. */
  baseline: LoadFigures;
  verify: VerifyFigures[];
  goals: Goal[];
  profiles: ProfileRun[];
  profileDir?: string;
}

/** Gatehouse does durable work per token that the peers do not; the figures include it. */
const AUDIT_NOTE =
  '- Gatehouse writes a durable, hash-chained audit entry for every issued token before it answers (group-committed ' +
  'to SQLite here) — client_credentials, refresh and exchange alike; neither oidc-provider nor the bare baseline does. ' +
  'The issuance, refresh and exchange figures include that write.';

/** What each server does for one refresh request, so the refresh ratio is read for what it is. */
const REFRESH_NOTE =
  '- Refresh, per request. Both: public client identified by `client_id` alone (no secret checked), rotation on every ' +
  'use (the answer carries a new refresh token; the presented one is spent), one ES256 JWT access token signed, no ID ' +
  'token (no `openid` scope), scope `read`. Gatehouse: looks the token up by digest in SQLite, checks family, binding, ' +
  'lifetimes and generation, rotates by compare-and-set (a SQLite write), reads the user (disabled or deleted ends ' +
  'the family), signs, writes the audit entry. oidc-provider: finds the refresh token and its grant in its in-memory ' +
  'adapter, calls `findAccount` (an in-memory stub), marks the token consumed and saves its successor (in memory), ' +
  "signs. Its refresh tokens live in a small bench adapter (a Map, plus each grant's last 16 tokens for reuse detection, " +
  'O(1) per save) instead of the bundled development adapter, which rescans every token a grant ever had on each save and ' +
  'so would make each refresh of a long chain slower than the last; all its other models keep the bundled adapter. Before each server is loaded the benchmark checks that it rotates: r0 → r1 → r2, then r0 again must be ' +
  'refused (invalid_grant) and that reuse must end the family (r2 refused too). Gatehouse keeps a grace window ' +
  '(refresh.reuse_grace_ms, 2 s, its default) in which a superseded token replayed from the same binding gets the current ' +
  'token instead of ending the family (parallel tabs), so on Gatehouse the replay is made after that window; ' +
  'oidc-provider has no such window. The chains never replay, so the grace path is never taken under load.';

/** Informational, not a goal: how close Gatehouse issuance is to the bare node:http ceiling. */
export function headroomLine(report: Report): string {
  const { gatehouse, peer } = report.http.token;
  const ceiling = report.baseline.reqPerSec;
  return (
    `Issuance headroom: Gatehouse at ${pct((100 * gatehouse.reqPerSec) / ceiling)} of the bare node:http ceiling` +
    (peer ? `; 3 × oidc-provider would be ${pct((300 * peer.reqPerSec) / ceiling)} of that ceiling` : '')
  );
}

/** Informational, not a goal (oidc-provider has no token exchange): exchange next to plain issuance. */
export function exchangeLine(report: Report): string {
  const exchange = report.http.exchange.gatehouse.reqPerSec;
  const issuance = report.http.token.gatehouse.reqPerSec;
  return (
    `Token exchange: Gatehouse ${int(exchange)} req/s, ${ratio(exchange / issuance)} its own client_credentials ` +
    'issuance (the same signing and audit write, plus verifying the subject token and the may_act rules)'
  );
}

/** The headline table: figures, ratios and goals. Printed and written to RESULTS.md. */
export function goalsTable(report: Report): string {
  return table(
    ['Goal', 'Measured', 'Target', 'Result'],
    report.goals.map((g) => [
      g.name,
      ratio(g.measured),
      `≥ ${ratio(g.target)}`,
      g.pass ? '✅ pass' : '❌ FAIL',
    ]),
  );
}

/** The servers measured in a scenario, as table labels: the bare node:http baseline issues only. */
function serversOf(report: Report, scenario: Scenario): [string, LoadFigures][] {
  const { gatehouse, peer } = report.http[scenario];
  return [
    ['Gatehouse', gatehouse],
    ...(peer ? [['oidc-provider', peer] as [string, LoadFigures]] : []),
    ...(scenario === 'token' ? [['bare node:http', report.baseline] as [string, LoadFigures]] : []),
  ];
}

/** Whole milliseconds, no upstream: the token service tables. */
const COLUMNS: LoadColumns = { latency: ms, upstream: false };

export function httpTable(report: Report): string {
  const rows: string[][] = [];
  const perCpu = (f: LoadFigures) => f.reqPerSec / f.serverCores;
  for (const scenario of SCENARIOS) {
    const { gatehouse, peer } = report.http[scenario];
    for (const [name, f] of serversOf(report, scenario)) {
      rows.push([SCENARIO_TITLES[scenario], name, ...loadCells(f, COLUMNS)]);
    }
    const ratioRow = (label: string, other: LoadFigures) => [
      SCENARIO_TITLES[scenario],
      `**${label}**`,
      `**${ratio(gatehouse.reqPerSec / other.reqPerSec)}**`,
      '',
      '',
      '',
      '',
      '',
      ratio(perCpu(gatehouse) / perCpu(other)),
      '',
      '',
      '',
      '',
    ];
    if (peer) rows.push(ratioRow('Gatehouse / oidc-provider', peer));
    if (scenario === 'token') rows.push(ratioRow('Gatehouse / bare node:http', report.baseline));
  }
  return table(['Scenario', 'Server', ...loadHead(COLUMNS)], rows);
}

export function verifyTable(report: Report): string {
  return table(
    [
      'Alg',
      'raw node:crypto verify() ops/s',
      'verifyJwt ops/s',
      'jose jwtVerify ops/s',
      'verifyJwt / raw',
      'jose / raw',
    ],
    report.verify.map((v) => [
      v.alg,
      int(v.raw),
      int(v.verifyJwt),
      int(v.jose),
      `**${ratio(v.verifyJwt / v.raw)}**`,
      ratio(v.jose / v.raw),
    ]),
  );
}

/** One profiled run: top self time, self time by area, and Gatehouse's request path. */
export function profileSection(title: string, figures: LoadFigures, s: ProfileSummary): string {
  const lines = [
    `### ${title} — ${int(figures.reqPerSec)} req/s under the profiler`,
    '',
    `Profile: \`${s.file}\`. ${s.windowed ? 'Samples taken under load only' : 'Whole process life (start-up included)'}; ` +
      `busy ${int(s.busyMs)} ms of ${int(s.totalMs)} ms sampled (the rest idle). Percentages are of busy time.`,
    '',
    'Top self time (function + file):',
    '',
    table(
      ['#', 'Function', 'Where', 'Self ms', 'Self %'],
      s.topSelf.map((r, i) => [
        String(i + 1),
        cell(`\`${r.functionName}\``),
        cell(r.location),
        int(r.selfMs),
        `${r.selfPct.toFixed(1)}%`,
      ]),
    ),
    '',
    'Self time by area:',
    '',
    table(
      ['Area', 'Self ms', 'Self %'],
      s.areas.slice(0, 12).map((a) => [cell(a.area), int(a.selfMs), `${a.selfPct.toFixed(1)}%`]),
    ),
    '',
    'Gatehouse request path — inclusive time of functions in `packages/*/src` (synchronous part only: ' +
      'work resumed after an `await` is charged to `runMicrotasks`, so async store calls are under-counted here; ' +
      'see the self-time tables for them):',
    '',
    table(
      ['Function', 'Where', 'Total ms', 'Total %'],
      s.topGatehouse
        .slice(0, 12)
        .map((r) => [
          cell(`\`${r.functionName}\``),
          cell(r.location),
          int(r.totalMs),
          `${r.totalPct.toFixed(1)}%`,
        ]),
    ),
  ];
  return lines.join('\n');
}

/** Things in the CPU figures a reader should know before trusting the ratios. */
function measurementNotes(report: Report): string[] {
  const notes: string[] = [];
  for (const scenario of SCENARIOS) {
    for (const [name, f] of serversOf(report, scenario)) {
      const other = otherCores(f);
      if (other > CONTENDED_CORES) {
        notes.push(
          `- ${name}, ${SCENARIO_TITLES[scenario]}: the machine was busy ${f.machineCores.toFixed(2)} cores while server + ` +
            `autocannon used ${(f.serverCores + f.clientCores).toFixed(2)}; ~${other.toFixed(2)} core went to kernel networking ` +
            'or other work on the machine, so this figure may be depressed.',
        );
      }
      if (f.serverCores > 1.05) {
        notes.push(
          `- ${name}, ${SCENARIO_TITLES[scenario]}: the server used ${f.serverCores.toFixed(2)} cores, i.e. work ran off ` +
            'the main JS thread (libuv threadpool: async signing; oidc-provider signs tokens with async WebCrypto). Compare "req per server CPU-s" for efficiency.',
        );
      }
    }
  }
  if (anyContendedRound(SCENARIOS.flatMap((scenario) => serversOf(report, scenario).map(([, f]) => f))))
    notes.unshift(CONTENDED_ROUND_NOTE);
  notes.push(
    '- Why the bare node:http baseline matters: the 3× issuance goal compares against a ceiling set by the machine, not by ' +
      'Gatehouse — if bare node:http (parse, authenticate, sign, respond, nothing else) is itself below 3× oidc-provider, ' +
      'no full token service can reach 3× here.',
  );
  notes.push(AUDIT_NOTE, REFRESH_NOTE);
  if (report.steadiness.minOverMax < UNSTEADY) {
    notes.push(
      `- The CPU was unsteady before the run (single-thread loop slowest/fastest second ${report.steadiness.minOverMax.toFixed(2)}); ` +
        'rerun or raise BENCH_ROUNDS before concluding on a ratio near its goal.',
    );
  }
  return notes;
}

export function renderMarkdown(report: Report): string {
  const s = report.settings;
  const missed = report.goals.filter((g) => !g.pass);
  const parts = [
    '# Gatehouse benchmark results',
    '',
    ...runLines(report),
    `- Load: autocannon, ${s.connections} connections, pipelining 1; per server start: ${s.warmup} s warm-up + ${s.duration} s measured ` +
      `per scenario; ${s.rounds} round(s) per server in ABBA order (Gatehouse, oidc-provider, bare node:http, then reversed…), ` +
      'each round a fresh process; servers never run at the same time (each is one Node process; autocannon runs in the ' +
      `benchmark process); requests capped at ${int(s.maxRequests)} per run. req/s (mean) = all 2xx / all measured seconds; ` +
      'p50 and p99 over every response of all rounds. A run during which other work took more than ' +
      `${CONTENDED_CORES} core is measured again (up to ${s.retries} times; the least disturbed attempt is kept). ` +
      'Server CPU = user+system time of the server process, all threads ' +
      '(libuv threadpool included), over wall time; req per server CPU-s = req/s ÷ that; machine busy = all CPU use on the machine ' +
      '(/proc/stat), so anything above server + autocannon is kernel networking or other work.',
    '- Bodies: token `grant_type=client_credentials&scope=read`, introspection `token=<opaque>`, both with `client_secret_basic`. ' +
      'oidc-provider 9 with its bundled in-memory adapter (refresh tokens aside, see the refresh note), defaultResource `https://api.bench`, ES256 JWT access tokens (opaque for `bench-opaque`). ' +
      'bare node:http (bench/peers/bare-node-http.ts, issuance only): node:http, URLSearchParams, Basic auth with a constant-time ' +
      'SHA-256 digest compare, RFC 9068 claims, ES256 via async node:crypto `sign()` — the ceiling for a Node token endpoint on this machine; ' +
      'its tokens are checked (signature against its JWKS, claims, 401 on a wrong secret) before and after each run.',
    '- Refresh: `grant_type=refresh_token&client_id=<public client>&refresh_token=<rt>`, no client authentication on either side ' +
      '(Gatehouse `gatehouse-login`, its first-party login client; oidc-provider `bench-refresh` with `token_endpoint_auth_method: none`). ' +
      'Each autocannon connection owns one refresh family and presents the refresh token from its previous answer, so every ' +
      'request is a real rotation; fresh families are started before every run (warm-up and measured alike, outside the measured ' +
      'window): Gatehouse by native logins (`POST /auth/login`, `delivery: body`, argon2id) of one user created through the admin API, ' +
      'oidc-provider by a bench-only loopback endpoint of the peer (`POST /bench/refresh-tokens?count=N`) that saves a Grant ' +
      '(scope `read` at `https://api.bench`) and its first RefreshToken through its own models. oidc-provider runs with ' +
      '`rotateRefreshToken: true`.',
    '- Token exchange (Gatehouse only; oidc-provider 9 has no RFC 8693 grant): client `bench-exchange` (`client_secret_basic`) ' +
      "trades one logged-in user's access token (`subject_token_type` access_token, aud `https://app.bench`) for a token with " +
      '`audience=https://orders.bench&scope=read`; the same subject token on every request (exchange does not consume it), ' +
      'checked before (ES256, audience, `act.sub`, scope) and after the load.',
    `- Verify microbench: in-process, no HTTP, ${s.verifyRounds} rounds of ${s.verifyRound} s after a warm-up, median round; ` +
      'jose is awaited one call at a time (async WebCrypto).',
    '',
    '## Goals',
    '',
    goalsTable(report),
    '',
    headroomLine(report),
    '',
    exchangeLine(report),
    '',
    '## HTTP',
    '',
    httpTable(report),
    '',
    '## Verify path (ops/s)',
    '',
    verifyTable(report),
    '',
    '## Below-goal notes',
    '',
  ];
  if (missed.length === 0) {
    parts.push('All goals met.');
  } else {
    for (const g of missed) {
      parts.push(
        `- ${g.name}: measured ${ratio(g.measured)}, target ${ratio(g.target)} (${((100 * g.measured) / g.target).toFixed(0)}% of the goal).` +
          (g.scenario
            ? report.profiles.some((p) => p.scenario === g.scenario)
              ? ' Profiled below.'
              : ''
            : ' In-process path; see packages/core/src/jwt/verify*.ts.'),
      );
    }
  }
  const notes = measurementNotes(report);
  if (notes.length > 0) parts.push('', '## Measurement notes', '', ...notes);
  if (report.profiles.length > 0) {
    parts.push('', '## Where the time goes', '');
    if (report.profileDir) parts.push(`CPU profiles (\`node --cpu-prof\`) in \`${report.profileDir}\`.`, '');
    parts.push(
      report.profiles
        .map((p) => profileSection(`Gatehouse, ${SCENARIO_TITLES[p.scenario]}`, p.figures, p.summary))
        .join('\n\n'),
    );
  }
  parts.push('');
  return parts.join('\n');
}
