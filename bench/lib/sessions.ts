/**
 * User sessions for the refresh and token-exchange scenarios: where each server's refresh
 * families come from, the per-connection refresh chains the load generator drives, and the checks
 * (before any load) that both servers really rotate and that Gatehouse really exchanges.
 */
import { randomBytes } from 'node:crypto';
import type { ScriptSet } from './load.js';
import type { ServerProcess } from './processes.js';
import {
  ADMIN_CLIENT,
  type Answer,
  basicAuth,
  decodeJwtHeader,
  EXCHANGE_AUDIENCE,
  EXCHANGE_CLIENT,
  fetchToken,
  GATEHOUSE_REUSE_GRACE_MS,
  post,
  postForm,
  TOKEN_PATH,
} from './servers.js';

/** Gatehouse's first-party login client (login.client_id): public, identified by client_id alone. */
export const LOGIN_CLIENT = 'gatehouse-login';
/** The public refresh client in bench/peers/oidc-provider-server.ts. */
export const PEER_REFRESH_CLIENT = 'bench-refresh';
/** bench/peers/oidc-provider-server.ts: bench-only endpoint that starts grants (`?count=N`). */
export const PEER_MINT_PATH = '/bench/refresh-tokens';

const USERNAME = 'bench-user';
const LOGIN_PATH = '/auth/login';
/** Logins in flight at once: argon2id runs on the threadpool, the machine has few cores, and a login reserves a throttle slot (login.max_attempts) until it ends. */
const LOGIN_CONCURRENCY = 2;

/** Where a server's refresh families come from, and the client that refreshes them. */
export interface RefreshSource {
  server: ServerProcess;
  clientId: string;
  /** How long a superseded token, replayed, still gets the current one instead of ending the family. */
  graceMs: number;
  /** Starts `count` families (one login or grant each) and answers each one's first refresh token. */
  begin(count: number): Promise<string[]>;
}

export function refreshBody(clientId: string, token: string): string {
  return `grant_type=refresh_token&client_id=${encodeURIComponent(clientId)}&refresh_token=${encodeURIComponent(token)}`;
}

function refresh(source: RefreshSource, token: string): Promise<Answer> {
  return postForm(source.server.baseUrl + TOKEN_PATH, undefined, refreshBody(source.clientId, token));
}

function fail(server: ServerProcess, what: string, answer?: Answer): never {
  const detail = answer ? `: answered ${answer.status} ${JSON.stringify(answer.json)}` : '';
  throw new Error(`${server.name}: ${what}${detail}`);
}

/** `json[key]` when it is a string, else a loud failure. */
function stringField(server: ServerProcess, answer: Answer, key: string, what: string): string {
  const value = answer.json[key];
  if (answer.status !== 200 || typeof value !== 'string') fail(server, `${what} gave no ${key}`, answer);
  return value;
}

/** Runs `task` `count` times, at most `limit` at once, answers in order. */
async function inBatches<T>(count: number, limit: number, task: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  while (out.length < count) {
    const size = Math.min(limit, count - out.length);
    out.push(...(await Promise.all(Array.from({ length: size }, task))));
  }
  return out;
}

/** A Gatehouse user, with the native login (`delivery: body`) that starts one family per call. */
export interface GatehouseUser {
  source: RefreshSource;
  /** One login: an access token (aud login.audience) and the first refresh token of a new family. */
  login(): Promise<{ accessToken: string; refreshToken: string }>;
}

