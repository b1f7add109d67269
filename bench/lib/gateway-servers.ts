/**
 * What `npm run bench:gateway` runs: the upstream, the Gatehouse gateway in front of it, the bare
 * node:http + undici proxy and nginx, each in its own process on 127.0.0.1, plus the checks that
 * each really proxies to that upstream before it is loaded.
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'undici';
import { UPSTREAM_BODY, UPSTREAM_HEADERS_PATH } from '../peers/upstream-contract.js';
import type { MeasuredProcesses, ScriptSet } from './load.js';
import { childPids, freePort, makeTempDir, type ServerProcess, spawnServerOwning } from './processes.js';
import { basicAuth, decodeJwtHeader, FORM, spawnGatehouse, startPeer, TOKEN_PATH } from './servers.js';

/** The gateway's client: scope `read`, tokens for the upstream's service only. */
export const GATEWAY_CLIENT = 'bench';
/** The upstream's service name: the aud of client tokens and of the gateway's internal tokens. */
export const GATEWAY_SERVICE = 'urn:bench:api';
export const GATEWAY_TOKEN_BODY = `grant_type=client_credentials&scope=read&resource=${encodeURIComponent(GATEWAY_SERVICE)}`;
/** The route's rate limit: the schema's largest, so no benchmark run comes near it. */
export const GATEWAY_RATE_LIMIT = 1_000_000;
/** Every proxy is loaded on this path; the gateway routes the `/api` prefix. */
export const LOAD_PATH = '/api/x';
/** `typ` of the internal JWT the gateway sends upstream (packages/server/src/gateway/pipeline/mutate.ts). */
const INTERNAL_TYP = 'gatehouse-internal+jwt';

export const NGINX = process.env.BENCH_NGINX ?? '/usr/sbin/nginx';

export function nginxAvailable(): boolean {
  return existsSync(NGINX);
}

/** What the route file of the report shows and the config below writes. */
export function gatewayRouteYaml(upstreamUrl: string): string[] {
  return [
    '  routes:',
    '    - id: bench',
    '      match: { path: /api }',
    '      authenticate: [jwt]',
    '      authorize: { scopes: [read] }',
    `      rate_limit: { key: sub, limit: ${GATEWAY_RATE_LIMIT}, window: 60 }`,
    `      upstream: { service: ${JSON.stringify(GATEWAY_SERVICE)}, targets: [${JSON.stringify(upstreamUrl)}] }`,
  ];
}

/** bench/peers/upstream.ts: a fixed small body on every path, keep-alive. */
export function startUpstream(): Promise<ServerProcess> {
  return startPeer('upstream', 'upstream.ts', {}, '/');
}

/** bench/peers/bare-proxy.ts in front of `upstreamUrl`. */
export function startBareProxy(upstreamUrl: string): Promise<ServerProcess> {
  return startPeer('bare-proxy', 'bare-proxy.ts', { BENCH_UPSTREAM: upstreamUrl }, LOAD_PATH);
}

/**
 * The bare proxy making the gateway's header changes (bench/peers/bare-proxy.ts with
 * BENCH_GATEWAY_HEADERS=1): what the mandated mutations cost without the rest of the gateway.
 */
export function startHeaderProxy(upstreamUrl: string): Promise<ServerProcess> {
  return startPeer(
    'header-proxy',
    'bare-proxy.ts',
    { BENCH_UPSTREAM: upstreamUrl, BENCH_GATEWAY_HEADERS: '1' },
    LOAD_PATH,
  );
}

/** A proxy under load, and the processes its CPU is counted from (nginx: master and worker). */
export interface ProxyUnderTest {
  server: ServerProcess;
  /** Where the load goes (the gateway's port for Gatehouse, not the issuer's). */
  baseUrl: string;
  pids: MeasuredProcesses;
}

/**
 * Debian's nginx as a reverse proxy: one worker, a keep-alive upstream block, HTTP/1.1 upstream
 * with the Connection header cleared, no access log, every path inside a temp prefix (removed on
 * stop). keepalive_requests is raised on both sides so that, like the Node proxies, nginx never
 * closes a busy keep-alive connection during a run.
 */
