/**
 * Black-box tests of the gateway: a real Gatehouse process (issuer + gateway) in front of real
 * upstream node:http servers that echo what they receive. Attacks each get the exact expected
 * answer, and the upstreams' request logs prove what reached them and what did not.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { request } from 'undici';
import { auditChainKey } from '../../src/audit/audit-chain.js';
import { verifyAuditChain } from '../../src/audit/verify-audit.js';
import { digestSecret } from '../../src/clients/client-secrets.js';
import { type Echo, echoServer } from '../support/echo-upstream.js';
import { storeBehind } from '../support/e2e-store.js';
import { freePort, type GatehouseProcess, startGatehouse } from '../support/gatehouse-process.js';
import { describeOnPostgresAndRedis, sleep } from '../support/servers.js';

const KEK = randomBytes(32).toString('base64url');
const SECRETS = {
  svc: randomBytes(32).toString('base64url'),
  admin: randomBytes(32).toString('base64url'),
  opaque: randomBytes(32).toString('base64url'),
};

function gatewaySuite(name: string, storage: () => Record<string, unknown> | undefined, shared = false) {
  describe(`gateway black-box (${name})`, () => {
    let gh: GatehouseProcess;
    let gw: string;
    let publicUp: Echo;
    let adminUp: Echo;
    let ordersUp: Echo;
    let hangUp: Echo;
    let config: (gatewayPort: number) => Record<string, unknown>;

    const routes = () => [
      {
        id: 'public',
        match: { path: '/public' },
        authenticate: ['anonymous'],
        upstream: { service: 'public', targets: [publicUp.url] },
      },
      {
        id: 'admin',
        match: { path: '/admin' },
        authenticate: ['jwt'],
        authorize: { scopes: ['admin:all'] },
        upstream: { service: 'admin', targets: [adminUp.url] },
      },
      {
        id: 'orders',
        match: { path: '/orders', methods: ['GET', 'POST'] },
        authenticate: ['jwt', 'opaque', 'api_key'],
        authorize: { scopes: ['orders:read'] },
        upstream: { service: 'orders', targets: [ordersUp.url], strip_prefix: true },
      },
      {
        id: 'limited',
        match: { path: '/limited' },
        authenticate: ['anonymous'],
        rate_limit: { key: 'ip', limit: 3, window: 60 },
        upstream: { service: 'limited', targets: [publicUp.url] },
      },
      {
        id: 'shared',
        match: { path: '/shared' },
        authenticate: ['anonymous'],
        rate_limit: { key: 'ip', limit: 4, window: 60 },
        upstream: { service: 'shared', targets: [publicUp.url] },
      },
      {
        id: 'hang',
        match: { path: '/hang' },
        authenticate: ['anonymous'],
        upstream: { service: 'hang', targets: [hangUp.url], timeout_ms: 300, retries: 0 },
      },
    ];

    before(async () => {
      publicUp = await echoServer('public');
      adminUp = await echoServer('admin');
      ordersUp = await echoServer('orders');
      hangUp = await echoServer('hang', 'hang');
      const gatewayPort = await freePort();
      config = (port: number) => ({
        ...(storage() && { storage: storage() }),
        keys: { kek: { source: 'env', env: 'GATEHOUSE_KEK' } },
        clients: [
          { id: 'svc', secret_digest: digestSecret(SECRETS.svc), scopes: ['orders:read', 'admin:all'] },
          {
            id: 'opaque',
            secret_digest: digestSecret(SECRETS.opaque),
            scopes: ['orders:read'],
            access_token_format: 'opaque',
          },
          { id: 'admin', secret_digest: digestSecret(SECRETS.admin), scopes: ['gatehouse:admin'] },
        ],
        gateway: {
          port,
          routes: routes(),
          strip_headers: ['X-Tenant'],
          max_header_bytes: 4096,
          headers_timeout_ms: 500,
          // Every allowed request sampled, so the audit test below sees them.
          audit_allow_sample: 1,
        },
      });
      gh = await startGatehouse(config(gatewayPort), { GATEHOUSE_KEK: KEK });
      gw = `http://127.0.0.1:${gatewayPort}`;
    });
    after(async () => {
      assert.equal(await gh.stop(), 0);
      for (const up of [publicUp, adminUp, ordersUp, hangUp]) await up.close();
    });

    const token = async (client: keyof typeof SECRETS, scope: string) => {
      const res = await request(`${gh.baseUrl}/oauth2/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${client}:${SECRETS[client]}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
      });
      return ((await res.body.json()) as { access_token: string }).access_token;
    };
    const get = async (path: string, headers: Record<string, string> = {}, method = 'GET') => {
      const res = await request(`${gw}${path}`, { method: method as 'GET', headers });
      const text = await res.body.text();
      return {
        status: res.statusCode,
        headers: res.headers,
        json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      };
    };

    test('a valid token is verified, replaced by an internal JWT for the upstream, with request id and trace context', async () => {
      const access = await token('svc', 'orders:read');
      const trace = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const res = await get('/orders/42?x=1', {
        authorization: `Bearer ${access}`,
        'x-request-id': 'req-123',
        traceparent: trace,
      });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.equal(res.headers['x-request-id'], 'req-123');
      const seen = res.json as { url: string; headers: Record<string, string> };
      assert.equal(seen.url, '/42?x=1', 'prefix stripped, query kept');
      assert.equal(seen.headers['x-request-id'], 'req-123');
      assert.match(seen.headers.traceparent ?? '', /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
      assert.notEqual(seen.headers.traceparent, trace, 'the gateway is the new parent span');
      const internal = (seen.headers.authorization ?? '').replace(/^Bearer /, '');
      assert.notEqual(internal, access, "the client's token never reaches the upstream");
      assert.equal(decodeProtectedHeader(internal).typ, 'gatehouse-internal+jwt');
      const jwks = createRemoteJWKSet(new URL(`${gh.baseUrl}/.well-known/jwks.json`));
      const { payload } = await jwtVerify(internal, jwks, {
        issuer: gh.baseUrl,
        audience: 'orders',
        typ: 'gatehouse-internal+jwt',
      });
      assert.equal(payload.sub, 'svc');
      assert.equal(payload.client_id, 'svc');
      assert.equal(payload.scope, 'orders:read');
      assert.ok((payload.exp as number) - (payload.iat as number) <= 60, 'lifetime at most 60 s');
      assert.equal(typeof payload.jti, 'string');
      // a token minted for service A is refused by a check for service B
      await assert.rejects(jwtVerify(internal, jwks, { issuer: gh.baseUrl, audience: 'payments' }));
      assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(seen.headers['x-gatehouse-sub'], 'svc');
    });

    test('attack: spoofed internal headers never reach an upstream', async () => {
      const before = publicUp.seen.length;
      const res = await get('/public/x', {
        'x-gatehouse-sub': 'admin',
        'x-gatehouse-scopes': 'admin:all',
        'x-user-id': 'root',
        'x-user-roles': 'admin',
        'x-internal-token': 'forged',
        'x-tenant': 'other-tenant',
      });
      assert.equal(res.status, 200);
      const seen = publicUp.seen.slice(before)[0]?.headers ?? {};
      for (const h of ['x-gatehouse-scopes', 'x-user-id', 'x-user-roles', 'x-internal-token', 'x-tenant']) {
        assert.equal(seen[h], undefined, `${h} stripped`);
      }
      assert.equal(seen['x-gatehouse-sub'], 'anonymous', 'only the gateway sets X-Gatehouse-*');
    });

    test('attack: path tricks never reach the protected route without its auth', async () => {
      const before = adminUp.seen.length;
      const tricks: [string, number][] = [
        ['/public/../admin', 400],
        ['/public/%2e%2e/admin', 400],
        ['/public/%2E%2E/admin/users', 400],
        ['//admin', 400],
        ['/public%2fadmin', 400],
        ['/public%5cadmin', 400],
        ['/public/%252e%252e/admin', 400],
        ['/ADMIN', 404],
        ['/Admin/users', 404],
      ];
      // Sent as raw bytes: an HTTP client library would normalize some of these itself.
      tricks.push(['/public/./../admin', 400], ['/public\\..\\admin', 400], ['/public/admin%00', 400]);
      for (const [path, status] of tricks) {
        const answer = await rawRequest(gw, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), path);
        if (status === 400) assert.match(answer, /ERR_PATH_REJECTED/, path);
      }
      assert.equal((await get('/admin/users')).status, 401, 'the route itself needs a token');
      assert.equal(adminUp.seen.length, before, 'the admin upstream saw none of it');
    });

    test('attack: expired, revoked, wrongly signed and alg:none tokens are refused with an RFC 6750 challenge', async () => {
      const access = await token('svc', 'orders:read');
      const [h, p] = access.split('.') as [string, string, string];
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${p}.`;
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), scope: 'admin:all orders:read' })).toString('base64url')}.${access.split('.')[2]}`;
      const expiredClaims = {
        ...JSON.parse(Buffer.from(p, 'base64url').toString()),
        iat: 1_000_000,
        exp: 1_000_900,
      };
      const expired = `${h}.${Buffer.from(JSON.stringify(expiredClaims)).toString('base64url')}.${access.split('.')[2]}`;
      const before = ordersUp.seen.length;
      for (const bad of [none, forged, expired, 'not.a.jwt', `${access}x`]) {
        const res = await get('/orders/1', { authorization: `Bearer ${bad}` });
        assert.equal(res.status, 401, bad.slice(0, 30));
        assert.match(
          String(res.headers['www-authenticate']),
          /^Bearer realm="gatehouse", error="invalid_token", error_description="/,
        );
        assert.equal(res.json.code, 'ERR_AUTH_REQUIRED');
      }
      const missing = await get('/orders/1');
      assert.equal(missing.status, 401);
      assert.equal(
        missing.headers['www-authenticate'],
        'Bearer realm="gatehouse"',
        'no error code without credentials',
      );
      // used once (so the gateway has it verified and cached), then revoked at the issuer:
      // refused at the gateway at once, cache or not
      const warm = await get('/orders/1', { authorization: `Bearer ${access}` });
      assert.equal(warm.status, 200);
      const afterWarm = ordersUp.seen.length;
      await request(`${gh.baseUrl}/oauth2/revoke`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`svc:${SECRETS.svc}`).toString('base64')}`,
        },
        body: `token=${access}`,
      });
      const revoked = await get('/orders/1', { authorization: `Bearer ${access}` });
      assert.equal(revoked.status, 401);
      assert.match(String(revoked.headers['www-authenticate']), /revoked/);
      assert.equal(afterWarm - before, 1, 'only the one good request reached the upstream');
      assert.equal(ordersUp.seen.length, afterWarm, 'nothing after the revocation did');
    });

    test('insufficient scope is 403 with error="insufficient_scope" and the scope needed', async () => {
      const access = await token('svc', 'orders:read');
      const res = await get('/admin/users', { authorization: `Bearer ${access}` });
      assert.equal(res.status, 403);
      assert.match(String(res.headers['www-authenticate']), /error="insufficient_scope".*scope="admin:all"/);
      const ok = await get('/admin/users', { authorization: `Bearer ${await token('svc', 'admin:all')}` });
      assert.equal(ok.status, 200);
    });

    test('opaque tokens and API keys get the same internal JWT', async () => {
      const opaque = await token('opaque', 'orders:read');
      const viaOpaque = await get('/orders/o', { authorization: `Bearer ${opaque}` });
      assert.equal(viaOpaque.status, 200, JSON.stringify(viaOpaque.json));
      const admin = await token('admin', 'gatehouse:admin');
      const created = await request(`${gh.baseUrl}/admin/v1/api-keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'batch', owner: 'svc', scopes: ['orders:read'] }),
      });
      const { key } = (await created.body.json()) as { key: string };
      const viaKey = await get('/orders/k', { 'x-api-key': key });
      assert.equal(viaKey.status, 200, JSON.stringify(viaKey.json));
      const internal = String((viaKey.json.headers as Record<string, string>).authorization).replace(
        /^Bearer /,
        '',
      );
      const claims = JSON.parse(Buffer.from(internal.split('.')[1] ?? '', 'base64url').toString()) as Record<
        string,
        unknown
      >;
      assert.match(String(claims.sub), /^apikey:/);
      assert.equal(claims.client_id, 'svc');
      assert.equal(
        (viaKey.json.headers as Record<string, string>)['x-api-key'],
        undefined,
        'the key itself stays at the gateway',
      );
      assert.equal(
        (await get('/orders/k', { 'x-api-key': `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}` }))
          .status,
        401,
      );
    });

    test('rate limit: 429 with Retry-After and RateLimit headers; a spoofed X-Forwarded-For does not escape it', async () => {
      const answers = [];
      for (let i = 0; i < 5; i++)
        answers.push(await get('/limited', { 'x-forwarded-for': `203.0.113.${i}` }));
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 200, 200, 429, 429],
      );
      const refused = answers[3];
      assert.equal(refused?.json.code, 'ERR_RATE_LIMITED');
      assert.ok(Number(refused?.headers['retry-after']) >= 1);
      assert.equal(refused?.headers['ratelimit-limit'], '3');
      assert.equal(refused?.headers['ratelimit-remaining'], '0');
      assert.equal(answers[0]?.headers['ratelimit-remaining'], '2');
    });

    test('upgrade (WebSocket-style) passes through after the same checks, bytes both ways', async () => {
      const before = ordersUp.seen.length;
      const refused = await rawRequest(
        gw,
        'GET /orders/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: gatehouse-echo\r\n\r\n',
      );
      assert.match(refused, /^HTTP\/1\.1 401 /, 'no token, no upgrade');
      assert.equal(ordersUp.seen.length, before);
      const access = await token('svc', 'orders:read');
      const { hostname, port } = new URL(gw);
      const echoed = await new Promise<string>((resolve, reject) => {
        const socket = connect({ host: hostname, port: Number(port) });
        let text = '';
        socket.on('data', (d: Buffer) => {
          text += d.toString('latin1');
          if (text.includes('\r\n\r\n') && !text.includes('ping-pong')) socket.write('ping-pong');
          if (text.endsWith('ping-pong')) {
            socket.destroy();
            resolve(text);
          }
        });
        socket.on('error', reject);
        socket.write(
          `GET /orders/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: gatehouse-echo\r\nAuthorization: Bearer ${access}\r\n\r\n`,
        );
        setTimeout(() => reject(new Error(`no echo: ${text}`)), 3000).unref();
      });
      assert.match(echoed, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
      const upstreamSaw = ordersUp.seen.at(-1)?.headers ?? {};
      assert.match(String(upstreamSaw.authorization), /^Bearer ey/, 'the upstream got the internal token');
      assert.notEqual(String(upstreamSaw.authorization), `Bearer ${access}`);
    });

    test('every denial and every sampled allow is in an intact audit chain, with its reason and no credential', async () => {
      const store = storeBehind(storage(), gh.dataDir);
      try {
        const result = await verifyAuditChain(store, auditChainKey(Buffer.from(KEK, 'base64url')));
        assert.equal(result.ok, true, JSON.stringify(result));
        const records = await store.audit.list(0, 1_000_000);
        const denied = records.filter((r) => r.action === 'gateway.denied');
        const reasons = new Set(denied.map((r) => (JSON.parse(r.details) as { reason: string }).reason));
        for (const reason of [
          'no_credentials',
          'invalid_signature',
          'revoked',
          'insufficient_scope',
          'rate_limited',
        ]) {
          assert.ok(reasons.has(reason), `audited: ${reason} (saw ${[...reasons].join(', ')})`);
        }
        assert.ok(!/eyJ[\w-]+\.eyJ/.test(JSON.stringify(denied)), 'no token in the audit log');
        // Sampled allows are written after the answer, without holding the request.
        const allowed = records.filter((r) => r.action === 'gateway.allowed');
        assert.ok(allowed.length > 0, 'allowed requests are audited at audit_allow_sample: 1');
        const routesSeen = new Set(allowed.map((r) => r.target));
        for (const route of ['public', 'orders']) assert.ok(routesSeen.has(route), `allowed on ${route}`);
        for (const record of allowed) {
          const details = JSON.parse(record.details) as { request_id?: unknown };
          assert.equal(typeof details.request_id, 'string');
        }
        assert.ok(!/eyJ[\w-]+\.eyJ/.test(JSON.stringify(allowed)), 'no token in an allowed record either');
      } finally {
        await store.close();
      }
    });

    if (shared) {
      test('with Redis the limit holds across gateway instances: two processes, one budget', async () => {
        const otherPort = await freePort();
        const second = await startGatehouse(config(otherPort), { GATEHOUSE_KEK: KEK });
        try {
          const statuses: number[] = [];
          for (let i = 0; i < 6; i++) {
            const base = i % 2 === 0 ? gw : `http://127.0.0.1:${otherPort}`;
            const res = await request(`${base}/shared`);
            await res.body.dump();
            statuses.push(res.statusCode);
          }
          assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
        } finally {
          assert.equal(await second.stop(), 0);
        }
      });
    }

    test('headers over the limit get 431; a slow client is cut off', async () => {
      const big = await get('/public/x', { 'x-filler': 'a'.repeat(6000) });
      assert.equal(big.status, 431);
      const started = Date.now();
      const answer = await rawRequest(gw, 'GET /public/x HTTP/1.1\r\nHost: x\r\nX-Slow: ', 5000);
      assert.ok(Date.now() - started < 4000, 'closed long before the client finished');
      assert.match(answer, /^(HTTP\/1\.1 408 |$)/, 'timed out');
      // and one that connects and says nothing at all
      const idleStarted = Date.now();
      await rawRequest(gw, '', 5000);
      assert.ok(Date.now() - idleStarted < 4000, 'an idle connection is closed too');
    });

    test('an upstream that hangs times out, trips the breaker, and the gateway stays responsive', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await get('/hang')).status);
      assert.deepEqual(statuses, [504, 504, 504, 504, 504]);
      const started = Date.now();
      const open = await get('/hang');
      assert.equal(open.status, 503, 'circuit open');
      assert.equal(open.json.code, 'ERR_UPSTREAM_UNAVAILABLE');
      assert.ok(Date.now() - started < 200, 'refused at once, not after the timeout');
      assert.equal((await get('/public/still-fine')).status, 200);
      const metrics = await (await request(`${gh.baseUrl}/metrics`)).body.text();
      assert.match(
        metrics,
        /gatehouse_gateway_circuit_state\{route="hang",target="http:\/\/127\.0\.0\.1:\d+"\} 2/,
      );
      assert.match(metrics, /gatehouse_gateway_requests_total\{route="orders",status="200"\} \d+/);
      assert.match(metrics, /gatehouse_gateway_auth_results_total\{result="no_credentials"\} \d+/);
      // The per-request series are counted in place and read at the scrape (HotCounter/HotHistogram).
      assert.match(
        metrics,
        /gatehouse_gateway_request_duration_seconds_bucket\{le="0\.1",route="orders"\} [1-9]/,
      );
      // Only answered forwards are timed: the hanging route's never were.
      assert.doesNotMatch(metrics, /gatehouse_gateway_upstream_duration_seconds_count\{route="hang"\}/);
      assert.match(metrics, /gatehouse_gateway_upstream_duration_seconds_count\{route="public"\} [1-9]/);
      assert.match(metrics, /gatehouse_gateway_request_duration_seconds_sum\{route="orders"\} 0\.\d+/);
      assert.match(metrics, /gatehouse_revocation_checks_total\{layer="\w+",revoked="false"\} [1-9]/);
    });

    test('attack: clients that hang up before the upstream answers cannot open its circuit', async () => {
      for (let i = 0; i < 8; i++) {
        await assert.rejects(
          request(`${gw}/public/slow`, {
            headers: { 'x-echo-delay-ms': '300' },
            signal: AbortSignal.timeout(50),
          }),
          { name: 'TimeoutError' },
        );
      }
      await sleep(400);
      assert.equal((await get('/public/after-hang-ups')).status, 200, 'the circuit is still closed');
      const metrics = await (await request(`${gh.baseUrl}/metrics`)).body.text();
      assert.match(metrics, /gatehouse_gateway_requests_total\{route="public",status="499"\} 8/);
      assert.doesNotMatch(metrics, /gatehouse_gateway_circuit_state\{route="public",[^}]*\} [12]/);
    });

    test('forward-auth: the same chain without proxying, for nginx, Traefik and Envoy', async () => {
      const access = await token('svc', 'orders:read');
      const nginx = await get('/.gatehouse/authz', {
        'x-original-uri': '/orders/7',
        'x-original-method': 'GET',
        authorization: `Bearer ${access}`,
      });
      assert.equal(nginx.status, 200);
      assert.match(String(nginx.headers.authorization), /^Bearer ey/);
      assert.equal(nginx.headers['x-gatehouse-sub'], 'svc');
      assert.equal(nginx.headers['x-gatehouse-route'], 'orders');
      const traefik = await get('/.gatehouse/authz', {
        'x-forwarded-uri': '/admin/x',
        'x-forwarded-method': 'GET',
        authorization: `Bearer ${access}`,
      });
      assert.equal(traefik.status, 403);
      const envoy = await get('/.gatehouse/authz/orders/7', { authorization: `Bearer ${access}` });
      assert.equal(envoy.status, 200);
      const denied = await get('/.gatehouse/authz', { 'x-original-uri': '/orders/7' });
      assert.equal(denied.status, 401);
      // nginx auth_request understands only 401 and 403: every other refusal is a 403, same code
      const trick = await get('/.gatehouse/authz', { 'x-original-uri': '/public/../admin' });
      assert.equal(trick.status, 403);
      assert.equal(trick.json.code, 'ERR_PATH_REJECTED');
      const noRoute = await get('/.gatehouse/authz', { 'x-original-uri': '/nowhere' });
      assert.equal(noRoute.status, 403);
      assert.equal(noRoute.json.code, 'ERR_ROUTE_NOT_FOUND');
    });
  });
}

/** Sends raw bytes and returns whatever comes back before the socket closes (or the deadline). */
function rawRequest(base: string, text: string, deadlineMs = 3000): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let answer = '';
    const done = () => {
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(done, deadlineMs);
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.on('error', () => undefined);
    socket.write(text);
  });
}