/** Creates the benchmark's user through the admin API (bearer token of {@link ADMIN_CLIENT}). */
export async function gatehouseUser(server: ServerProcess, secret: string): Promise<GatehouseUser> {
  const admin = await fetchToken(
    server,
    ADMIN_CLIENT,
    secret,
    'grant_type=client_credentials&scope=gatehouse%3Aadmin',
  );
  const password = randomBytes(24).toString('base64url');
  const created = await post(
    `${server.baseUrl}/admin/v1/users`,
    { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    JSON.stringify({ username: USERNAME, password, roles: ['bench'] }),
  );
  if (created.status !== 201 && created.status !== 200) fail(server, 'creating the user failed', created);
  const body = JSON.stringify({ username: USERNAME, password, delivery: 'body' });
  const login = async () => {
    const answer = await post(server.baseUrl + LOGIN_PATH, { 'content-type': 'application/json' }, body);
    return {
      accessToken: stringField(server, answer, 'access_token', 'login'),
      refreshToken: stringField(server, answer, 'refresh_token', 'login'),
    };
  };
  const begin = async (count: number) =>
    (await inBatches(count, LOGIN_CONCURRENCY, login)).map((l) => l.refreshToken);
  return {
    source: { server, clientId: LOGIN_CLIENT, graceMs: GATEHOUSE_REUSE_GRACE_MS, begin },
    login,
  };
}

/** oidc-provider's families: grants minted by the peer's bench-only endpoint. */
export function oidcProviderRefreshSource(server: ServerProcess, secret: string): RefreshSource {
  const begin = async (count: number) => {
    const answer = await post(
      `${server.baseUrl}${PEER_MINT_PATH}?count=${count}`,
      { authorization: `Bearer ${secret}` },
      '',
    );
    const tokens = answer.json.refresh_tokens;
    if (answer.status !== 200 || !Array.isArray(tokens) || tokens.length !== count)
      fail(server, `minting ${count} refresh tokens failed`, answer);
    return tokens as string[];
  };
  return { server, clientId: PEER_REFRESH_CLIENT, graceMs: 0, begin };
}

/**
 * One script per connection, each on a family of its own: every request presents the refresh
 * token the previous answer returned, so no token is ever presented twice. A 200 without a new
 * refresh token (or with the one just presented) breaks the chain.
 */
export function refreshChains(source: RefreshSource): (connections: number) => Promise<ScriptSet> {
  return async (connections) => ({
    scripts: (await source.begin(connections)).map((first) => {
      let token = first;
      return {
        body: () => refreshBody(source.clientId, token),
        onResponse: (status, body) => {
          if (status !== 200) return true; // counted as non-2xx
          let next: unknown;
          try {
            next = (JSON.parse(body) as { refresh_token?: unknown }).refresh_token;
          } catch {
            return false;
          }
          if (typeof next !== 'string' || next === token) return false;
          token = next;
          return true;
        },
      };
    }),
  });
}

/**
 * Checks a server rotates before its refresh is measured, so the comparison is between equals:
 * r0 → r1 → r2, each answer a new refresh token and an ES256 JWT access token; then, once the
 * server's grace window for superseded tokens has passed (none on oidc-provider), r0 again must be
 * refused as reuse, and that reuse must end the family, so r2 is refused too.
 */
export async function assertRotates(source: RefreshSource): Promise<void> {
  const { server } = source;
  const [r0] = await source.begin(1);
  if (!r0) return fail(server, 'no refresh token to start with');
  const chain = [r0];
  for (let i = 0; i < 2; i++) {
    const answer = await refresh(source, chain[chain.length - 1] as string);
    const next = stringField(server, answer, 'refresh_token', 'a refresh');
    const access = stringField(server, answer, 'access_token', 'a refresh');
    if (chain.includes(next)) fail(server, 'a refresh answered a refresh token it had already issued');
    const header = decodeJwtHeader(access);
    if (header.alg !== 'ES256')
      fail(server, `refresh: expected an ES256 JWT access token, got header ${JSON.stringify(header)}`);
    chain.push(next);
  }
  if (source.graceMs > 0) await new Promise((resolve) => setTimeout(resolve, source.graceMs + 250));
  const reused = await refresh(source, r0);
  if (reused.status !== 400 || reused.json.error !== 'invalid_grant')
    fail(server, 'replaying a rotated refresh token was not refused', reused);
  const after = await refresh(source, chain[2] as string);
  if (after.status !== 400) fail(server, 'the family survived the reuse of one of its tokens', after);
}

export const EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** RFC 8693 request of {@link EXCHANGE_CLIENT}: the user's token for one addressed to {@link EXCHANGE_AUDIENCE}. */
export function exchangeBody(subjectToken: string): string {
  return new URLSearchParams({
    grant_type: EXCHANGE_GRANT,
    subject_token: subjectToken,
    subject_token_type: ACCESS_TOKEN_TYPE,
    audience: EXCHANGE_AUDIENCE,
    scope: 'read',
  }).toString();
}

/** One exchange, checked: 200, an ES256 JWT for the downstream audience, acting as the client. */
export async function assertExchanges(server: ServerProcess, secret: string, subject: string): Promise<void> {
  const answer = await postForm(
    server.baseUrl + TOKEN_PATH,
    basicAuth(EXCHANGE_CLIENT, secret),
    exchangeBody(subject),
  );
  const token = stringField(server, answer, 'access_token', 'token exchange');
  if (answer.json.issued_token_type !== ACCESS_TOKEN_TYPE)
    fail(server, 'token exchange: wrong issued_token_type', answer);
  const [head = '', body = ''] = token.split('.');
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as {
    aud?: unknown;
    act?: { sub?: unknown };
    scope?: unknown;
  };
  if (
    decodeJwtHeader(head).alg !== 'ES256' ||
    !(
      claims.aud === EXCHANGE_AUDIENCE ||
      (Array.isArray(claims.aud) && claims.aud.includes(EXCHANGE_AUDIENCE))
    ) ||
    claims.act?.sub !== EXCHANGE_CLIENT ||
    claims.scope !== 'read'
  )
    fail(server, `token exchange: unexpected token ${JSON.stringify(claims)}`);
}
