/**
 * Redis dies mid-traffic: a Redis of the test's own (the machine's stays up), the shared store and
 * the bus of two Gatehouse processes (issuer + gateway) on one PostgreSQL, is killed and restarted
 * while requests flow. On a fail-closed route no token is accepted after its revocation was
 * acknowledged (the instance asks the durable log while it cannot trust its memory); a fail-open
 * route goes on with what it knows and catches up at the next resync; traffic resumes after
 * recovery without a restart.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { digestSecret } from '../../src/clients/client-secrets.js';
import { createPostgresStore } from '../../src/storage/index.js';
import { type Echo, echoServer } from '../support/echo-upstream.js';
import { freePort, type GatehouseProcess, startGatehouse } from '../support/gatehouse-process.js';
import { describeAdapter, servers, sleep, uniqueName } from '../support/servers.js';

const KEK = randomBytes(32).toString('base64url');
const SECRET = randomBytes(32).toString('base64url');
const basic = `Basic ${Buffer.from(`svc:${SECRET}`).toString('base64')}`;
const redisBinary = spawnSync('sh', ['-c', 'command -v redis-server']).stdout.toString().trim();

await describeAdapter('revocation under a bus outage', servers.postgres, () => {
  describe('Redis bus killed and restarted under two instances', {
    skip: redisBinary === '' && 'redis-server not installed',
  }, () => {
    const schema = uniqueName('fault');
    let port: number;
    let redis: ChildProcess | undefined;
    const nodes: GatehouseProcess[] = [];
    const gateways: string[] = [];
    let upstream: Echo;
    const startRedis = async () => {
      redis = spawn(
        redisBinary,
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        {
          stdio: 'ignore',
        },
      );
      for (let i = 0; i < 50; i++) {
        if (
          spawnSync('redis-cli', ['-p', String(port), 'ping'])
            .stdout.toString()
            .includes('PONG')
        )
          return;
        await sleep(100);
      }
      throw new Error('redis did not start');
    };

    before(async () => {
      port = await freePort();
      await startRedis();
      upstream = await echoServer('api');
      const route = (id: string, revocation: string) => ({
        id,
        match: { path: `/${id}` },
        authenticate: ['jwt'],
        revocation,
        upstream: { service: 'urn:api', targets: [upstream.url] },
      });
      const config = {
        issuer: 'https://auth.fault.test',
        storage: {
          store: { kind: 'postgres', url: servers.postgres.url, schema },
          cache: { kind: 'redis', url: `redis://127.0.0.1:${port}`, key_prefix: `${schema}:` },
          bus: { kind: 'redis', url: `redis://127.0.0.1:${port}`, channel_prefix: `${schema}.` },
        },
        keys: { kek: { source: 'env', env: 'GATEHOUSE_KEK' } },
        clients: [
          { id: 'svc', secret_digest: digestSecret(SECRET), scopes: ['read', 'gatehouse:introspect'] },
        ],
      };
      for (let i = 0; i < 2; i++) {
        const gatewayPort = await freePort();
        gateways.push(`http://127.0.0.1:${gatewayPort}`);
        const routes = [route('closed', 'fail_closed'), route('open', 'fail_open')];
        nodes.push(
          await startGatehouse({ ...config, gateway: { port: gatewayPort, routes } }, { GATEHOUSE_KEK: KEK }),
        );
      }
    });
    after(async () => {
      for (const n of nodes) await n.stop();
      await upstream?.close();
      redis?.kill('SIGKILL');
      const store = createPostgresStore({ url: servers.postgres.url, schema });
      await store.dropSchema();
      await store.close();
    });

    const post = async (node: GatehouseProcess, path: string, body: string) => {
      const res = await request(`${node.baseUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
        body,
      });
      const text = await res.body.text();
      return { status: res.statusCode, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    };
    const token = async (node: GatehouseProcess) =>
      (await post(node, '/oauth2/token', 'grant_type=client_credentials&scope=read')).json
        .access_token as string;
    const active = async (node: GatehouseProcess, t: string) =>
      (await post(node, '/oauth2/introspect', `token=${t}`)).json.active === true;
    const [first, second] = [() => nodes[0] as GatehouseProcess, () => nodes[1] as GatehouseProcess];

    const through = async (route: 'closed' | 'open', t: string) => {
      const res = await request(`${gateways[1]}/${route}/x`, { headers: { authorization: `Bearer ${t}` } });
      await res.body.dump();
      return res.statusCode;
    };

    test('Redis killed mid-traffic: nothing revoked passes a fail-closed route, fail-open goes on, both recover by themselves', async () => {
      const before = await token(second());
      await post(first(), '/oauth2/revoke', `token=${before}`);
      assert.equal(await active(second(), before), false, 'pushed while the bus is up');

      // Traffic on both routes of the second gateway for the whole outage, with a live token.
      const clean = await token(second());
      const seen: { route: string; status: number; phase: string }[] = [];
      let phase = 'up';
      let flowing = true;
      const traffic = (async () => {
        while (flowing) {
          for (const route of ['closed', 'open'] as const) {
            seen.push({ route, status: await through(route, clean), phase });
          }
        }
      })();
      await sleep(300);

      redis?.kill('SIGKILL');
      phase = 'down';
      await sleep(1500); // each instance notices within its next second
      const during = await token(second());
      assert.equal(await active(second(), during), true, 'tokens are issued without Redis');
      for (const route of ['closed', 'open'] as const) assert.equal(await through(route, during), 200);
      const revoke = await post(first(), '/oauth2/revoke', `token=${during}`);
      assert.equal(revoke.status, 200, 'acknowledged: durable in PostgreSQL');
      assert.equal(
        await active(second(), during),
        false,
        'no push, yet refused at the other instance at once',
      );
      assert.equal(
        await through('closed', during),
        401,
        'fail-closed: refused at once, from the durable log',
      );
      // Fail-open trusts its memory (the push was lost) until the next resync reads the log.
      const deadline = Date.now() + 3000;
      while ((await through('open', during)) !== 401)
        assert.ok(Date.now() < deadline, 'fail-open catches up');
      const metrics = await (await request(`${second().baseUrl}/metrics`)).body.text();
      // While the bus was down no Bloom "no" was trusted on the fail-closed route: the durable log answered.
      assert.match(metrics, /gatehouse_revocation_checks_total\{layer="log",revoked="(true|false)"\} [1-9]/);

      await startRedis();
      phase = 'recovered';
      await sleep(2500); // reconnect and resync
      const after = await token(second());
      for (const route of ['closed', 'open'] as const) assert.equal(await through(route, after), 200);
      await post(first(), '/oauth2/revoke', `token=${after}`);
      assert.equal(await active(second(), after), false);
      assert.equal(await through('closed', after), 401);
      const settled = Date.now() + 3000;
      while ((await through('open', after)) !== 401)
        assert.ok(Date.now() < settled, 'fail-open: pushed again');
      const ready = await request(`${second().baseUrl}/readyz`);
      assert.equal(ready.statusCode, 200, 'ready again without a restart');
      await ready.body.dump();
      flowing = false;
      await traffic;
      const failures = seen.filter((r) => r.status !== 200);
      assert.deepEqual(
        failures,
        [],
        'the live token passed both routes throughout: no 5xx, no false refusal',
      );
      for (const p of ['up', 'down', 'recovered']) {
        assert.ok(seen.filter((r) => r.phase === p).length > 0, `traffic flowed while Redis was ${p}`);
      }
    });
  });
});
