import { createPublicKey, type JsonWebKey, randomBytes, verify } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestSecret } from '../../packages/server/src/clients/client-secrets.js';
import { compiledScript, gatehouseProgram } from './compiled.js';
import { freePort, makeTempDir, type ServerProcess, spawnServer, spawnServerOwning } from './processes.js';

export const ROOT = new URL('../../', import.meta.url).pathname;

/** Client ids on both servers: `bench` gets ES256 JWTs, `bench-opaque` opaque tokens. */
export const JWT_CLIENT = 'bench';
export const OPAQUE_CLIENT = 'bench-opaque';
export const TOKEN_PATH = '/oauth2/token';
export const INTROSPECT_PATH = '/oauth2/introspect';
export const TOKEN_BODY = 'grant_type=client_credentials&scope=read';

/** Gatehouse only: holds `gatehouse:admin`, to create the benchmark's user through the admin API. */
export const ADMIN_CLIENT = 'bench-admin';
/** Gatehouse only: may exchange user tokens (aud {@link USER_AUDIENCE}) for {@link EXCHANGE_AUDIENCE}. */
export const EXCHANGE_CLIENT = 'bench-exchange';
/** `aud` of Gatehouse user access tokens (login.audience). */
export const USER_AUDIENCE = 'https://app.bench';
/** The downstream service exchanged tokens are for. */
export const EXCHANGE_AUDIENCE = 'https://orders.bench';
/**
 * Gatehouse's refresh.reuse_grace_ms (its default, set explicitly so the rotation check knows
 * it): a token superseded this recently, replayed from the same binding, gets the current token.
 */
export const GATEHOUSE_REUSE_GRACE_MS = 2000;

export type ServerName = 'gatehouse' | 'oidc-provider';

/** bench/peers/bare-node-http.ts: issuance only (client `bench`), the ceiling for any Node token endpoint. */
export const BASELINE = 'bare-node-http';
export const BASELINE_JWKS_PATH = '/.well-known/jwks.json';

export interface StartOptions {
  /** Shared by both clients. */
  secret: string;
  /** When set, Gatehouse runs under `node --cpu-prof --cpu-prof-dir=<dir>`. */
  cpuProfDir?: string;
}

/** `Authorization: Basic` for a client (RFC 6749 §2.3.1: id and secret form-urlencoded first). */
export function basicAuth(clientId: string, secret: string): string {
  const encode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return 'Basic ' + Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64');
}