describe('gateway routes file (a real process)', () => {
  test('a changed routes file applies without a restart; a bad one keeps the old routes', async () => {
    const up = await echoServer('reload');
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-routes-e2e-'));
    const file = join(dir, 'routes.yaml');
    const route = (id: string) =>
      `  - id: ${id}\n    match: { path: /${id} }\n    authenticate: [anonymous]\n    upstream: { service: ${id}, targets: ['${up.url}'] }\n`;
    writeFileSync(file, `routes:\n${route('first')}`);
    const port = await freePort();
    const gh = await startGatehouse({ gateway: { port, routes_file: file } });
    const status = async (path: string) => {
      const res = await request(`http://127.0.0.1:${port}${path}`);
      await res.body.dump();
      return res.statusCode;
    };
    const eventually = async (path: string, expected: number) => {
      for (let i = 0; i < 40; i++) {
        if ((await status(path)) === expected) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(`${path} never answered ${expected}`);
    };
    try {
      assert.equal(await status('/first/x'), 200);
      assert.equal(await status('/second/x'), 404);
      writeFileSync(file, `routes:\n${route('first')}${route('second')}`);
      await eventually('/second/x', 200);
      writeFileSync(file, 'routes:\n  - id: Bad Id\n');
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await status('/second/x'), 200, 'the bad file changed nothing');
      const metrics = await (await request(`${gh.baseUrl}/metrics`)).body.text();
      assert.match(metrics, /gatehouse_gateway_route_reloads_total\{outcome="applied"\} 1/);
      assert.match(metrics, /gatehouse_gateway_route_reloads_total\{outcome="rejected"\} 1/);
      assert.match(gh.output(), /gateway routes file rejected; keeping the previous routes/);
    } finally {
      assert.equal(await gh.stop(), 0);
      await up.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

gatewaySuite('embedded', () => undefined);

await describeOnPostgresAndRedis('gw', (storage) => gatewaySuite('postgres+redis', storage, true));
