/**
 * The single-page-app login in a real browser (headless Chromium from Debian, driven by
 * playwright-core): the page never sees the refresh token, the browser sends the cookie only to
 * /auth on the same site, the CSRF token survives a reload through its readable cookie, parallel
 * tabs refresh together without logging the user out, and logout clears everything.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { request } from 'undici';
import { digestSecret } from '../../src/clients/client-secrets.js';
import { freePort, type GatehouseProcess, startGatehouse } from '../support/gatehouse-process.js';

const CHROMIUM = process.env.GATEHOUSE_TEST_CHROMIUM ?? '/usr/bin/chromium';
const ADMIN_SECRET = randomBytes(32).toString('base64url');
const PASSWORD = 'correct horse battery staple';

/** The app's page: a few functions the test calls, as an SPA's auth module would be written. */
const page = (gatehouse: string) => `<!doctype html><meta charset="utf-8"><title>shop</title>
<script>
  const GH = ${JSON.stringify(gatehouse)};
  let accessToken = null; // memory only, as the seed prescribes
  const csrf = () => (document.cookie.match(/(?:^|; )gh_csrf=([^;]*)/) || [])[1];
  async function call(path, { csrfHeader = true, body } = {}) {
    const headers = { 'content-type': 'application/json' };
    if (csrfHeader && csrf()) headers['x-csrf-token'] = csrf();
    const res = await fetch(GH + path, { method: 'POST', credentials: 'include', headers, body });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : {} };
  }
  window.auth = {
    login: async (username, password) => {
      const r = await call('/auth/login', { body: JSON.stringify({ username, password }) });
      accessToken = r.json.access_token ?? null;
      return r;
    },
    refresh: async (csrfHeader = true) => {
      const r = await call('/auth/refresh', { csrfHeader });
      if (r.status === 200) accessToken = r.json.access_token;
      return r;
    },
    logout: () => call('/auth/logout'),
    cookies: () => document.cookie,
    hasAccessToken: () => accessToken !== null,
  };
</script>`;

const available = existsSync(CHROMIUM);
if (!available) {
  const message = `Chromium not found at ${CHROMIUM}; apt-get install chromium (or run .ci/run)`;
  if (process.env.CI === 'true') throw new Error(`${message} (CI=true: browser tests must not be skipped)`);
  console.warn(`\n!!! SKIPPING the browser login suite: ${message}\n`);
}

