/**
 * The whole chain of the demo shop, black-box: a real Gatehouse process (issuer + gateway) in
 * front of the three shop services (Fastify, Express, node:http on @gatehouse/node). A user's
 * order goes gateway → orders → (token exchange) → inventory and payments; a wider scope is
 * refused; a bad or foreign token is refused at every hop; a revoked user is refused by the
 * services themselves. On the embedded default and on PostgreSQL + Redis.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair, SignJWT } from 'jose';
import { request } from 'undici';
import { SHOP_AUDIENCES, SHOP_CLIENTS, type Shop, startShop } from '../../../examples/shop/services.js';
import { shopGatehouseConfig } from '../../../examples/shop/shop-config.js';
import { digestSecret } from '../../server/src/clients/client-secrets.js';
import {
  freePort,
  type GatehouseProcess,
  startGatehouse,
} from '../../server/test/support/gatehouse-process.js';
import { describeOnPostgresAndRedis, sleep } from '../../server/test/support/servers.js';

const KEK = randomBytes(32).toString('base64url');
const secret = () => randomBytes(32).toString('base64url');

function shopSuite(name: string, storage: () => Record<string, unknown> | undefined) {
  describe(`demo shop end to end (${name})`, () => {
    const secrets = { orders: secret(), inventory: secret(), payments: secret() };
    const adminSecret = secret();
    const password = `pw-${secret()}`;
    let gh: GatehouseProcess;
    let shop: Shop;
    let gateway: string;

    before(async () => {
      const ports = { orders: await freePort(), inventory: await freePort(), payments: await freePort() };
      const gatewayPort = await freePort();
      const config = shopGatehouseConfig({
        digests: {
          orders: digestSecret(secrets.orders),
          inventory: digestSecret(secrets.inventory),
          payments: digestSecret(secrets.payments),
        },
        ordersUrl: `http://127.0.0.1:${ports.orders}`,
        gatewayPort,
      });
      const clients = [
        ...config.clients,
        {
          id: 'admin',
          name: 'test admin',
          secret_digest: digestSecret(adminSecret),
          scopes: ['gatehouse:admin'],
        },
      ];
      gh = await startGatehouse(
        {
          ...(storage() && { storage: storage() }),
          keys: { kek: { source: 'env', env: 'GATEHOUSE_KEK' } },
          ...config,
          clients,
        },
        { GATEHOUSE_KEK: KEK },
      );
      gateway = `http://127.0.0.1:${gatewayPort}`;
      const created = await request(`${gh.baseUrl}/admin/v1/users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'alice', password, roles: ['customer'] }),
      });
      assert.equal(created.statusCode, 201, await created.body.text());
      shop = await startShop({ gatehouseUrl: gh.baseUrl, secrets, ports });
    });
    after(async () => {
      await shop?.close();
      assert.equal(await gh.stop(), 0);
    });

    const form = async (path: string, auth: string, body: Record<string, string>) => {
      const res = await request(`${gh.baseUrl}${path}`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(body).toString(),
      });
      return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
    };
    const basic = (id: string, s: string) => `Basic ${Buffer.from(`${id}:${s}`).toString('base64')}`;
    async function adminToken(): Promise<string> {
      const { json } = await form('/oauth2/token', basic('admin', adminSecret), {
        grant_type: 'client_credentials',
        scope: 'gatehouse:admin',
      });
      return json.access_token as string;
    }
    const login = async () => {
      const res = await request(`${gh.baseUrl}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'alice', password, delivery: 'body' }),
      });
      assert.equal(res.statusCode, 200);
      return ((await res.body.json()) as { access_token: string }).access_token;
    };
    const call = async (
      url: string,
      token: string | undefined,
      init: { method?: string; json?: unknown; headers?: Record<string, string> } = {},
    ) => {
      const res = await request(url, {
        method: (init.method ?? (init.json === undefined ? 'GET' : 'POST')) as 'GET' | 'POST',
        headers: {
          ...init.headers,
          ...(token !== undefined && { authorization: `Bearer ${token}` }),
          ...(init.json !== undefined && { 'content-type': 'application/json' }),
        },
        ...(init.json !== undefined && { body: JSON.stringify(init.json) }),
      });
      const text = await res.body.text();
      return {
        status: res.statusCode,
        headers: res.headers,
        // biome-ignore lint/suspicious/noExplicitAny: the test reads nested JSON answers
        json: text ? (JSON.parse(text) as Record<string, any>) : {},
      };
    };
    /** The internal token the gateway would send the orders service (forward-auth answers it). */
    const internalFor = async (userToken: string) => {
      const res = await request(`${gateway}/.gatehouse/authz`, {
        headers: {
          authorization: `Bearer ${userToken}`,
          'x-original-uri': '/shop/orders',
          'x-original-method': 'GET',
        },
      });
      await res.body.dump();
      assert.equal(res.statusCode, 200);
      return String(res.headers.authorization).replace(/^Bearer /, '');
    };

    test('an order goes gateway → orders → inventory and payments with exchanged, narrowed tokens; act visible at payments', async () => {
      const token = await login();
      const trace = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const placed = await call(`${gateway}/shop/orders`, token, {
        json: { sku: 'tea', quantity: 2 },
        headers: { 'x-request-id': 'shop-e2e-1', traceparent: trace },
      });
      assert.equal(placed.status, 201, JSON.stringify(placed.json));
      const { reservation, payment, sub } = placed.json;
      assert.match(String(sub), /^usr_/);
      assert.deepEqual(reservation.scopes, ['inventory:reserve'], 'inventory got only what the call needs');
      assert.deepEqual(reservation.actors, [SHOP_CLIENTS.orders]);
      assert.equal(reservation.for, sub, 'the user travelled to inventory');
      assert.deepEqual(payment.scopes, ['payments:charge']);
      assert.deepEqual(payment.act, { sub: SHOP_CLIENTS.orders, client_id: SHOP_CLIENTS.orders });
      assert.equal(payment.for, sub);
      assert.equal(payment.request_id, 'shop-e2e-1', 'X-Request-ID kept across hops');
      assert.match(payment.traceparent, /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/, 'one trace');
      const listed = await call(`${gateway}/shop/orders`, token);
      assert.equal(listed.status, 200);
      assert.equal(listed.json.orders.length >= 1, true);
    });

    test('a call that would widen the scope is refused: the exchange will not add payments:refund', async () => {
      const token = await login();
      const refund = await call(`${gateway}/shop/orders/ord_1/refund`, token, { method: 'POST' });
      assert.equal(refund.status, 403);
      assert.equal(refund.json.code, 'ERR_FORBIDDEN');
      assert.match(refund.json.detail, /payments:refund/);
    });

    test('bad and foreign tokens are refused at every hop', async () => {
      const user = await login();
      const internal = await internalFor(user);
      // The gateway.
      assert.equal((await call(`${gateway}/shop/orders`, undefined)).status, 401);
      assert.equal((await call(`${gateway}/shop/orders`, 'not.a.token')).status, 401);
      const none = `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x' })).toString('base64url')}.`;
      assert.equal((await call(`${gateway}/shop/orders`, none)).status, 401);
      // Each service, called directly (bypassing the gateway).
      const direct = { orders: `${shop.urls.orders}/shop/orders`, inventory: `${shop.urls.inventory}/stock` };
      assert.equal((await call(direct.orders, internal)).status, 200, 'the internal token is for orders');
      const refused = async (url: string, token: string | undefined, why: string) => {
        const res = await call(url, token);
        assert.equal(res.status, 401, `${why}: ${JSON.stringify(res.json)}`);
        assert.match(String(res.headers['www-authenticate']), /^Bearer realm="gatehouse"/);
      };
      await refused(direct.orders, undefined, 'no token');
      await refused(direct.orders, user, "the user's own access token is not addressed to orders");
      await refused(direct.inventory, internal, 'a token minted for orders is refused by inventory');
      const payments = `${shop.urls.payments}/charge`;
      // A token exchanged for inventory, presented to payments.
      const exchanged = await form('/oauth2/token', basic(SHOP_CLIENTS.orders, secrets.orders), {
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: internal,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        audience: SHOP_AUDIENCES.inventory,
        scope: 'inventory:reserve',
      });
      assert.equal(exchanged.status, 200, JSON.stringify(exchanged.json));
      const forInventory = exchanged.json.access_token as string;
      assert.equal((await call(direct.inventory, forInventory)).status, 200);
      assert.equal(
        (await call(payments, forInventory, { json: { amount: 1 } })).status,
        401,
        'inventory token at payments',
      );
      // Signed by a key that is not Gatehouse's, with a kid that is.
      const { privateKey } = await generateKeyPair('ES256');
      const kid = JSON.parse(Buffer.from(internal.split('.')[0] as string, 'base64url').toString())
        .kid as string;
      const forged = await new SignJWT({ scope: 'orders:read orders:write', client_id: 'x' })
        .setProtectedHeader({ alg: 'ES256', typ: 'gatehouse-internal+jwt', kid })
        .setIssuer(gh.baseUrl)
        .setAudience(SHOP_AUDIENCES.orders)
        .setSubject('usr_forged')
        .setIssuedAt()
        .setExpirationTime('30s')
        .setJti('forged')
        .sign(privateKey);
      await refused(direct.orders, forged, 'forged signature');
      // A real token with its signature altered.
      const tampered = `${internal.slice(0, -4)}AAAA`;
      await refused(direct.orders, tampered, 'tampered signature');
    });

    test('bad input to the shop is a 4xx, not a crash', async () => {
      const token = await login();
      for (const body of [
        { sku: 'tea', quantity: -1 },
        { sku: 'nope', quantity: 1 },
        { sku: 'tea', quantity: 'x' },
      ]) {
        const res = await call(`${gateway}/shop/orders`, token, { json: body });
        assert.equal(res.status, 400, JSON.stringify(res.json));
      }
      for (const quantity of [10, 10]) {
        assert.equal(
          (await call(`${gateway}/shop/orders`, token, { json: { sku: 'mug', quantity } })).status,
          201,
        );
      }
      const soldOut = await call(`${gateway}/shop/orders`, token, { json: { sku: 'mug', quantity: 1 } });
      assert.equal(soldOut.status, 409, 'out of stock, answered by inventory');
    });

    test('the orders service asks the policy decision point: a bulk order is denied by policy, and logged', async () => {
      const token = await login();
      const bulk = await call(`${gateway}/shop/orders`, token, { json: { sku: 'tea', quantity: 50 } });
      assert.equal(bulk.status, 403, JSON.stringify(bulk.json));
      assert.match(bulk.json.detail, /denied by policy: place on Order/);
      const log = await request(`${gh.baseUrl}/admin/v1/decisions?decision=deny&limit=20`, {
        headers: { authorization: `Bearer ${await adminToken()}` },
      });
      assert.equal(log.statusCode, 200);
      const text = await log.body.text();
      assert.match(text, /no-bulk-orders/, 'the determining policy is in the decision log');
    });

    // Last: a subject watermark also catches tokens issued later in the same second.
    test('revoking the user: the services refuse its outstanding internal tokens by themselves', async () => {
      const user = await login();
      const internal = await internalFor(user);
      assert.equal((await call(`${shop.urls.orders}/shop/orders`, internal)).status, 200);
      const sub = JSON.parse(Buffer.from(internal.split('.')[1] as string, 'base64url').toString())
        .sub as string;
      const res = await request(`${gh.baseUrl}/admin/v1/revocations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'subject', value: sub }),
      });
      assert.equal(res.statusCode, 201);
      await res.body.dump();
      const deadline = Date.now() + 3000;
      for (;;) {
        const answer = await call(`${shop.urls.orders}/shop/orders`, internal);
        if (answer.status === 401) {
          assert.equal(answer.json.code, 'ERR_TOKEN_REVOKED');
          break;
        }
        assert.ok(Date.now() < deadline, 'the revocation feed reached the service');
        await sleep(100);
      }
      assert.equal(
        (await call(`${gateway}/shop/orders`, user)).status,
        401,
        'and the gateway refuses the user token',
      );
    });
  });
}

shopSuite('embedded', () => undefined);
await describeOnPostgresAndRedis('shop', (storage) => shopSuite('postgres+redis', storage));
