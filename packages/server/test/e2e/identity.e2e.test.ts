/**
 * Black-box tests of the identity and token lifecycle over real HTTP: browser login with cookies
 * and CSRF, refresh rotation with reuse detection (and the 100-way race), brute-force protection,
 * native refresh with openid-client, RFC 8693 token exchange as governed delegation, and the
 * events on the bus. Runs on the embedded default and on PostgreSQL + Redis.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { auditChainKey } from '../../src/audit/audit-chain.js';
import { verifyAuditChain } from '../../src/audit/verify-audit.js';
import { digestSecret } from '../../src/clients/client-secrets.js';
import { storeBehind } from '../support/e2e-store.js';
import { type GatehouseProcess, startGatehouse } from '../support/gatehouse-process.js';
import { describeOnPostgresAndRedis, servers, sleep } from '../support/servers.js';

const KEK = randomBytes(32);
const secret = () => randomBytes(32).toString('base64url');
const SECRETS = {
  admin: secret(),
  web: secret(),
  orders: secret(),
  inventory: secret(),
  warehouse: secret(),
  reports: secret(),
};
const PASSWORD = 'correct horse battery staple';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const LOGIN_TTL = 120;
const GRACE_MS = 2000;
const ORDERS = 'https://orders.internal';
const INVENTORY = 'https://inventory.internal';
const PAYMENTS = 'https://payments.internal';
const WAREHOUSE = 'https://warehouse.internal';

function configWith(storage: Record<string, unknown> | undefined): Record<string, unknown> {
  const exchange = ['client_credentials', TOKEN_EXCHANGE];
  return {
    ...(storage && { storage }),
    keys: { kek: { source: 'env', env: 'GATEHOUSE_KEK' } },
    log: { level: 'info' },
    login: {
      audience: ORDERS,
      scopes: ['orders:read'],
      role_scopes: { shopper: ['orders:write', 'inventory:read', 'payments:charge'] },
      access_token_ttl: LOGIN_TTL,
    },
    refresh: { reuse_grace_ms: GRACE_MS },
    token_exchange: { max_delegation_depth: 2 },
    clients: [
      { id: 'admin', secret_digest: digestSecret(SECRETS.admin), scopes: ['gatehouse:admin'] },
      // a first-party web backend whose own tokens (1 h) may be exchanged by orders
      {
        id: 'web',
        secret_digest: digestSecret(SECRETS.web),
        scopes: ['inventory:read'],
        resources: [ORDERS],
        access_token_ttl: 3600,
      },
      {
        id: 'orders',
        secret_digest: digestSecret(SECRETS.orders),
        scopes: ['orders:read'],
        resources: [INVENTORY, PAYMENTS],
        grant_types: exchange,
        may_act: { subject_audiences: [ORDERS], scopes: ['inventory:read', 'payments:charge'] },
      },
      {
        id: 'inventory',
        secret_digest: digestSecret(SECRETS.inventory),
        scopes: ['gatehouse:introspect'],
        resources: [WAREHOUSE],
        grant_types: exchange,
        may_act: { subject_audiences: [INVENTORY], scopes: ['inventory:read'] },
        access_token_format: 'opaque',
        access_token_ttl: 60,
      },
      {
        id: 'warehouse',
        secret_digest: digestSecret(SECRETS.warehouse),
        resources: [INVENTORY],
        grant_types: exchange,
        may_act: { subject_audiences: [WAREHOUSE], scopes: ['inventory:read'] },
      },
      // no may_act: may not exchange
      { id: 'reports', secret_digest: digestSecret(SECRETS.reports), resources: [INVENTORY] },
    ],
  };
}

type Client = keyof typeof SECRETS;
/** Changes one character inside the signature (not the last, whose low bits are padding). */
const tamper = (jwt: string) => {
  const at = jwt.length - 10;
  return jwt.slice(0, at) + (jwt[at] === 'A' ? 'B' : 'A') + jwt.slice(at + 1);
};
const basic = (id: Client) => `Basic ${Buffer.from(`${id}:${SECRETS[id]}`).toString('base64')}`;
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
  cookies: Record<string, { value: string; attributes: string }>;
}

/** Parses `Set-Cookie` headers into name → value and attribute text. */
function cookiesOf(headers: Record<string, string | string[] | undefined>): Answer['cookies'] {
  const raw = headers['set-cookie'];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const out: Answer['cookies'] = {};
  for (const line of list) {
    const [pair = '', ...attributes] = line.split('; ');
    const eq = pair.indexOf('=');
    out[pair.slice(0, eq)] = { value: pair.slice(eq + 1), attributes: attributes.join('; ') };
  }
  return out;
}

