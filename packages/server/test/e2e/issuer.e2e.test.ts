import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { request } from 'undici';
import { digestSecret } from '../../src/clients/client-secrets.js';
import { auditChainKey } from '../../src/audit/audit-chain.js';
import { verifyAuditChain } from '../../src/audit/verify-audit.js';
import { storeBehind } from '../support/e2e-store.js';
import { type GatehouseProcess, startGatehouse } from '../support/gatehouse-process.js';
import { describeOnPostgresAndRedis } from '../support/servers.js';

const KEK = randomBytes(32);
const SECRETS = {
  orders: randomBytes(32).toString('base64url'),
  reports: randomBytes(32).toString('base64url'),
  admin: randomBytes(32).toString('base64url'),
};

function configWith(storage: Record<string, unknown> | undefined): Record<string, unknown> {
  return {
    ...(storage && { storage }),
    keys: { kek: { source: 'env', env: 'GATEHOUSE_KEK' }, activation_delay: 3600 },
    log: { level: 'info' },
    clients: [
      {
        id: 'orders',
        secret_digest: digestSecret(SECRETS.orders),
        scopes: ['orders:read', 'orders:write', 'gatehouse:introspect'],
        resources: ['https://inventory.internal', 'https://payments.internal'],
      },
      {
        id: 'reports',
        secret_digest: digestSecret(SECRETS.reports),
        scopes: ['reports:read'],
        access_token_format: 'opaque',
      },
      { id: 'admin', secret_digest: digestSecret(SECRETS.admin), scopes: ['gatehouse:admin'] },
    ],
  };
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

/** Runs the whole black-box suite against one storage setup. */
function issuerSuite(name: string, storage: () => Record<string, unknown> | undefined): void {
  describe(`issuer black-box (${name})`, () => {
    let gh: GatehouseProcess;
    let base: string;
    let client: oidc.Configuration;

    before(async () => {
      gh = await startGatehouse(configWith(storage()), { GATEHOUSE_KEK: KEK.toString('base64url') });
      base = gh.baseUrl;
      client = await oidc.discovery(new URL(base), 'orders', {}, oidc.ClientSecretBasic(SECRETS.orders), {
        execute: [oidc.allowInsecureRequests],
      });
    });
    after(async () => {
      const output = gh.output();
      const code = await gh.stop();
      assert.equal(code, 0, 'graceful shutdown exits 0');
      for (const secret of Object.values(SECRETS))
        assert.ok(!output.includes(secret), 'no client secret in logs');
      assert.ok(!/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/.test(output), 'no JWT in logs');
      assert.ok(!output.includes('gatehouse_at_'), 'no opaque token in logs');
    });

    const post = async (path: string, body: string, headers: Record<string, string> = {}) => {
      const res = await request(`${base}${path}`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      });
      const text = await res.body.text();
      return {
        status: res.statusCode,
        headers: res.headers,
        json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      };
    };
    const issuedCount = async () => {
      const text = await (await request(`${base}/metrics`)).body.text();
      const line = text
        .split('\n')
        .find((l) => l.startsWith('gatehouse_tokens_issued_total{grant_type="client_credentials"}'));
      return line ? Number(line.split(' ')[1]) : 0;
    };
    const adminToken = async () => {
      const res = await post(
        '/oauth2/token',
        form({ grant_type: 'client_credentials', scope: 'gatehouse:admin' }),
        {
          authorization: basic('admin', SECRETS.admin),
        },
      );
      return res.json.access_token as string;
    };

    test('discovery with openid-client lists exactly what is supported', () => {
      const meta = client.serverMetadata();
      assert.equal(meta.issuer, base);
      assert.equal(meta.token_endpoint, `${base}/oauth2/token`);
      assert.equal(meta.jwks_uri, `${base}/.well-known/jwks.json`);
      assert.deepEqual(meta.grant_types_supported, [
        'client_credentials',
        'refresh_token',
        'urn:ietf:params:oauth:grant-type:token-exchange',
      ]);
      assert.deepEqual(meta.token_endpoint_auth_methods_supported, [
        'client_secret_basic',
        'client_secret_post',
        'none',
      ]);
      assert.equal(meta.introspection_endpoint, `${base}/oauth2/introspect`);
      assert.equal(meta.revocation_endpoint, `${base}/oauth2/revoke`);
      assert.equal(meta.authorization_endpoint, undefined);
    });

    test('JWKS publishes public members only, with kid, alg and use', async () => {
      const res = await request(`${base}/.well-known/jwks.json`);
      assert.equal(res.statusCode, 200);
      const jwks = (await res.body.json()) as { keys: Record<string, unknown>[] };
      assert.equal(jwks.keys.length, 1);
      const [key] = jwks.keys;
      assert.ok(key);
      assert.equal(key.alg, 'ES256');
      assert.equal(key.use, 'sig');
      assert.equal(typeof key.kid, 'string');
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) assert.equal(key[member], undefined);
    });

    test('client_credentials with openid-client issues an RFC 9068 JWT that jose verifies', async () => {
      const tokens = await oidc.clientCredentialsGrant(client, {
        scope: 'orders:read',
        resource: 'https://inventory.internal',
      });
      assert.equal(tokens.token_type, 'bearer');
      assert.equal(tokens.expires_in, 900);
      assert.equal(tokens.scope, 'orders:read');
      assert.equal(decodeProtectedHeader(tokens.access_token).typ, 'at+jwt');
      const jwks = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`));
      const { payload } = await jwtVerify(tokens.access_token, jwks, {
        issuer: base,
        audience: 'https://inventory.internal',
        typ: 'at+jwt',
        algorithms: ['ES256'],
      });
      assert.equal(payload.sub, 'orders');
      assert.equal(payload.client_id, 'orders');
      assert.equal(payload.scope, 'orders:read');
      assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 900);
      assert.match(String(payload.jti), /^[\w-]{16,}$/);
    });

    test('client_secret_post works and an absent scope grants the client defaults', async () => {
      const res = await post(
        '/oauth2/token',
        form({ grant_type: 'client_credentials', client_id: 'orders', client_secret: SECRETS.orders }),
      );
      assert.equal(res.status, 200);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.equal(res.json.scope, 'orders:read orders:write');
    });

    test('introspection (openid-client) and revocation: a revoked token is inactive at once', async () => {
      const tokens = await oidc.clientCredentialsGrant(client, { scope: 'orders:write' });
      const active = await oidc.tokenIntrospection(client, tokens.access_token);
      assert.equal(active.active, true);
      assert.equal(active.client_id, 'orders');
      assert.equal(active.scope, 'orders:write');
      assert.equal(active.aud, base);
      assert.equal(active.iss, base);
      await oidc.tokenRevocation(client, tokens.access_token);
      const after = await oidc.tokenIntrospection(client, tokens.access_token);
      assert.deepEqual({ ...after }, { active: false });
      // unknown tokens: 200 on revocation, inactive on introspection, no detail
      await oidc.tokenRevocation(client, 'not-a-token-we-issued');
      assert.deepEqual(
        { ...(await oidc.tokenIntrospection(client, 'eyJhbGciOiJub25lIn0.e30.')) },
        { active: false },
      );
    });

    test('opaque reference tokens introspect and revoke; only the digest is stored', async () => {
      const res = await post('/oauth2/token', form({ grant_type: 'client_credentials' }), {
        authorization: basic('reports', SECRETS.reports),
      });
      assert.equal(res.status, 200);
      const token = res.json.access_token as string;
      assert.match(token, /^gatehouse_at_[\w-]{43}$/);
      if (name === 'embedded')
        assert.ok(existsSync(join(gh.dataDir, 'gatehouse.db')), 'embedded database file exists');
      for (const file of ['gatehouse.db', 'gatehouse.db-wal']) {
        const path = join(gh.dataDir, file);
        if (existsSync(path))
          assert.equal(
            readFileSync(path).includes(token.slice('gatehouse_at_'.length)),
            false,
            `${file} holds no token text`,
          );
      }
      const introspect = () =>
        post('/oauth2/introspect', form({ token }), { authorization: basic('orders', SECRETS.orders) });
      const active = await introspect();
      assert.equal(active.json.active, true);
      assert.equal(active.json.client_id, 'reports');
      assert.equal(active.json.scope, 'reports:read');
      // another client cannot revoke it (no oracle: still 200)
      assert.equal(
        (await post('/oauth2/revoke', form({ token }), { authorization: basic('orders', SECRETS.orders) }))
          .status,
        200,
      );
      assert.equal((await introspect()).json.active, true);
      assert.equal(
        (await post('/oauth2/revoke', form({ token }), { authorization: basic('reports', SECRETS.reports) }))
          .status,
        200,
      );
      assert.deepEqual((await introspect()).json, { active: false });
    });

    test('admin API: create a client (secret shown once), use it, rotate keys', async () => {
      const id = `svc-${name.replace(/\W/g, '-')}`;
      const auth = { authorization: `Bearer ${await adminToken()}` };
      const created = await request(`${base}/admin/v1/clients`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: id, scopes: ['a', 'b'] }),
      });
      assert.equal(created.statusCode, 201);
      const body = (await created.body.json()) as { client: Record<string, unknown>; client_secret: string };
      assert.equal(body.client.client_id, id);
      assert.equal(body.client_secret.length, 43);
      assert.equal(JSON.stringify(body.client).includes('digest'), false);
      const token = await post('/oauth2/token', form({ grant_type: 'client_credentials', scope: 'b' }), {
        authorization: basic(id, body.client_secret),
      });
      assert.equal(token.status, 200);
      const before = token.json.access_token as string;

      const rotated = await request(`${base}/admin/v1/keys/rotate`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ activation_delay: 0 }),
      });
      assert.equal(rotated.statusCode, 201);
      const { key } = (await rotated.body.json()) as { key: { kid: string } };
      const jwks = (await (await request(`${base}/.well-known/jwks.json`)).body.json()) as {
        keys: { kid: string }[];
      };
      assert.equal(jwks.keys.length, 2, 'old key stays published');
      // the new key signs from its activation second on
      await new Promise((r) => setTimeout(r, 1100));
      const next = await post('/oauth2/token', form({ grant_type: 'client_credentials', scope: 'b' }), {
        authorization: basic(id, body.client_secret),
      });
      assert.equal(decodeProtectedHeader(next.json.access_token as string).kid, key.kid);
      const old = await post('/oauth2/introspect', form({ token: before }), {
        authorization: basic('orders', SECRETS.orders),
      });
      assert.equal(old.json.active, true, 'tokens signed by the retired key stay valid');

      const del = await request(`${base}/admin/v1/clients/${id}`, { method: 'DELETE', headers: auth });
      assert.equal(del.statusCode, 204);
      const gone = await post('/oauth2/token', form({ grant_type: 'client_credentials' }), {
        authorization: basic(id, body.client_secret),
      });
      assert.equal(gone.status, 401);
      const afterDelete = await post(
        '/oauth2/introspect',
        form({ token: next.json.access_token as string }),
        {
          authorization: basic('orders', SECRETS.orders),
        },
      );
      assert.deepEqual(afterDelete.json, { active: false }, "a deleted client's tokens end with it");
    });

    test("privileged scopes only by name; introspection of others' tokens needs gatehouse:introspect", async () => {
      const bare = await post('/oauth2/token', form({ grant_type: 'client_credentials' }), {
        authorization: basic('admin', SECRETS.admin),
      });
      assert.equal(bare.status, 200);
      assert.equal(bare.json.scope, undefined, 'a bare request never yields gatehouse:admin');
      const adminList = await request(`${base}/admin/v1/clients`, {
        headers: { authorization: `Bearer ${bare.json.access_token as string}` },
      });
      assert.equal(adminList.statusCode, 403);
      await adminList.body.dump();

      const ordersToken = (
        await post('/oauth2/token', form({ grant_type: 'client_credentials', scope: 'orders:read' }), {
          authorization: basic('orders', SECRETS.orders),
        })
      ).json.access_token as string;
      // reports has no introspect scope: it may introspect its own tokens only
      const foreign = await post('/oauth2/introspect', form({ token: ordersToken }), {
        authorization: basic('reports', SECRETS.reports),
      });
      assert.deepEqual(foreign.json, { active: false });
      const own = await post('/oauth2/introspect', form({ token: ordersToken }), {
        authorization: basic('orders', SECRETS.orders),
      });
      assert.equal(own.json.active, true);
    });

    describe('bad input: exact answer, no state change, never 5xx', () => {
      const ordersBasic = { authorization: basic('orders', SECRETS.orders) };
      const cases: {
        title: string;
        send: () => Promise<{
          status: number;
          headers: Record<string, unknown>;
          json: Record<string, unknown>;
        }>;
        status: number;
        error: string;
        basic?: boolean;
      }[] = [
        {
          title: 'JSON instead of a form body',
          send: () =>
            post('/oauth2/token', '{"grant_type":"client_credentials"}', {
              ...ordersBasic,
              'content-type': 'application/json',
            }),
          status: 400,
          error: 'invalid_request',
        },
        {
          title: 'text/plain body',
          send: () =>
            post('/oauth2/token', 'grant_type=client_credentials', {
              ...ordersBasic,
              'content-type': 'text/plain',
            }),
          status: 400,
          error: 'invalid_request',
        },
        {
          title: 'malformed percent-encoding',
          send: () => post('/oauth2/token', 'grant_type=client%ZZcredentials', ordersBasic),
          status: 400,
          error: 'invalid_request',
        },
        {
          title: 'missing grant_type',
          send: () => post('/oauth2/token', form({ scope: 'orders:read' }), ordersBasic),
          status: 400,
          error: 'invalid_request',
        },
        {
          title: 'unknown grant type',
          send: () => post('/oauth2/token', form({ grant_type: 'password' }), ordersBasic),
          status: 400,
          error: 'unsupported_grant_type',
        },
        {
          title: 'wrong secret with Basic',
          send: () =>
            post('/oauth2/token', form({ grant_type: 'client_credentials' }), {
              authorization: basic('orders', 'wrong'),
            }),
          status: 401,
          error: 'invalid_client',
          basic: true,
        },
        {
          title: 'unknown client with Basic',
          send: () =>
            post('/oauth2/token', form({ grant_type: 'client_credentials' }), {
              authorization: basic('nobody', SECRETS.orders),
            }),
          status: 401,
          error: 'invalid_client',
          basic: true,
        },
        {
          title: 'a client_id with NUL and control characters (PostgreSQL cannot store NUL)',
          send: () =>
            post('/oauth2/token', form({ grant_type: 'client_credentials' }), {
              authorization: basic('ord\u0000ers\u0007', SECRETS.orders),
            }),
          status: 401,
          error: 'invalid_client',
          basic: true,
        },
        {
          title: 'client_secret_post with NUL in client_id',
          send: () =>
            post(
              '/oauth2/token',
              form({ grant_type: 'client_credentials', client_id: 'a\u0000b', client_secret: 'x' }),
            ),
          status: 401,
          error: 'invalid_client',
          basic: true,
        },
        {
          title: 'garbage Basic credentials',
          send: () =>
            post('/oauth2/token', form({ grant_type: 'client_credentials' }), { authorization: 'Basic !!!' }),
          status: 401,
          error: 'invalid_client',
          basic: true,
        },
        {
          title: 'wrong secret with client_secret_post',
          send: () =>
            post(
              '/oauth2/token',
              form({ grant_type: 'client_credentials', client_id: 'orders', client_secret: 'nope' }),
            ),
          status: 401,
          error: 'invalid_client',
          basic: true,
        },
        {
          title: 'two client authentication methods at once',
          send: () =>
            post(
              '/oauth2/token',
              form({ grant_type: 'client_credentials', client_secret: SECRETS.orders }),
              ordersBasic,
            ),
          status: 400,
          error: 'invalid_request',
        },
        {
          title: 'scope escalation',
          send: () =>
            post(
              '/oauth2/token',
              form({ grant_type: 'client_credentials', scope: 'orders:read gatehouse:admin' }),
              ordersBasic,
            ),
          status: 400,
          error: 'invalid_scope',
        },
        {
          title: 'duplicated parameter',
          send: () =>
            post(
              '/oauth2/token',
              'grant_type=client_credentials&scope=orders:read&scope=orders:write',
              ordersBasic,
            ),
          status: 400,
          error: 'invalid_request',
        },
        {
          title: 'oversized body',
          send: () =>
            post('/oauth2/token', `grant_type=client_credentials&pad=${'x'.repeat(70_000)}`, ordersBasic),
          status: 413,
          error: 'invalid_request',
        },
        {
          title: 'resource not allowed for the client',
          send: () =>
            post(
              '/oauth2/token',
              form({ grant_type: 'client_credentials', resource: 'https://evil.example' }),
              ordersBasic,
            ),
          status: 400,
          error: 'invalid_target',
        },
        {
          title: 'resource with a fragment',
          send: () =>
            post(
              '/oauth2/token',
              form({ grant_type: 'client_credentials', resource: 'https://inventory.internal#x' }),
              ordersBasic,
            ),
          status: 400,
          error: 'invalid_target',
        },
        {
          title: 'introspection without client authentication',
          send: () => post('/oauth2/introspect', form({ token: 'x' })),
          status: 401,
          error: 'invalid_client',
          basic: true,
        },
        {
          title: 'introspection without token',
          send: () => post('/oauth2/introspect', form({}), ordersBasic),
          status: 400,
          error: 'invalid_request',
        },
        {
          title: 'revocation without token',
          send: () => post('/oauth2/revoke', form({ token_type_hint: 'access_token' }), ordersBasic),
          status: 400,
          error: 'invalid_request',
        },
      ];
      for (const c of cases) {
        test(c.title, async () => {
          const before = await issuedCount();
          const res = await c.send();
          assert.equal(res.status, c.status);
          assert.equal(res.json.error, c.error);
          assert.equal(typeof res.json.error_description, 'string');
          assert.ok((res.json.error_description as string).length > 5);
          if (c.basic) assert.match(String(res.headers['www-authenticate']), /^Basic /);
          assert.equal(await issuedCount(), before, 'no token issued');
        });
      }

      test('unknown client and wrong secret answer identically (no enumeration)', async () => {
        const a = await post('/oauth2/token', form({ grant_type: 'client_credentials' }), {
          authorization: basic('orders', 'wrong'),
        });
        const b = await post('/oauth2/token', form({ grant_type: 'client_credentials' }), {
          authorization: basic('ghost', 'wrong'),
        });
        assert.deepEqual(a.json, b.json);
      });

      test('admin API rejects bad input with problem+json and changes nothing', async () => {
        const token = await adminToken();
        const list = async () =>
          (await (
            await request(`${base}/admin/v1/clients`, { headers: { authorization: `Bearer ${token}` } })
          ).body.json()) as { clients: unknown[] };
        const countBefore = (await list()).clients.length;
        const call = async (
          method: 'POST' | 'PATCH' | 'GET',
          path: string,
          body: string | undefined,
          headers: Record<string, string>,
        ) => {
          const res = await request(`${base}/admin/v1${path}`, { method, body, headers });
          return {
            status: res.statusCode,
            type: res.headers['content-type'],
            json: (await res.body.json()) as Record<string, unknown>,
            headers: res.headers,
          };
        };
        const json = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
        const nonAdmin = (
          await post('/oauth2/token', form({ grant_type: 'client_credentials' }), ordersBasic)
        ).json.access_token as string;
        const attempts = [
          { res: await call('GET', '/clients', undefined, {}), status: 401, code: 'ERR_AUTH_REQUIRED' },
          {
            res: await call('GET', '/clients', undefined, { authorization: 'Bearer garbage' }),
            status: 401,
            code: 'ERR_AUTH_REQUIRED',
          },
          {
            res: await call('GET', '/clients', undefined, { authorization: basic('admin', SECRETS.admin) }),
            status: 400,
            code: 'ERR_REQUEST_INVALID',
          },
          {
            res: await call('GET', '/clients', undefined, { authorization: `Bearer ${nonAdmin}` }),
            status: 403,
            code: 'ERR_FORBIDDEN',
          },
          {
            res: await call('POST', '/clients', '{"client_id":', json),
            status: 400,
            code: 'ERR_REQUEST_INVALID',
          },
          {
            res: await call('POST', '/clients', '{"client_id":"x","is_admin":true}', json),
            status: 400,
            code: 'ERR_REQUEST_INVALID',
          },
          {
            res: await call('POST', '/clients', '{"client_id":"../etc"}', json),
            status: 400,
            code: 'ERR_REQUEST_INVALID',
          },
          {
            res: await call('POST', '/clients', '{"client_id":"y","resources":["not a uri"]}', json),
            status: 400,
            code: 'ERR_REQUEST_INVALID',
          },
          {
            res: await call('POST', '/clients', '{"client_id":"orders"}', json),
            status: 409,
            code: 'ERR_STORE_CONFLICT',
          },
          {
            res: await call('PATCH', '/clients/orders', '{"name":"x"}', json),
            status: 409,
            code: 'ERR_CLIENT_MANAGED_BY_CONFIG',
          },
          {
            res: await call('GET', '/clients/ghost', undefined, json),
            status: 404,
            code: 'ERR_STORE_NOT_FOUND',
          },
          {
            res: await call('POST', '/clients', 'client_id=z', {
              ...json,
              'content-type': 'application/x-www-form-urlencoded',
            }),
            status: 415,
            code: 'ERR_MEDIA_TYPE_UNSUPPORTED',
          },
          {
            res: await call('GET', '/nothing-here', undefined, json),
            status: 404,
            code: 'ERR_ROUTE_NOT_FOUND',
          },
        ];
        for (const [i, a] of attempts.entries()) {
          assert.equal(a.res.status, a.status, `attempt ${i}: ${JSON.stringify(a.res.json)}`);
          assert.equal(a.res.json.code, a.code, `attempt ${i}`);
          assert.match(String(a.res.type), /application\/problem\+json/, `attempt ${i}`);
          assert.equal(typeof a.res.json.detail, 'string');
        }
        assert.match(String(attempts[3]?.res.headers['www-authenticate']), /insufficient_scope/);
        assert.equal((await list()).clients.length, countBefore);
      });
    });

    test('operations: livez, healthz, readyz, metrics', async () => {
      for (const path of ['/livez', '/healthz'])
        assert.equal((await request(`${base}${path}`)).statusCode, 200);
      const ready = await request(`${base}/readyz`);
      assert.equal(ready.statusCode, 200);
      assert.deepEqual(((await ready.body.json()) as { checks: unknown }).checks, {
        store: 'ok',
        cache: 'ok',
        bus: 'ok',
        keys: 'ok',
        revocations: 'ok',
      });
      const metrics = await (await request(`${base}/metrics`)).body.text();
      assert.match(metrics, /gatehouse_tokens_issued_total\{grant_type="client_credentials"\} \d+/);
      assert.match(metrics, /gatehouse_http_request_duration_seconds_bucket\{.*route="\/oauth2\/token"/);
      assert.match(metrics, /gatehouse_build_info\{/);
      const requestId = (await request(`${base}/livez`, { headers: { 'x-request-id': 'abc-123' } })).headers[
        'x-request-id'
      ];
      assert.equal(requestId, 'abc-123');
    });

    test('admin API users: create (hash never shown), policy, unique usernames, change, password, page, delete', async () => {
      const auth = { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json' };
      const call = async (
        method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
        path: string,
        body?: unknown,
      ) => {
        const res = await request(`${base}/admin/v1${path}`, {
          method,
          headers: body === undefined ? { authorization: auth.authorization } : auth,
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await res.body.text();
        return { status: res.statusCode, json: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
      };
      const created = await call('POST', '/users', {
        username: `Dana-${name.replace(/\W/g, '')}`,
        password: 'a long enough passphrase',
        roles: ['support'],
        attributes: { tenant: 'acme', level: 2 },
      });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      const user = created.json.user as { id: string; has_password: boolean; roles: string[] };
      assert.equal(user.has_password, true);
      assert.ok(!JSON.stringify(created.json).includes('argon2'), 'no hash in the answer');

      const before = ((await call('GET', '/users?limit=500')).json.users as unknown[]).length;
      const refusals = [
        {
          res: await call('POST', '/users', { username: 'eve', password: 'short' }),
          status: 400,
          code: 'ERR_REQUEST_INVALID',
        },
        {
          res: await call('POST', '/users', { username: 'has space', password: 'a long enough passphrase' }),
          status: 400,
          code: 'ERR_REQUEST_INVALID',
        },
        {
          res: await call('POST', '/users', { username: `DANA-${name.replace(/\W/g, '')}` }),
          status: 409,
          code: 'ERR_STORE_CONFLICT',
        },
        {
          res: await call('POST', '/users', { username: 'x', is_admin: true }),
          status: 400,
          code: 'ERR_REQUEST_INVALID',
        },
        { res: await call('PATCH', `/users/${user.id}`, {}), status: 400, code: 'ERR_REQUEST_INVALID' },
        {
          res: await call('PUT', `/users/${user.id}/password`, { password: 'tiny' }),
          status: 400,
          code: 'ERR_PASSWORD_POLICY',
        },
        { res: await call('GET', '/users/usr_nobody'), status: 404, code: 'ERR_STORE_NOT_FOUND' },
      ];
      for (const [i, r] of refusals.entries()) {
        assert.equal(r.res.status, r.status, `refusal ${i}: ${JSON.stringify(r.res.json)}`);
        assert.equal(r.res.json.code, r.code, `refusal ${i}`);
      }
      assert.equal(
        ((await call('GET', '/users?limit=500')).json.users as unknown[]).length,
        before,
        'refusals changed nothing',
      );

      const patched = await call('PATCH', `/users/${user.id}`, {
        roles: ['support', 'billing'],
        disabled: true,
      });
      assert.deepEqual((patched.json.user as { roles: string[] }).roles, ['support', 'billing']);
      assert.equal((patched.json.user as { disabled: boolean }).disabled, true);
      assert.equal(
        (await call('PUT', `/users/${user.id}/password`, { password: 'yet another passphrase' })).status,
        204,
      );
      const page = await call('GET', '/users?limit=1');
      assert.equal((page.json.users as unknown[]).length, 1);
      assert.equal(typeof page.json.next, 'string');
      assert.equal((await call('DELETE', `/users/${user.id}`)).status, 204);
      assert.equal((await call('GET', `/users/${user.id}`)).status, 404);
    });

    test('API keys: created once via the admin API, checked by introspection; tampered, revoked and rotated-out keys are inactive', async () => {
      const auth = { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json' };
      const create = await request(`${base}/admin/v1/api-keys`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ name: 'nightly export', owner: 'reports', scopes: ['reports:read'] }),
      });
      assert.equal(create.statusCode, 201);
      const created = (await create.body.json()) as { api_key: { id: string }; key: string };
      assert.match(created.key, /^sk_[\w-]{16}\.[\w-]{43}$/);
      const introspect = async (token: string, who: 'orders' | 'reports' = 'orders') =>
        (await post('/oauth2/introspect', form({ token }), { authorization: basic(who, SECRETS[who]) })).json;

      const active = await introspect(created.key);
      assert.equal(active.active, true);
      assert.equal(active.token_type, 'api_key');
      assert.equal(active.client_id, 'reports');
      assert.equal(active.scope, 'reports:read');
      assert.equal(
        (await introspect(created.key, 'reports')).active,
        true,
        'the owner may introspect its key',
      );
      const tampered = created.key.slice(0, -1) + (created.key.endsWith('A') ? 'B' : 'A');
      assert.deepEqual(await introspect(tampered), { active: false });

      const rotate = await request(`${base}/admin/v1/api-keys/${created.api_key.id}/rotate`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ overlap_seconds: 0 }),
      });
      assert.equal(rotate.statusCode, 201);
      const rotated = (await rotate.body.json()) as { api_key: { id: string }; key: string };
      assert.deepEqual(
        await introspect(created.key),
        { active: false },
        'overlap 0: the old key ends at once',
      );
      assert.equal((await introspect(rotated.key)).active, true);

      const bad = await request(`${base}/admin/v1/api-keys`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ name: 'x' }),
      });
      assert.equal(bad.statusCode, 400);
      assert.equal(((await bad.body.json()) as { code: string }).code, 'ERR_REQUEST_INVALID');

      const revoke = await request(`${base}/admin/v1/api-keys/${rotated.api_key.id}`, {
        method: 'DELETE',
        headers: { authorization: auth.authorization },
      });
      assert.equal(revoke.statusCode, 204);
      await revoke.body.dump();
      assert.deepEqual(await introspect(rotated.key), { active: false });
      const list = (await (
        await request(`${base}/admin/v1/api-keys`, { headers: { authorization: auth.authorization } })
      ).body.json()) as {
        api_keys: object[];
      };
      assert.ok(!JSON.stringify(list).includes(created.key.split('.')[1] ?? '?'), 'no secret in listings');
    });

    test('every issuance, revocation, admin change and failed client authentication is in an intact audit chain', async () => {
      const store = storeBehind(storage(), gh.dataDir);
      try {
        const result = await verifyAuditChain(store, auditChainKey(KEK));
        assert.equal(result.ok, true, JSON.stringify(result));
        const records = await store.audit.list(0, 100_000);
        const actions = new Set(records.map((r) => r.action));
        for (const action of [
          'token.issued',
          'token.revoked',
          'client.created',
          'client.deleted',
          'key.rotated',
          'client.auth_failed',
        ]) {
          assert.ok(actions.has(action), `audited: ${action}`);
        }
        const issued = records.filter((r) => r.action === 'token.issued').length;
        const metrics = await (await request(`${base}/metrics`)).body.text();
        const counted = Number(
          /gatehouse_tokens_issued_total\{grant_type="client_credentials"\} (\d+)/.exec(metrics)?.[1],
        );
        assert.equal(issued, counted, 'one audit entry per issued token');
        const text = JSON.stringify(records);
        for (const secret of Object.values(SECRETS))
          assert.ok(!text.includes(secret), 'no secret in the audit log');
      } finally {
        await store.close();
      }
    });
  });
}

issuerSuite('embedded', () => undefined);

// Both servers are needed; describeAdapter fails in CI (skips loudly elsewhere) for the missing one.
await describeOnPostgresAndRedis('e2e', (storage, _schema) => issuerSuite('postgres+redis', storage));