describe('SPA login in headless Chromium', { skip: !available }, () => {
  let gh: GatehouseProcess;
  let app: Server;
  let browser: Browser;
  let context: BrowserContext;
  let appOrigin: string;
  let crossSiteOrigin: string;

  before(async () => {
    const appPort = await freePort();
    appOrigin = `http://127.0.0.1:${appPort}`;
    // Another site (localhost is not 127.0.0.1 to a browser) that the server even allows by origin:
    // only SameSite=Strict keeps the refresh cookie from being sent from it.
    crossSiteOrigin = `http://localhost:${appPort}`;
    gh = await startGatehouse({
      keys: { kek: { source: 'env', env: 'GATEHOUSE_KEK' } },
      login: { allowed_origins: [appOrigin, crossSiteOrigin], scopes: ['shop'] },
      clients: [{ id: 'admin', secret_digest: digestSecret(ADMIN_SECRET), scopes: ['gatehouse:admin'] }],
    });
    app = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(page(gh.baseUrl));
    });
    await new Promise<void>((resolve) => app.listen(appPort, '127.0.0.1', resolve));
    assert.equal((app.address() as AddressInfo).port, appPort);

    const tokenRes = await request(`${gh.baseUrl}/oauth2/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`admin:${ADMIN_SECRET}`).toString('base64')}`,
      },
      body: 'grant_type=client_credentials&scope=gatehouse%3Aadmin',
    });
    const { access_token: admin } = (await tokenRes.body.json()) as { access_token: string };
    const created = await request(`${gh.baseUrl}/admin/v1/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'shopper', password: PASSWORD }),
    });
    assert.equal(created.statusCode, 201);
    await created.body.dump();

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    context = await browser.newContext();
  });
  after(async () => {
    await browser?.close();
    await new Promise((resolve) => app?.close(resolve));
    assert.equal(await gh.stop(), 0);
  });

  const open = async (origin = appOrigin): Promise<Page> => {
    const tab = await context.newPage();
    await tab.goto(`${origin}/`);
    return tab;
  };
  type Answer = { status: number; json: Record<string, unknown> };
  /** Runs one of the page's auth functions in the page (the expression is evaluated there). */
  const inPage = <T>(tab: Page, expression: string) => tab.evaluate(expression) as Promise<T>;
  const login = (tab: Page) =>
    inPage<Answer>(tab, `auth.login(${JSON.stringify('shopper')}, ${JSON.stringify(PASSWORD)})`);
  const refresh = (tab: Page, csrfHeader = true) => inPage<Answer>(tab, `auth.refresh(${csrfHeader})`);

  test('login: the page gets the access token; the refresh token is in a cookie script cannot read', async () => {
    const tab = await open();
    const res = await login(tab);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(await inPage<boolean>(tab, 'auth.hasAccessToken()'), true);
    assert.equal(res.json.refresh_token, undefined);
    const visible = await inPage<string>(tab, 'auth.cookies()');
    assert.match(visible, /gh_csrf=/);
    assert.doesNotMatch(visible, /gh_refresh|gatehouse_rt_/, 'HttpOnly: no script sees the refresh token');
    const stored = (await context.cookies()).find((c) => c.name === 'gh_refresh');
    assert.equal(stored?.httpOnly, true);
    assert.equal(stored?.sameSite, 'Strict');
    assert.equal(stored?.path, '/auth');
    assert.equal(stored?.secure, true);
  });

  test('refresh: the browser sends the cookie by itself; after a reload the CSRF token comes from its cookie', async () => {
    const tab = await open();
    const first = await refresh(tab);
    assert.equal(first.status, 200, JSON.stringify(first.json));
    await tab.reload();
    assert.equal(await inPage<boolean>(tab, 'auth.hasAccessToken()'), false, 'memory is gone after reload');
    const again = await refresh(tab);
    assert.equal(again.status, 200, JSON.stringify(again.json));
    const forged = await refresh(tab, false);
    assert.equal(forged.status, 403);
    assert.equal(forged.json.code, 'ERR_CSRF_INVALID');
  });

  test('five tabs refreshing at once all succeed, and the session lives on', async () => {
    const tabs = await Promise.all(Array.from({ length: 5 }, () => open()));
    const results = await Promise.all(tabs.map((tab) => refresh(tab)));
    assert.deepEqual(
      results.map((r) => r.status),
      [200, 200, 200, 200, 200],
      JSON.stringify(results.map((r) => r.json)),
    );
    const next = await refresh(tabs[0] as Page);
    assert.equal(next.status, 200, 'no reuse detection fired: the user is still logged in');
    for (const tab of tabs) await tab.close();
  });

  test('another site, even one allowed by origin, gets no cookie: SameSite=Strict', async () => {
    const tab = await open(crossSiteOrigin);
    const res = await refresh(tab, false);
    assert.equal(res.status, 401);
    assert.equal(res.json.code, 'ERR_REFRESH_INVALID');
    assert.match(String(res.json.detail), /no refresh cookie/);
  });

  test('logout ends the session and the browser drops both cookies', async () => {
    const tab = await open();
    const out = await inPage<Answer>(tab, 'auth.logout()');
    assert.equal(out.status, 204);
    const names = (await context.cookies()).map((c) => c.name);
    assert.ok(!names.includes('gh_refresh') && !names.includes('gh_csrf'), names.join(','));
    const after = await refresh(tab);
    assert.equal(after.status, 401);
  });
});