function identitySuite(name: string, storage: () => Record<string, unknown> | undefined, redisBus?: string) {
  describe(`identity black-box (${name})`, () => {
    let gh: GatehouseProcess;
    let base: string;
    let adminAuth: Record<string, string>;
    let subscriber: Redis | undefined;
    const events: { topic: string; message: Record<string, unknown> }[] = [];
    /** One loopback source address per scenario that fails logins on purpose (per-IP throttling). */
    const agents = new Map<string, Agent>();
    const from = (address: string) => {
      let agent = agents.get(address);
      if (!agent) {
        agent = new Agent({ localAddress: address });
        agents.set(address, agent);
      }
      return agent;
    };

    const call = async (
      method: string,
      path: string,
      options: { body?: string; headers?: Record<string, string>; source?: string } = {},
    ): Promise<Answer> => {
      const res = await request(`${base}${path}`, {
        method: method as 'POST',
        ...(options.body !== undefined && { body: options.body }),
        headers: options.headers ?? {},
        ...(options.source !== undefined && { dispatcher: from(options.source) }),
      });
      const text = await res.body.text();
      return {
        status: res.statusCode,
        headers: res.headers as Answer['headers'],
        json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
        cookies: cookiesOf(res.headers as Answer['headers']),
      };
    };
    const origin = () => ({ origin: base });
    const json = { 'content-type': 'application/json' };
    const login = (
      username: string,
      password = PASSWORD,
      source?: string,
      extra: Record<string, unknown> = {},
    ) =>
      call('POST', '/auth/login', {
        body: JSON.stringify({ username, password, ...extra }),
        headers: { ...json, ...origin() },
        ...(source !== undefined && { source }),
      });
    const refresh = (
      refreshToken: string,
      csrf: string | undefined,
      headers: Record<string, string> = origin(),
    ) =>
      call('POST', '/auth/refresh', {
        headers: {
          ...headers,
          cookie: `gh_refresh=${refreshToken}`,
          ...(csrf !== undefined && { 'x-csrf-token': csrf }),
        },
      });
    const token = (fields: Record<string, string>, auth?: Client) =>
      call('POST', '/oauth2/token', {
        body: form(fields),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(auth !== undefined && { authorization: basic(auth) }),
        },
      });
    const introspect = async (value: string) =>
      (
        await call('POST', '/oauth2/introspect', {
          body: form({ token: value }),
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('inventory') },
        })
      ).json;
    const counter = async (series: string) => {
      const text = await (await request(`${base}/metrics`)).body.text();
      return Number(
        text
          .split('\n')
          .find((l) => l.startsWith(`${series} `))
          ?.split(' ')[1] ?? 0,
      );
    };
    const createUser = async (username: string, roles: string[] = ['shopper']) => {
      const res = await call('POST', '/admin/v1/users', {
        body: JSON.stringify({ username, password: PASSWORD, roles }),
        headers: { ...adminAuth, ...json },
      });
      assert.equal(res.status, 201, JSON.stringify(res.json));
      return (res.json.user as { id: string }).id;
    };
    /** Logs a fresh user in through the browser flow; returns their session. */
    const browserSession = async (username: string) => {
      const userId = await createUser(username);
      const res = await login(username);
      assert.equal(res.status, 200, JSON.stringify(res.json));
      return {
        userId,
        accessToken: res.json.access_token as string,
        csrf: res.json.csrf_token as string,
        refreshToken: res.cookies.gh_refresh?.value as string,
      };
    };

    before(async () => {
      gh = await startGatehouse(configWith(storage()), { GATEHOUSE_KEK: KEK.toString('base64url') });
      base = gh.baseUrl;
      const admin = await token({ grant_type: 'client_credentials', scope: 'gatehouse:admin' }, 'admin');
      adminAuth = { authorization: `Bearer ${admin.json.access_token as string}` };
      if (redisBus) {
        subscriber = new Redis(servers.redis.url);
        await subscriber.psubscribe(`${redisBus}*`);
        subscriber.on('pmessage', (_pattern: string, channel: string, text: string) => {
          events.push({ topic: channel.slice(redisBus.length), message: JSON.parse(text) });
        });
      }
    });
    after(async () => {
      subscriber?.disconnect();
      for (const agent of agents.values()) await agent.close();
      const output = gh.output();
      assert.equal(await gh.stop(), 0, 'graceful shutdown exits 0');
      assert.ok(!output.includes(PASSWORD), 'no password in logs');
      assert.ok(!/gatehouse_rt_[\w-]{43}/.test(output), 'no refresh token in logs');
      assert.ok(!/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/.test(output), 'no JWT in logs');
      for (const s of Object.values(SECRETS)) assert.ok(!output.includes(s), 'no client secret in logs');
    });

    test('login: access token in the body, refresh token in an HttpOnly SameSite=Strict cookie limited to /auth', async () => {
      const userId = await createUser('alice');
      const res = await login('Alice');
      assert.equal(res.status, 200);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.deepEqual(Object.keys(res.json).sort(), [
        'access_token',
        'csrf_token',
        'expires_in',
        'scope',
        'token_type',
      ]);
      assert.equal(res.json.expires_in, LOGIN_TTL);
      assert.equal(res.json.refresh_token, undefined, 'a browser never sees the refresh token in a body');
      const refreshCookie = res.cookies.gh_refresh;
      assert.match(refreshCookie?.value ?? '', /^gatehouse_rt_[\w-]{43}$/);
      const attributes = /^Path=\/auth; Max-Age=(\d+); HttpOnly; Secure; SameSite=Strict$/.exec(
        refreshCookie?.attributes ?? '',
      );
      assert.ok(attributes, refreshCookie?.attributes);
      // The family's remaining life: a second boundary may pass between its creation and the answer.
      assert.ok(
        [604_799, 604_800].includes(Number(attributes[1])),
        `Max-Age ${attributes[1]} is the 7-day family lifetime`,
      );
      const csrfCookie = res.cookies.gh_csrf;
      assert.equal(
        csrfCookie?.value,
        res.json.csrf_token,
        'the page can read the CSRF token back after a reload',
      );
      assert.ok(!csrfCookie?.attributes.includes('HttpOnly'));
      const claims = decodeJwt(res.json.access_token as string);
      assert.equal(claims.sub, userId);
      assert.equal(claims.aud, ORDERS);
      assert.equal(claims.client_id, 'gatehouse-login');
      assert.deepEqual(claims.roles, ['shopper']);
      assert.equal(typeof claims.sid, 'string');
      assert.equal(claims.scope, 'orders:read orders:write inventory:read payments:charge');
      assert.equal((await introspect(res.json.access_token as string)).active, true);
    });

    test('refresh: rotation on every use; the new cookie works, the access token is live', async () => {
      const s = await browserSession('bob');
      const first = await refresh(s.refreshToken, s.csrf);
      assert.equal(first.status, 200, JSON.stringify(first.json));
      const next = first.cookies.gh_refresh?.value as string;
      assert.notEqual(next, s.refreshToken);
      assert.equal(first.json.csrf_token, s.csrf, 'the CSRF token stays bound to the family');
      assert.equal(decodeJwt(first.json.access_token as string).sid, decodeJwt(s.accessToken).sid);
      const second = await refresh(next, s.csrf);
      assert.equal(second.status, 200);
      assert.equal((await introspect(second.json.access_token as string)).active, true);
    });

    test('attack: refresh without Origin, from a foreign Origin, without or with a wrong CSRF token — refused, nothing changes', async () => {
      const s = await browserSession('carol');
      const attempts: [string, Answer, number, string][] = [
        ['no Origin', await refresh(s.refreshToken, s.csrf, {}), 403, 'ERR_ORIGIN_NOT_ALLOWED'],
        [
          'foreign Origin',
          await refresh(s.refreshToken, s.csrf, { origin: 'https://evil.example' }),
          403,
          'ERR_ORIGIN_NOT_ALLOWED',
        ],
        ['no CSRF header', await refresh(s.refreshToken, undefined), 403, 'ERR_CSRF_INVALID'],
        ['wrong CSRF token', await refresh(s.refreshToken, 'x'.repeat(43)), 403, 'ERR_CSRF_INVALID'],
        [
          'no cookie',
          await call('POST', '/auth/refresh', { headers: { ...origin(), 'x-csrf-token': s.csrf } }),
          401,
          'ERR_REFRESH_INVALID',
        ],
        [
          'unknown token',
          await refresh(`gatehouse_rt_${'A'.repeat(43)}`, s.csrf),
          401,
          'ERR_REFRESH_INVALID',
        ],
      ];
      for (const [what, res, status, code] of attempts) {
        assert.equal(res.status, status, what);
        assert.equal(res.json.code, code, what);
        assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8', what);
        assert.equal(typeof res.json.detail, 'string', what);
      }
      assert.equal(
        attempts[1]?.[1].headers['access-control-allow-origin'],
        undefined,
        'no CORS for a foreign origin',
      );
      const still = await refresh(s.refreshToken, s.csrf);
      assert.equal(still.status, 200, 'the session was not harmed by the refused requests');
      const preflight = await call('OPTIONS', '/auth/refresh', {
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
      });
      assert.equal(preflight.status, 403);
    });

    test('attack: replaying a rotated refresh token ends the family; later tokens and its access tokens die too', async () => {
      const s = await browserSession('dave');
      const rotated = await refresh(s.refreshToken, s.csrf);
      const successor = rotated.cookies.gh_refresh?.value as string;
      const third = await refresh(successor, s.csrf);
      const latest = third.cookies.gh_refresh?.value as string;
      // the first token was superseded more than the grace window ago: reuse
      await sleep(GRACE_MS + 200);
      const replay = await refresh(s.refreshToken, s.csrf);
      assert.equal(replay.status, 401);
      assert.equal(replay.json.code, 'ERR_REFRESH_REUSED');
      assert.match(String(cookiesOf(replay.headers).gh_refresh?.attributes), /Max-Age=0/, 'cookies cleared');
      const afterwards = await refresh(latest, s.csrf);
      assert.equal(afterwards.status, 401, 'a token issued to the family later is rejected too');
      assert.equal(afterwards.json.code, 'ERR_REFRESH_INVALID');
      assert.deepEqual(await introspect(third.json.access_token as string), { active: false });
      assert.deepEqual(await introspect(s.accessToken), { active: false });
    });

    test('the immediately previous token after the grace window is reuse too', async () => {
      const s = await browserSession('erin');
      const rotated = await refresh(s.refreshToken, s.csrf);
      await sleep(GRACE_MS + 200);
      const late = await refresh(s.refreshToken, s.csrf);
      assert.equal(late.json.code, 'ERR_REFRESH_REUSED');
      assert.equal((await refresh(rotated.cookies.gh_refresh?.value as string, s.csrf)).status, 401);
    });

    test('100 parallel refreshes with one token (many tabs): all get the same successor, the family survives', async () => {
      const s = await browserSession('frank');
      const results = await Promise.all(Array.from({ length: 100 }, () => refresh(s.refreshToken, s.csrf)));
      const statuses = new Map<number, number>();
      for (const r of results) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      assert.deepEqual(
        [...statuses],
        [[200, 100]],
        JSON.stringify(results.find((r) => r.status !== 200)?.json),
      );
      const successors = new Set(results.map((r) => r.cookies.gh_refresh?.value));
      assert.equal(successors.size, 1, 'every tab holds the very same successor');
      const successor = [...successors][0] as string;
      assert.notEqual(successor, s.refreshToken);
      const jtis = new Set(results.map((r) => decodeJwt(r.json.access_token as string).jti));
      assert.equal(jtis.size, 100, 'each answer carries its own access token');
      const onward = await refresh(successor, s.csrf);
      assert.equal(onward.status, 200, 'reuse detection did not fire: the family lives');
      // ...and it still works: once the window has passed, the pre-race token is reuse
      await sleep(GRACE_MS + 200);
      assert.equal((await refresh(s.refreshToken, s.csrf)).json.code, 'ERR_REFRESH_REUSED');
    });

    test('logout needs the CSRF token, revokes the family and its access tokens, clears both cookies', async () => {
      const s = await browserSession('grace');
      const forged = await call('POST', '/auth/logout', {
        headers: { ...origin(), cookie: `gh_refresh=${s.refreshToken}` },
      });
      assert.equal(forged.status, 403);
      assert.equal(forged.json.code, 'ERR_CSRF_INVALID');
      assert.equal((await introspect(s.accessToken)).active, true, 'a forged logout changes nothing');
      const out = await call('POST', '/auth/logout', {
        headers: { ...origin(), cookie: `gh_refresh=${s.refreshToken}`, 'x-csrf-token': s.csrf },
      });
      assert.equal(out.status, 204);
      assert.match(out.cookies.gh_refresh?.attributes ?? '', /Max-Age=0/);
      assert.match(out.cookies.gh_csrf?.attributes ?? '', /Max-Age=0/);
      assert.deepEqual(await introspect(s.accessToken), { active: false });
      const after = await refresh(s.refreshToken, s.csrf);
      assert.equal(after.status, 401);
      assert.equal(after.json.code, 'ERR_REFRESH_INVALID');
      const again = await call('POST', '/auth/logout', { headers: origin() });
      assert.equal(again.status, 204, 'logging out without a session is harmless');
    });

    test('admin API bulk import: CSV and JSON, bad rows listed by row, the rest can log in', async () => {
      const csv = [
        'username,password,roles',
        `csv-ann,${PASSWORD},shopper`,
        'bad name,whatever password,',
        `csv-ann,${PASSWORD},`,
        'csv-ben,short,',
        `csv-cat,${PASSWORD},`,
      ].join('\n');
      const res = await call('POST', '/admin/v1/users/import', {
        body: csv,
        headers: { ...adminAuth, 'content-type': 'text/csv' },
      });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.equal(res.json.imported, 2);
      assert.equal(res.json.refused, 3);
      assert.deepEqual(
        (res.json.errors as { row: number; field: string }[]).map((e) => [e.row, e.field]),
        [
          [2, 'username'],
          [3, 'username'],
          [4, 'password'],
        ],
        'rows are numbered from the first data row',
      );
      assert.equal((await login('csv-cat')).status, 200);
      const viaJson = await call('POST', '/admin/v1/users/import', {
        body: JSON.stringify([{ username: 'json-dan', password: PASSWORD, roles: ['shopper'] }, { nope: 1 }]),
        headers: { ...adminAuth, ...json },
      });
      assert.equal(viaJson.json.imported, 1);
      assert.equal(viaJson.json.refused, 1);
      const notRows = await call('POST', '/admin/v1/users/import', {
        body: JSON.stringify({ username: 'x' }),
        headers: { ...adminAuth, ...json },
      });
      assert.equal(notRows.status, 400);
      assert.equal(notRows.json.code, 'ERR_IMPORT_INVALID');
      const anonymous = await call('POST', '/admin/v1/users/import', {
        body: csv,
        headers: { 'content-type': 'text/csv' },
      });
      assert.equal(anonymous.status, 401);
    });

    test("admin API: list a user's sessions and end them all", async () => {
      const s = await browserSession('kim');
      await login('kim');
      const listed = await call('GET', `/admin/v1/users/${s.userId}/sessions`, { headers: adminAuth });
      assert.equal(listed.status, 200);
      const sessions = listed.json.sessions as { id: string; kind: string; client_id: string }[];
      assert.equal(sessions.length, 2);
      assert.deepEqual(new Set(sessions.map((x) => x.kind)), new Set(['browser']));
      assert.equal(sessions[0]?.client_id, 'gatehouse-login');
      assert.ok(!JSON.stringify(listed.json).includes('gatehouse_rt_'), 'no token in the listing');
      const ended = await call('DELETE', `/admin/v1/users/${s.userId}/sessions`, { headers: adminAuth });
      assert.deepEqual(ended.json, { ended: 2 });
      assert.equal((await refresh(s.refreshToken, s.csrf)).status, 401);
      assert.deepEqual(await introspect(s.accessToken), { active: false });
      const none = await call('GET', `/admin/v1/users/usr_nobody/sessions`, { headers: adminAuth });
      assert.equal(none.status, 404);
    });

    test('admin API revocations: one subject watermark ends every token of the user, however many', async () => {
      const s = await browserSession('wanda');
      const more = await Promise.all(Array.from({ length: 5 }, () => login('wanda')));
      const tokens = [s.accessToken, ...more.map((m) => m.json.access_token as string)];
      for (const t of tokens) assert.equal((await introspect(t)).active, true);
      const res = await call('POST', '/admin/v1/revocations', {
        body: JSON.stringify({ kind: 'subject', value: s.userId }),
        headers: { ...adminAuth, ...json },
      });
      assert.equal(res.status, 201, JSON.stringify(res.json));
      for (const t of tokens) assert.deepEqual(await introspect(t), { active: false });
      const bad = await call('POST', '/admin/v1/revocations', {
        body: JSON.stringify({ kind: 'everything', value: 'x' }),
        headers: { ...adminAuth, ...json },
      });
      assert.equal(bad.status, 400);
      await sleep(1100); // the watermark covers the second it was set in
      const again = await login('wanda');
      assert.equal((await introspect(again.json.access_token as string)).active, true, 'new logins work');
    });

    test('a password change or disabling the user ends their sessions', async () => {
      const a = await browserSession('heidi');
      const changed = await call('PUT', `/admin/v1/users/${a.userId}/password`, {
        body: JSON.stringify({ password: 'another long passphrase' }),
        headers: { ...adminAuth, ...json },
      });
      assert.ok(changed.status < 300, JSON.stringify(changed.json));
      assert.equal((await refresh(a.refreshToken, a.csrf)).status, 401);
      assert.deepEqual(await introspect(a.accessToken), { active: false });

      const b = await browserSession('ivan');
      const disabled = await call('PATCH', `/admin/v1/users/${b.userId}`, {
        body: JSON.stringify({ disabled: true }),
        headers: { ...adminAuth, ...json },
      });
      assert.ok(disabled.status < 300, JSON.stringify(disabled.json));
      assert.equal((await refresh(b.refreshToken, b.csrf)).status, 401);
      assert.equal((await login('ivan')).json.code, 'ERR_LOGIN_FAILED', 'a disabled user cannot log in');
    });

    test('attack: login enumeration — unknown user and wrong password answer the same status and body', async () => {
      await createUser('judy');
      const wrong = await login('judy', 'not the password at all', '127.0.0.21');
      const unknown = await login('nobody-here', 'not the password at all', '127.0.0.21');
      const disabledOrEmpty = await login('', 'x', '127.0.0.21');
      assert.equal(wrong.status, 401);
      assert.equal(unknown.status, wrong.status);
      assert.deepEqual(unknown.json, wrong.json);
      assert.deepEqual(Object.keys(unknown.headers).sort(), Object.keys(wrong.headers).sort());
      assert.equal(wrong.json.code, 'ERR_LOGIN_FAILED');
      assert.equal(disabledOrEmpty.status, 400, 'an empty username is a malformed request');
      assert.equal(disabledOrEmpty.json.code, 'ERR_REQUEST_INVALID');
    });

    test('attack: parallel guessing cannot outrun the limit: 12 guesses at once, at most 5 are checked', async () => {
      await createUser('parallel-target');
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) => login('parallel-target', `guess number ${i}`, '127.0.0.41')),
      );
      const statuses = answers.map((a) => a.status);
      assert.ok(
        statuses.every((s) => s === 401 || s === 429),
        statuses.join(','),
      );
      assert.ok(statuses.filter((s) => s === 401).length <= 5, `checked: ${statuses.join(',')}`);
      assert.equal(
        (await login('parallel-target', PASSWORD, '127.0.0.42')).status,
        429,
        'and the account is locked',
      );
    });

    test('attack: brute force — 5 failures a minute per account, then 429 with Retry-After, for real and unknown accounts alike', async () => {
      await createUser('mallory-target');
      const run = async (username: string, source: string) => {
        const answers: Answer[] = [];
        for (let i = 0; i < 5; i++) answers.push(await login(username, `wrong password ${i}`, source));
        answers.push(await login(username, PASSWORD, source));
        return answers;
      };
      const real = await run('mallory-target', '127.0.0.31');
      const ghost = await run('no-such-account', '127.0.0.32');
      for (const answers of [real, ghost]) {
        assert.deepEqual(
          answers.map((a) => a.status),
          [401, 401, 401, 401, 401, 429],
        );
        const last = answers[5] as Answer;
        assert.equal(last.json.code, 'ERR_LOGIN_THROTTLED');
        const retry = Number(last.headers['retry-after']);
        assert.ok(retry > 0 && retry <= 60, `Retry-After ${retry}`);
      }
      assert.deepEqual(
        ghost[5]?.json,
        real[5]?.json,
        'a lockout tells nothing about whether the account exists',
      );
      // the lock is on the account, from any address
      assert.equal((await login('mallory-target', PASSWORD, '127.0.0.33')).status, 429);
      // and on the address, for any account: the 6th failure from one IP spread over accounts
      for (let i = 0; i < 5; i++) await login(`spray-${i}`, 'wrong password', '127.0.0.34');
      await createUser('spray-victim');
      assert.equal((await login('spray-victim', PASSWORD, '127.0.0.34')).status, 429);
      assert.equal(
        (await login('spray-victim', PASSWORD, '127.0.0.35')).status,
        200,
        'other addresses are unaffected',
      );
    });

    test('bad input at /auth/*: every malformed request is a 4xx with a code, never a 5xx', async () => {
      const cases: [string, Promise<Answer>, number, string][] = [
        [
          'form body',
          call('POST', '/auth/login', {
            body: 'username=a&password=b',
            headers: { ...origin(), 'content-type': 'application/x-www-form-urlencoded' },
          }),
          415,
          'ERR_MEDIA_TYPE_UNSUPPORTED',
        ],
        [
          'broken JSON',
          call('POST', '/auth/login', { body: '{"username":', headers: { ...origin(), ...json } }),
          400,
          'ERR_REQUEST_INVALID',
        ],
        [
          'extra field',
          call('POST', '/auth/login', {
            body: JSON.stringify({ username: 'a', password: 'b', admin: true }),
            headers: { ...origin(), ...json },
          }),
          400,
          'ERR_REQUEST_INVALID',
        ],
        [
          'password not a string',
          call('POST', '/auth/login', {
            body: JSON.stringify({ username: 'a', password: 1 }),
            headers: { ...origin(), ...json },
          }),
          400,
          'ERR_REQUEST_INVALID',
        ],
        [
          'huge password',
          call('POST', '/auth/login', {
            body: JSON.stringify({ username: 'a', password: 'p'.repeat(5000) }),
            headers: { ...origin(), ...json },
          }),
          400,
          'ERR_REQUEST_INVALID',
        ],
        [
          'login from a foreign origin',
          call('POST', '/auth/login', {
            body: JSON.stringify({ username: 'a', password: 'b' }),
            headers: { origin: 'https://evil.example', ...json },
          }),
          403,
          'ERR_ORIGIN_NOT_ALLOWED',
        ],
        [
          'cookie login without Origin',
          call('POST', '/auth/login', {
            body: JSON.stringify({ username: 'a', password: 'b' }),
            headers: json,
          }),
          403,
          'ERR_ORIGIN_NOT_ALLOWED',
        ],
        [
          'refresh with a body',
          call('POST', '/auth/refresh', { body: '{"x":1}', headers: { ...origin(), ...json } }),
          400,
          'ERR_REQUEST_INVALID',
        ],
        [
          'NUL in the username',
          call('POST', '/auth/login', {
            body: JSON.stringify({ username: 'a\u0000b', password: 'whatever it is' }),
            headers: { ...origin(), ...json },
          }),
          400,
          'ERR_REQUEST_INVALID',
        ],
        [
          'two refresh cookies',
          call('POST', '/auth/refresh', {
            headers: { ...origin(), cookie: 'gh_refresh=a; gh_refresh=b', 'x-csrf-token': 'x' },
          }),
          401,
          'ERR_REFRESH_INVALID',
        ],
      ];
      for (const [what, pending, status, code] of cases) {
        const res = await pending;
        assert.equal(res.status, status, `${what}: ${JSON.stringify(res.json)}`);
        assert.equal(res.json.code, code, what);
      }
    });

    test('native login (delivery: body) and refresh with openid-client at /oauth2/token: rotation and reuse detection', async () => {
      const userId = await createUser('native-nina');
      const res = await call('POST', '/auth/login', {
        body: JSON.stringify({ username: 'native-nina', password: PASSWORD, delivery: 'body' }),
        headers: json,
      });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.deepEqual(res.cookies, {}, 'no cookies for a native app');
      const firstRefresh = res.json.refresh_token as string;
      assert.match(firstRefresh, /^gatehouse_rt_[\w-]{43}$/);
      const config = await oidc.discovery(new URL(base), 'gatehouse-login', {}, oidc.None(), {
        execute: [oidc.allowInsecureRequests],
      });
      const narrowed = await oidc.refreshTokenGrant(config, firstRefresh, { scope: 'orders:read' });
      assert.equal(narrowed.scope, 'orders:read', 'scope may narrow');
      assert.equal(decodeJwt(narrowed.access_token).sub, userId);
      const second = narrowed.refresh_token as string;
      assert.notEqual(second, firstRefresh);
      const widened = await token({
        grant_type: 'refresh_token',
        client_id: 'gatehouse-login',
        refresh_token: second,
        scope: 'gatehouse:admin',
      });
      assert.equal(widened.status, 400);
      assert.equal(widened.json.error, 'invalid_scope');
      const third = await oidc.refreshTokenGrant(config, second);
      assert.equal(third.scope, 'orders:read orders:write inventory:read payments:charge');
      // a confidential client presenting this family's token: not its family, nothing changes
      const foreign = await token(
        { grant_type: 'refresh_token', refresh_token: third.refresh_token as string },
        'orders',
      );
      assert.equal(foreign.status, 400);
      assert.equal(foreign.json.error, 'invalid_grant');
      const fourth = await oidc.refreshTokenGrant(config, third.refresh_token as string);
      // replay of a token rotated more than the grace window ago: RFC 6749 invalid_grant, and the family is gone
      await sleep(GRACE_MS + 200);
      await assert.rejects(
        oidc.refreshTokenGrant(config, second),
        (err: oidc.ResponseBodyError) => err.error === 'invalid_grant',
      );
      await assert.rejects(
        oidc.refreshTokenGrant(config, fourth.refresh_token as string),
        (err: oidc.ResponseBodyError) => err.error === 'invalid_grant',
      );
      assert.deepEqual(await introspect(fourth.access_token), { active: false });
      // a browser token cannot be refreshed at the token endpoint (no CSRF binding there)
      const browser = await browserSession('native-cross');
      const cross = await token({
        grant_type: 'refresh_token',
        client_id: 'gatehouse-login',
        refresh_token: browser.refreshToken,
      });
      assert.equal(cross.json.error, 'invalid_grant');
      assert.equal(
        (await refresh(browser.refreshToken, browser.csrf)).status,
        200,
        'and the browser session is untouched',
      );
      // ...and a native token cannot be used as a cookie, whatever CSRF value is sent with it
      const another = await call('POST', '/auth/login', {
        body: JSON.stringify({ username: 'native-nina', password: PASSWORD, delivery: 'body' }),
        headers: json,
      });
      const asCookie = await refresh(another.json.refresh_token as string, 'any-value-at-all');
      assert.equal(asCookie.status, 401);
      assert.equal(asCookie.json.code, 'ERR_REFRESH_INVALID');
      const stillNative = await oidc.refreshTokenGrant(config, another.json.refresh_token as string);
      assert.ok(stillNative.access_token, 'the refused attempt changed nothing');
    });

    test('native: RFC 7009 revocation of a refresh token by the public client ends its family', async () => {
      await createUser('native-olga');
      const res = await call('POST', '/auth/login', {
        body: JSON.stringify({ username: 'native-olga', password: PASSWORD, delivery: 'body' }),
        headers: json,
      });
      const config = await oidc.discovery(new URL(base), 'gatehouse-login', {}, oidc.None(), {
        execute: [oidc.allowInsecureRequests],
      });
      await oidc.tokenRevocation(config, res.json.refresh_token as string);
      await assert.rejects(oidc.refreshTokenGrant(config, res.json.refresh_token as string));
      assert.deepEqual(await introspect(res.json.access_token as string), { active: false });

      // revoking with a token rotated long ago is a stolen token in use: reuse, not a logout
      const again = await call('POST', '/auth/login', {
        body: JSON.stringify({ username: 'native-olga', password: PASSWORD, delivery: 'body' }),
        headers: json,
      });
      const rotated = await oidc.refreshTokenGrant(config, again.json.refresh_token as string);
      await sleep(GRACE_MS + 200);
      const reusedBefore = await counter('gatehouse_sessions_ended_total{reason="reuse_detected"}');
      await oidc.tokenRevocation(config, again.json.refresh_token as string);
      assert.equal(
        await counter('gatehouse_sessions_ended_total{reason="reuse_detected"}'),
        reusedBefore + 1,
      );
      await assert.rejects(oidc.refreshTokenGrant(config, rotated.refresh_token as string));
    });

    describe('token exchange (RFC 8693)', () => {
      let user: { userId: string; accessToken: string; refreshToken: string; csrf: string };
      const exchange = (fields: Record<string, string>, actor: Client = 'orders') =>
        token({ grant_type: TOKEN_EXCHANGE, subject_token_type: ACCESS_TOKEN_TYPE, ...fields }, actor);

      before(async () => {
        user = await browserSession('xavier');
      });

      test('narrows audience and scope, caps lifetime at the subject token, nests act; introspection keeps act', async () => {
        const res = await exchange({
          subject_token: user.accessToken,
          audience: INVENTORY,
          scope: 'inventory:read',
        });
        assert.equal(res.status, 200, JSON.stringify(res.json));
        assert.equal(res.json.issued_token_type, ACCESS_TOKEN_TYPE);
        assert.equal(res.json.token_type, 'Bearer');
        assert.equal(res.json.scope, 'inventory:read');
        const claims = decodeJwt(res.json.access_token as string);
        const subject = decodeJwt(user.accessToken);
        assert.equal(claims.sub, user.userId);
        assert.equal(claims.aud, INVENTORY);
        assert.equal(claims.client_id, 'orders');
        assert.deepEqual(claims.act, { sub: 'orders', client_id: 'orders' });
        assert.equal(claims.sid, subject.sid, 'the session carries over');
        assert.ok((claims.exp as number) <= (subject.exp as number), 'never outlives the subject token');
        assert.ok((res.json.expires_in as number) <= LOGIN_TTL);
        const seen = await introspect(res.json.access_token as string);
        assert.equal(seen.active, true);
        assert.deepEqual(seen.act, { sub: 'orders', client_id: 'orders' });

        // second hop: inventory acts on the token sent to it (opaque client: act survives storage)
        const hop = await exchange(
          { subject_token: res.json.access_token as string, resource: WAREHOUSE },
          'inventory',
        );
        assert.equal(hop.status, 200, JSON.stringify(hop.json));
        assert.match(hop.json.access_token as string, /^gatehouse_at_/);
        assert.ok(
          (hop.json.expires_in as number) <= 60,
          'the acting client’s own access_token_ttl caps it too',
        );
        const nested = await introspect(hop.json.access_token as string);
        assert.deepEqual(nested.act, {
          sub: 'inventory',
          client_id: 'inventory',
          act: { sub: 'orders', client_id: 'orders' },
        });
        assert.equal(nested.sub, user.userId);
        assert.equal(nested.scope, 'inventory:read');
        // third hop exceeds max_delegation_depth 2
        const deep = await exchange(
          { subject_token: hop.json.access_token as string, audience: INVENTORY },
          'warehouse',
        );
        assert.equal(deep.status, 400);
        assert.equal(deep.json.error, 'invalid_request');
        assert.match(String(deep.json.error_description), /exceed 2 actors/);
      });

      test('a long-lived subject token still yields at most 300 s', async () => {
        const web = await token({ grant_type: 'client_credentials', resource: ORDERS }, 'web');
        const res = await exchange({
          subject_token: web.json.access_token as string,
          audience: PAYMENTS,
          scope: 'inventory:read',
        });
        // payments is allowed as a target; inventory:read is in both the subject and may_act
        assert.equal(res.status, 200, JSON.stringify(res.json));
        assert.equal(res.json.expires_in, 300);
      });

      test('attacks: widening scope, audience or identity, a missing may_act, bad or dead tokens — each refused as RFC 8693 says', async () => {
        const other = await token({ grant_type: 'client_credentials', scope: 'orders:read' }, 'orders');
        const cases: [string, Promise<Answer>, number, string][] = [
          [
            'scope beyond the subject token',
            exchange({ subject_token: user.accessToken, audience: INVENTORY, scope: 'gatehouse:admin' }),
            400,
            'invalid_scope',
          ],
          [
            'scope the subject has but the actor may not delegate',
            exchange({ subject_token: user.accessToken, audience: INVENTORY, scope: 'orders:write' }),
            400,
            'invalid_scope',
          ],
          [
            'audience the actor may not address',
            exchange({ subject_token: user.accessToken, audience: 'https://bank.internal' }),
            400,
            'invalid_target',
          ],
          ['no audience at all', exchange({ subject_token: user.accessToken }), 400, 'invalid_target'],
          [
            'actor without may_act',
            exchange({ subject_token: user.accessToken, audience: INVENTORY }, 'reports'),
            400,
            'unauthorized_client',
          ],
          [
            'subject token not addressed to the actor',
            exchange({ subject_token: other.json.access_token as string, audience: INVENTORY }),
            400,
            'invalid_request',
          ],
          [
            'actor token of another client',
            exchange(
              {
                subject_token: user.accessToken,
                audience: INVENTORY,
                actor_token: other.json.access_token as string,
                actor_token_type: ACCESS_TOKEN_TYPE,
              },
              'inventory',
            ),
            400,
            'invalid_request',
          ],
          [
            'actor_token without its type',
            exchange({
              subject_token: user.accessToken,
              audience: INVENTORY,
              actor_token: other.json.access_token as string,
            }),
            400,
            'invalid_request',
          ],
          [
            'tampered subject token',
            exchange({ subject_token: tamper(user.accessToken), audience: INVENTORY }),
            400,
            'invalid_request',
          ],
          [
            'unsupported subject token type',
            exchange({
              subject_token: user.accessToken,
              subject_token_type: 'urn:ietf:params:oauth:token-type:saml2',
              audience: INVENTORY,
            }),
            400,
            'invalid_request',
          ],
          [
            'refresh token requested',
            exchange({
              subject_token: user.accessToken,
              audience: INVENTORY,
              requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token',
            }),
            400,
            'invalid_request',
          ],
          ['missing subject_token', exchange({ audience: INVENTORY }), 400, 'invalid_request'],
          [
            'repeated scope',
            token(
              {
                grant_type: TOKEN_EXCHANGE,
                subject_token_type: ACCESS_TOKEN_TYPE,
                subject_token: user.accessToken,
                audience: INVENTORY,
              },
              'orders',
            ).then(() =>
              call('POST', '/oauth2/token', {
                body: `grant_type=${encodeURIComponent(TOKEN_EXCHANGE)}&subject_token=x&subject_token_type=x&scope=a&scope=b`,
                headers: {
                  'content-type': 'application/x-www-form-urlencoded',
                  authorization: basic('orders'),
                },
              }),
            ),
            400,
            'invalid_request',
          ],
        ];
        for (const [what, pending, status, error] of cases) {
          const res = await pending;
          assert.equal(res.status, status, `${what}: ${JSON.stringify(res.json)}`);
          assert.equal(res.json.error, error, `${what}: ${JSON.stringify(res.json)}`);
        }
        // a token the client got by exchange names a user: it may not serve as the actor token
        const exchanged = await exchange({ subject_token: user.accessToken, audience: INVENTORY });
        const userAsActor = await exchange({
          subject_token: user.accessToken,
          audience: INVENTORY,
          actor_token: exchanged.json.access_token as string,
          actor_token_type: ACCESS_TOKEN_TYPE,
        });
        assert.equal(userAsActor.status, 400);
        assert.equal(userAsActor.json.error, 'invalid_request');
        // with the actor's own token the act names its sub (the same client here)
        const own = await token({ grant_type: 'client_credentials', scope: 'orders:read' }, 'orders');
        const withActor = await exchange({
          subject_token: user.accessToken,
          audience: INVENTORY,
          actor_token: own.json.access_token as string,
          actor_token_type: ACCESS_TOKEN_TYPE,
        });
        assert.equal(withActor.status, 200);
        assert.deepEqual(decodeJwt(withActor.json.access_token as string).act, {
          sub: 'orders',
          client_id: 'orders',
        });
      });

      test('an exchanged token dies with the session it came from', async () => {
        const s = await browserSession('yvonne');
        const res = await exchange({ subject_token: s.accessToken, audience: INVENTORY });
        assert.equal((await introspect(res.json.access_token as string)).active, true);
        await call('POST', '/auth/logout', {
          headers: { ...origin(), cookie: `gh_refresh=${s.refreshToken}`, 'x-csrf-token': s.csrf },
        });
        assert.deepEqual(await introspect(res.json.access_token as string), { active: false });
        const dead = await exchange({ subject_token: s.accessToken, audience: INVENTORY });
        assert.equal(dead.json.error, 'invalid_request', 'a revoked subject token cannot be exchanged');
      });
    });

    test('every login, refresh, reuse, logout and exchange is in an intact audit chain', async () => {
      const store = storeBehind(storage(), gh.dataDir);
      try {
        const result = await verifyAuditChain(store, auditChainKey(KEK));
        assert.equal(result.ok, true, JSON.stringify(result));
        const records = await store.audit.list(0, 1_000_000);
        const actions = new Set(records.map((r) => r.action));
        for (const action of [
          'login.succeeded',
          'login.failed',
          'login.throttled',
          'token.issued',
          'refresh.reuse_detected',
          'refresh.refused',
          'session.ended',
          'token.exchange_refused',
          'user.password_changed',
        ]) {
          assert.ok(actions.has(action), `audited: ${action}`);
        }
        const grants = new Set(
          records.filter((r) => r.action === 'token.issued').map((r) => JSON.parse(r.details).grant_type),
        );
        for (const grant of ['login', 'refresh_token', TOKEN_EXCHANGE, 'client_credentials'])
          assert.ok(grants.has(grant), `issued by ${grant}`);
        const text = JSON.stringify(records);
        assert.ok(!text.includes(PASSWORD), 'no password in the audit log');
        for (const series of [
          'gatehouse_logins_total{outcome="success"}',
          'gatehouse_logins_total{outcome="failure"}',
          'gatehouse_logins_total{outcome="throttled"}',
          'gatehouse_refreshes_total{outcome="rotated"}',
          'gatehouse_refreshes_total{outcome="caught_up"}',
          'gatehouse_refreshes_total{outcome="reused"}',
          'gatehouse_sessions_ended_total{reason="reuse_detected"}',
          'gatehouse_sessions_ended_total{reason="logout"}',
          'gatehouse_tokens_issued_total{grant_type="urn:ietf:params:oauth:grant-type:token-exchange"}',
        ]) {
          const value = await counter(series);
          assert.ok(value > 0, `${series} counted (${value})`);
        }
        assert.ok(!/gatehouse_rt_[\w-]{43}/.test(text), 'no refresh token in the audit log');
        if (redisBus) {
          const topics = new Set(events.map((e) => e.topic));
          for (const topic of [
            'token.issued',
            'token.revoked',
            'refresh.reuse_detected',
            'user.logged_out',
            'session.ended',
            'permissions.changed',
          ]) {
            assert.ok(topics.has(topic), `published on the bus: ${topic} (saw ${[...topics].join(', ')})`);
          }
          const reuse = events.find((e) => e.topic === 'refresh.reuse_detected');
          assert.equal(typeof reuse?.message.family_id, 'string');
          assert.ok(!JSON.stringify(events).includes('gatehouse_rt_'), 'no token on the bus');
        }
      } finally {
        await store.close();
      }
    });
  });
}

identitySuite('embedded', () => undefined);

await describeOnPostgresAndRedis('idp', (storage, schema) =>
  identitySuite('postgres+redis', storage, `${schema}.`),
);