export async function startNginx(upstreamPort: number): Promise<ServerProcess> {
  const port = await freePort();
  const prefix = makeTempDir('gatehouse-bench-nginx-');
  // Run as root, nginx's worker switches to an unprivileged user that must reach the temp paths.
  chmodSync(prefix, 0o755);
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi; uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  keepalive_requests 1000000;
  upstream bench_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  return spawnServerOwning(prefix, {
    name: 'nginx',
    command: NGINX,
    args: ['-p', prefix, '-e', join(prefix, 'error.log'), '-c', conf],
    cwd: prefix,
    env: process.env,
    baseUrl: `http://127.0.0.1:${port}`,
    readyPath: LOAD_PATH,
  });
}

/** nginx's CPU is its master's and its worker's. */
export function nginxProxy(server: ServerProcess, upstream: ServerProcess): ProxyUnderTest {
  return {
    server,
    baseUrl: server.baseUrl,
    pids: { server: [server.pid, ...childPids(server.pid)], upstream: [upstream.pid] },
  };
}

/**
 * Gatehouse with the gateway role: the issuer on a free port, the gateway on another, one route
 * (`/api`: jwt → scope `read` → rate limit per sub → `upstreamUrl`) and one client.
 */
export async function startGatehouseGateway(options: {
  secret: string;
  upstream: ServerProcess;
  cpuProfDir?: string;
}): Promise<ProxyUnderTest> {
  const gatewayPort = await freePort();
  const server = await spawnGatehouse(
    { secret: options.secret, ...(options.cpuProfDir !== undefined && { cpuProfDir: options.cpuProfDir }) },
    (digest) => [
      'clients:',
      `  - { id: ${GATEWAY_CLIENT}, secret_digest: "${digest}", scopes: [read], resources: [${JSON.stringify(GATEWAY_SERVICE)}] }`,
      'gateway:',
      `  port: ${gatewayPort}`,
      ...gatewayRouteYaml(options.upstream.baseUrl),
    ],
  );
  const baseUrl = `http://127.0.0.1:${gatewayPort}`;
  // /readyz is the issuer's: the gateway starts listening just after it.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const status = await fetch(baseUrl + LOAD_PATH, { signal: AbortSignal.timeout(2000) }).then(
      async (res) => {
        await res.arrayBuffer();
        return res.status;
      },
      () => 0,
    );
    if (status === 401) break;
    if (Date.now() > deadline) {
      await server.stop(2000);
      throw new Error(`gateway on ${baseUrl} not answering 401 without a token (last: ${status})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { server, baseUrl, pids: { server: [server.pid], upstream: [options.upstream.pid] } };
}

/** A Node process proxy (the bare proxy): its own process, plus the upstream. */
export function nodeProxy(server: ServerProcess, upstream: ServerProcess): ProxyUnderTest {
  return { server, baseUrl: server.baseUrl, pids: { server: [server.pid], upstream: [upstream.pid] } };
}

/**
 * `count` access tokens for the gateway's client from the issuer's token endpoint, asked
 * `concurrency` at a time over keep-alive, with progress on stderr. Fails on any non-200.
 */
export async function mintTokens(
  issuerUrl: string,
  secret: string,
  count: number,
  log: (line: string) => void,
  concurrency = 16,
): Promise<string[]> {
  const pool = new Pool(issuerUrl, { connections: concurrency, pipelining: 1 });
  const authorization = basicAuth(GATEWAY_CLIENT, secret);
  const tokens: string[] = new Array(count);
  let next = 0;
  const started = performance.now();
  let shown = started;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      const res = await pool.request({
        path: TOKEN_PATH,
        method: 'POST',
        headers: { authorization, 'content-type': FORM },
        body: GATEWAY_TOKEN_BODY,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      const text = await res.body.text();
      const token =
        res.statusCode === 200 ? (JSON.parse(text) as { access_token?: unknown }).access_token : undefined;
      if (typeof token !== 'string')
        throw new Error(`token endpoint answered ${res.statusCode}: ${text.slice(0, 200)}`);
      tokens[index] = token;
      const now = performance.now();
      if (now - shown >= 2000) {
        shown = now;
        log(
          `  minting tokens: ${index + 1}/${count} (${Math.round(((index + 1) * 1000) / (now - started))}/s)`,
        );
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await pool.close();
  }
  const seconds = (performance.now() - started) / 1000;
  log(`  minted ${count} tokens in ${seconds.toFixed(1)} s (${Math.round(count / seconds)}/s)`);
  return tokens;
}

/**
 * Scripts for a load where every request presents an access token never presented before: for a
 * run of `seconds`, `rate() × seconds × margin` tokens (plus two per connection) are minted first,
 * and the run is capped at that many requests, so a token is never reused and the pool never
 * runs dry (a dry pool would send a token the gateway refuses, failing the run loudly).
 */
export function uniqueTokens(
  mint: (count: number) => Promise<string[]>,
  rate: () => number,
  margin: number,
): (connections: number, seconds: number) => Promise<ScriptSet> {
  return async (connections, seconds) => {
    const tokens = await mint(Math.ceil(rate() * seconds * margin) + 2 * connections);
    let next = 0;
    const headers = () => ({ authorization: `Bearer ${tokens[next++] ?? 'token-pool-ran-dry'}` });
    return {
      scripts: Array.from({ length: connections }, () => ({ headers })),
      maxRequests: tokens.length - connections,
    };
  };
}

async function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  return { status: res.status, text: await res.text() };
}

/** The claims of a compact JWS, decoded (no verification). */
function jwtClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

/**
 * A proxy really forwards to the upstream: 200 with the upstream's body, and the upstream sees
 * the Authorization header as sent (the bare proxy and nginx pass it through).
 */
export async function assertProxies(proxy: ProxyUnderTest, token: string): Promise<void> {
  const name = proxy.server.name;
  const authorization = `Bearer ${token}`;
  const answer = await get(proxy.baseUrl + LOAD_PATH, { authorization });
  if (answer.status !== 200 || answer.text !== UPSTREAM_BODY)
    throw new Error(`${name}: ${LOAD_PATH} answered ${answer.status} ${answer.text.slice(0, 200)}`);
  const seen = await get(proxy.baseUrl + UPSTREAM_HEADERS_PATH, { authorization });
  const headers = JSON.parse(seen.text) as Record<string, unknown>;
  if (seen.status !== 200 || headers.authorization !== authorization)
    throw new Error(`${name}: the upstream did not get the request as sent: ${seen.text.slice(0, 300)}`);
}

/**
 * The gateway answers as configured: 401 with a Bearer challenge without a token; with a valid
 * token 200 with the upstream's body, and the upstream receives the gateway's internal JWT
 * (typ gatehouse-internal+jwt, aud the service, sub the client), never the client's token.
 */
export async function assertGatewayAnswers(proxy: ProxyUnderTest, token: string): Promise<void> {
  const url = proxy.baseUrl + LOAD_PATH;
  const anonymous = await fetch(url, { signal: AbortSignal.timeout(5000) });
  await anonymous.arrayBuffer();
  if (anonymous.status !== 401 || !/^Bearer/i.test(anonymous.headers.get('www-authenticate') ?? ''))
    throw new Error(
      `gateway: without a token ${LOAD_PATH} answered ${anonymous.status}, not a 401 Bearer challenge`,
    );
  const authorization = `Bearer ${token}`;
  const answer = await get(url, { authorization });
  if (answer.status !== 200 || answer.text !== UPSTREAM_BODY)
    throw new Error(
      `gateway: with a token ${LOAD_PATH} answered ${answer.status} ${answer.text.slice(0, 200)}`,
    );
  const seen = await get(proxy.baseUrl + UPSTREAM_HEADERS_PATH, { authorization });
  const headers = JSON.parse(seen.text) as Record<string, unknown>;
  const internal =
    typeof headers.authorization === 'string' ? headers.authorization.slice('Bearer '.length) : '';
  const claims = internal.split('.').length === 3 ? jwtClaims(internal) : {};
  if (
    seen.status !== 200 ||
    internal === token ||
    decodeJwtHeader(internal || 'e30').typ !== INTERNAL_TYP ||
    claims.aud !== GATEWAY_SERVICE ||
    claims.sub !== GATEWAY_CLIENT ||
    headers['x-gatehouse-sub'] !== GATEWAY_CLIENT
  )
    throw new Error(
      `gateway: the upstream did not get an internal token for ${GATEWAY_SERVICE}: ${seen.text.slice(0, 400)}`,
    );
}