/** The protected header of a compact JWS, decoded (no verification). */
export function decodeJwtHeader(token: string): Record<string, unknown> {
  const head = token.split('.')[0] ?? '';
  return JSON.parse(Buffer.from(head, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The part of a benchmark's Gatehouse config below `server`, `data_dir`, `log` and `keys`. */
export type GatehouseConfigLines = (digest: string) => string[];

/**
 * Starts Gatehouse from its production build (packages/server/dist/gatehouse.mjs, made from the
 * current sources) with a temp config and data dir (removed on stop): on `port`
 * (default a free one), logging warnings only, its keys sealed with a random KEK, plus `config`
 * (clients get `digest`, the secret's digest, as their `secret_digest`).
 */
export async function spawnGatehouse(
  options: StartOptions,
  config: GatehouseConfigLines,
  port?: number,
): Promise<ServerProcess> {
  const dataDir = makeTempDir('gatehouse-bench-');
  const serverPort = port ?? (await freePort());
  const configFile = join(dataDir, 'gatehouse.yaml');
  writeFileSync(
    configFile,
    [
      `server: { host: 127.0.0.1, port: ${serverPort} }`,
      `data_dir: ${JSON.stringify(dataDir)}`,
      'log: { level: warn }',
      'keys: { kek: { source: env, env: GATEHOUSE_KEK } }',
      ...config(digestSecret(options.secret)),
      '',
    ].join('\n'),
  );
  const nodeFlags = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : [];
  return spawnServerOwning(dataDir, {
    name: 'gatehouse',
    args: [...nodeFlags, gatehouseProgram(), '--config', configFile, 'start'],
    cwd: ROOT,
    env: { ...process.env, GATEHOUSE_KEK: randomBytes(32).toString('base64url') },
    baseUrl: `http://127.0.0.1:${serverPort}`,
    readyPath: '/readyz',
  });
}

/** Starts Gatehouse with the token service benchmark's clients. */
export function startGatehouse(options: StartOptions): Promise<ServerProcess> {
  return spawnGatehouse(options, (digest) => [
    'clients:',
    `  - { id: ${JWT_CLIENT}, secret_digest: "${digest}", scopes: [read], resources: [https://api.bench] }`,
    `  - { id: ${OPAQUE_CLIENT}, secret_digest: "${digest}", scopes: [read], access_token_format: opaque }`,
    `  - { id: ${ADMIN_CLIENT}, secret_digest: "${digest}", scopes: [gatehouse:admin] }`,
    `  - id: ${EXCHANGE_CLIENT}`,
    `    secret_digest: "${digest}"`,
    `    grant_types: [urn:ietf:params:oauth:grant-type:token-exchange]`,
    `    may_act: { subject_audiences: [${USER_AUDIENCE}], scopes: [read] }`,
    `    resources: [${EXCHANGE_AUDIENCE}]`,
    // User tokens outlive any run, so one subject token serves a whole exchange scenario.
    `login: { scopes: [read], audience: ${USER_AUDIENCE}, access_token_ttl: 3600 }`,
    `refresh: { reuse_grace_ms: ${GATEHOUSE_REUSE_GRACE_MS} }`,
  ]);
}

/** Starts a peer under bench/peers, bundled, in its own Node process, on a free port (BENCH_PORT). */
export async function startPeer(
  name: string,
  script: string,
  env: Record<string, string>,
  readyPath: string,
): Promise<ServerProcess> {
  const port = await freePort();
  return spawnServer({
    name,
    args: [compiledScript(`bench/peers/${script}`)],
    cwd: ROOT,
    env: { ...process.env, BENCH_PORT: String(port), ...env },
    baseUrl: `http://127.0.0.1:${port}`,
    readyPath,
  });
}

/** Starts bench/peers/oidc-provider-server.ts in its own process. */
export function startOidcProvider(options: StartOptions): Promise<ServerProcess> {
  return startPeer(
    'oidc-provider',
    'oidc-provider-server.ts',
    { BENCH_SECRET: options.secret },
    '/.well-known/openid-configuration',
  );
}

/** Starts bench/peers/bare-node-http.ts in its own process. */
export function startBareNodeHttp(options: StartOptions): Promise<ServerProcess> {
  return startPeer(BASELINE, 'bare-node-http.ts', { BENCH_SECRET: options.secret }, BASELINE_JWKS_PATH);
}

export function startServer(name: ServerName, options: StartOptions): Promise<ServerProcess> {
  return name === 'gatehouse' ? startGatehouse(options) : startOidcProvider(options);
}

export interface Answer {
  status: number;
  json: Record<string, unknown>;
}

/** One POST on loopback, its JSON answer parsed (a non-JSON answer is kept, cut short, as `raw`). */
export async function post(url: string, headers: Record<string, string>, body: string): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { raw: text.slice(0, 200) };
  }
  return { status: res.status, json };
}

export const FORM = 'application/x-www-form-urlencoded';

/** Headers of a form POST; `authorization` undefined for a public client. */
export function formHeaders(authorization: string | undefined): Record<string, string> {
  return { ...(authorization !== undefined && { authorization }), 'content-type': FORM };
}

export function postForm(url: string, authorization: string | undefined, body: string): Promise<Answer> {
  return post(url, formHeaders(authorization), body);
}

/** Gets one access token, failing loudly unless the server answered 200 with a token. */
export async function fetchToken(
  server: ServerProcess,
  clientId: string,
  secret: string,
  body = TOKEN_BODY,
): Promise<string> {
  const { status, json } = await postForm(server.baseUrl + TOKEN_PATH, basicAuth(clientId, secret), body);
  if (status !== 200 || typeof json.access_token !== 'string') {
    throw new Error(
      `${server.name}: token request for ${clientId} answered ${status}: ${JSON.stringify(json)}`,
    );
  }
  return json.access_token;
}

/** Introspects `token`, failing loudly unless the answer is 200 with active:true. */
export async function assertActive(server: ServerProcess, token: string, secret: string): Promise<void> {
  const { status, json } = await postForm(
    server.baseUrl + INTROSPECT_PATH,
    basicAuth(OPAQUE_CLIENT, secret),
    `token=${encodeURIComponent(token)}`,
  );
  if (status !== 200 || json.active !== true) {
    throw new Error(`${server.name}: introspection answered ${status}: ${JSON.stringify(json)}`);
  }
}

/**
 * Checks the bare node:http baseline is a real token endpoint, not a stub: a 200 with an ES256
 * `at+jwt` whose signature verifies against its JWKS and whose claims are right, and a 401 for a
 * wrong secret.
 */
export async function assertBaselineIssues(server: ServerProcess, secret: string): Promise<void> {
  const fail = (what: string) => {
    throw new Error(`${server.name}: ${what}`);
  };
  const token = await fetchToken(server, JWT_CLIENT, secret);
  const [head = '', body = '', sig = ''] = token.split('.');
  const header = decodeJwtHeader(token);
  if (header.alg !== 'ES256' || header.typ !== 'at+jwt')
    fail(`expected an ES256 at+jwt, got header ${JSON.stringify(header)}`);
  const res = await fetch(server.baseUrl + BASELINE_JWKS_PATH, { signal: AbortSignal.timeout(5000) });
  const { keys } = (await res.json()) as { keys: (JsonWebKey & { kid?: string })[] };
  const jwk = keys.find((k) => k.kid === header.kid);
  if (!jwk) return fail(`no JWKS key for kid ${String(header.kid)}`);
  const key = { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' as const };
  if (!verify('sha256', Buffer.from(`${head}.${body}`, 'latin1'), key, Buffer.from(sig, 'base64url')))
    fail('token signature does not verify');
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
  const now = Date.now() / 1000;
  if (
    claims.client_id !== JWT_CLIENT ||
    claims.sub !== JWT_CLIENT ||
    claims.scope !== 'read' ||
    claims.aud !== 'https://api.bench' ||
    claims.iss !== server.baseUrl ||
    typeof claims.jti !== 'string' ||
    typeof claims.iat !== 'number' ||
    typeof claims.exp !== 'number' ||
    claims.exp <= now ||
    Math.abs(claims.iat - now) > 60
  )
    fail(`unexpected claims ${JSON.stringify(claims)}`);
  const wrong = await postForm(server.baseUrl + TOKEN_PATH, basicAuth(JWT_CLIENT, `${secret}x`), TOKEN_BODY);
  if (wrong.status !== 401) fail(`a wrong secret answered ${wrong.status}, not 401`);
}
