/**
 * Three Gatehouse processes (issuer + gateway each) on one PostgreSQL, with Redis or NATS as the
 * bus: a revocation made at one is enforced by all three gateways and introspection endpoints,
 * and one client watermark ends thousands of tokens.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { digestSecret } from '../../src/clients/client-secrets.js';
import { createPostgresStore } from '../../src/storage/index.js';
import { type Echo, echoServer } from '../support/echo-upstream.js';
import { freePort, type GatehouseProcess, startGatehouse } from '../support/gatehouse-process.js';
import { describeAdapter, probe, servers, uniqueName } from '../support/servers.js';

const KEK = randomBytes(32).toString('base64url');
const SECRETS = {
  svc: randomBytes(32).toString('base64url'),
  rs: randomBytes(32).toString('base64url'),
  admin: randomBytes(32).toString('base64url'),
};
const basic = (id: keyof typeof SECRETS) => `Basic ${Buffer.from(`${id}:${SECRETS[id]}`).toString('base64')}`;

function fabricSuite(busName: 'redis' | 'nats') {
  const schema = uniqueName(`fab_${busName}`);
  describe(`revocation fabric: 3 processes, PostgreSQL + ${busName} bus`, () => {
    const nodes: GatehouseProcess[] = [];
    /** Each node's gateway, in front of one shared echo upstream. */
    const gateways: string[] = [];
    let upstream: Echo;
    before(async () => {
      upstream = await echoServer('api');
      const bus =
        busName === 'redis'
          ? { kind: 'redis', url: servers.redis.url, channel_prefix: `${schema}.` }
          : { kind: 'nats', servers: servers.nats.url, subject_prefix: `${schema}.` };
      const config = {
        // Every instance is the same issuer, as behind a load balancer.
        issuer: 'https://auth.fabric.test',
        storage: { store: { kind: 'postgres', url: servers.postgres.url, schema }, bus },
        keys: { kek: { source: 'env', env: 'GATEHOUSE_KEK' } },
        clients: [
          { id: 'svc', secret_digest: digestSecret(SECRETS.svc), scopes: ['read'] },
          { id: 'rs', secret_digest: digestSecret(SECRETS.rs), scopes: ['gatehouse:introspect'] },
          { id: 'admin', secret_digest: digestSecret(SECRETS.admin), scopes: ['gatehouse:admin'] },
        ],
      };
      const ports = [await freePort(), await freePort(), await freePort()];
      const withGateway = (port: number) => ({
        ...config,
        gateway: {
          port,
          routes: [
            {
              id: 'api',
              match: { path: '/api' },
              authenticate: ['jwt'],
              authorize: { scopes: ['read'] },
              upstream: { service: 'urn:api', targets: [upstream.url] },
            },
          ],
        },
      });
      for (const port of ports) gateways.push(`http://127.0.0.1:${port}`);
      // One first, so the schema and the signing key exist before the others start.
      nodes.push(await startGatehouse(withGateway(ports[0] as number), { GATEHOUSE_KEK: KEK }));
      nodes.push(
        ...(await Promise.all([
          startGatehouse(withGateway(ports[1] as number), { GATEHOUSE_KEK: KEK }),
          startGatehouse(withGateway(ports[2] as number), { GATEHOUSE_KEK: KEK }),
        ])),
      );
    });
    after(async () => {
      for (const n of nodes) await n.stop();
      await upstream.close();
      const store = createPostgresStore({ url: servers.postgres.url, schema });
      await store.dropSchema();
      await store.close();
    });

    const post = async (node: GatehouseProcess, path: string, body: string, auth: string) => {
      const res = await request(`${node.baseUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth },
        body,
      });
      const text = await res.body.text();
      return text ? (JSON.parse(text) as Record<string, unknown>) : {};
    };
    const tokenAt = async (node: GatehouseProcess) =>
      (await post(node, '/oauth2/token', 'grant_type=client_credentials&scope=read', basic('svc')))
        .access_token as string;
    const activeAt = async (node: GatehouseProcess, token: string) =>
      (await post(node, '/oauth2/introspect', `token=${encodeURIComponent(token)}`, basic('rs'))).active ===
      true;

    const status = async (gateway: string, token: string) => {
      const res = await request(`${gateway}/api/orders`, { headers: { authorization: `Bearer ${token}` } });
      await res.body.dump();
      return res.statusCode;
    };

    test('a token revoked at one instance is refused by all three gateways, their verified-token caches notwithstanding', async (t) => {
      const delays: number[] = [];
      let late = 0;
      for (let round = 0; round < 5; round++) {
        const token = await tokenAt(nodes[round % 3] as GatehouseProcess);
        // Verified and cached at every gateway first.
        for (const gateway of gateways) assert.equal(await status(gateway, token), 200);
        const reached = upstream.seen.length;
        await post(
          nodes[(round + 1) % 3] as GatehouseProcess,
          '/oauth2/revoke',
          `token=${encodeURIComponent(token)}`,
          basic('svc'),
        );
        const acknowledged = performance.now();
        for (const gateway of gateways) {
          for (;;) {
            const code = await status(gateway, token);
            if (code === 401) break;
            assert.equal(code, 200);
            assert.ok(performance.now() - acknowledged < 3000, 'enforced by the next resync at the latest');
          }
          delays.push(performance.now() - acknowledged);
        }
        late += upstream.seen.length - reached;
      }
      delays.sort((a, b) => a - b);
      t.diagnostic(
        `gateway propagation (revoke answered → 401 at each gateway, incl. one request): median ${delays[Math.floor(delays.length / 2)]?.toFixed(1)} ms, max ${delays.at(-1)?.toFixed(1)} ms; requests let through after the acknowledgement, in all: ${late}`,
      );
    });

    test('a revocation made at one instance is enforced at all three; the delay is measured', async (t) => {
      const delays: number[] = [];
      for (let round = 0; round < 5; round++) {
        const token = await tokenAt(nodes[1] as GatehouseProcess);
        for (const node of nodes) assert.equal(await activeAt(node, token), true);
        await post(
          nodes[0] as GatehouseProcess,
          '/oauth2/revoke',
          `token=${encodeURIComponent(token)}`,
          basic('svc'),
        );
        const acknowledged = performance.now();
        for (const node of nodes.slice(1)) {
          for (;;) {
            if (!(await activeAt(node, token))) break;
            assert.ok(performance.now() - acknowledged < 3000, 'enforced by the next resync at the latest');
          }
          delays.push(performance.now() - acknowledged);
        }
      }
      delays.sort((a, b) => a - b);
      t.diagnostic(
        `propagation (revoke answered → refused at another instance, incl. one introspection): median ${delays[Math.floor(delays.length / 2)]?.toFixed(1)} ms, max ${delays.at(-1)?.toFixed(1)} ms`,
      );
    });

    test('one client watermark ends two thousand outstanding tokens at every instance', async () => {
      const tokens = await Promise.all(
        Array.from({ length: 2000 }, (_, i) => tokenAt(nodes[i % 3] as GatehouseProcess)),
      );
      const admin = (
        await post(
          nodes[2] as GatehouseProcess,
          '/oauth2/token',
          'grant_type=client_credentials&scope=gatehouse:admin',
          basic('admin'),
        )
      ).access_token as string;
      const res = await request(`${(nodes[0] as GatehouseProcess).baseUrl}/admin/v1/revocations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'client', value: 'svc' }),
      });
      assert.equal(res.statusCode, 201);
      await res.body.dump();
      await new Promise((r) => setTimeout(r, 1200)); // past the resync interval, whatever the bus did
      const sample = tokens.filter((_, i) => i % 10 === 0);
      for (const [i, token] of sample.entries()) {
        assert.equal(await activeAt(nodes[i % 3] as GatehouseProcess, token), false);
      }
    });
  });
}

await describeAdapter(
  'fabric over Redis',
  (await probe(servers.redis)) ? servers.postgres : servers.redis,
  () => fabricSuite('redis'),
);
await describeAdapter('fabric over NATS', (await probe(servers.nats)) ? servers.postgres : servers.nats, () =>
  fabricSuite('nats'),
);
