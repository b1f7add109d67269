/**
 * The bus dies mid-traffic: a Redis of the test's own (the machine's stays up) is killed and
 * restarted under two Gatehouse processes on one PostgreSQL. Revocations keep being enforced at
 * the other instance (it asks the durable log while the bus is down) and traffic resumes after
 * recovery without a restart.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { digestSecret } from '../../src/clients/client-secrets.js';
import { createPostgresStore } from '../../src/storage/index.js';
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
      const config = {
        issuer: 'https://auth.fault.test',
        storage: {
          store: { kind: 'postgres', url: servers.postgres.url, schema },
          bus: { kind: 'redis', url: `redis://127.0.0.1:${port}`, channel_prefix: `${schema}.` },
        },
        keys: { kek: { source: 'env', env: 'GATEHOUSE_KEK' } },
        clients: [
          { id: 'svc', secret_digest: digestSecret(SECRET), scopes: ['read', 'gatehouse:introspect'] },
        ],
      };
      nodes.push(await startGatehouse(config, { GATEHOUSE_KEK: KEK }));
      nodes.push(await startGatehouse(config, { GATEHOUSE_KEK: KEK }));
    });
    after(async () => {
      for (const n of nodes) await n.stop();
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

    test('revocations acknowledged while the bus is down are enforced everywhere; recovery needs no restart', async () => {
      const before = await token(second());
      await post(first(), '/oauth2/revoke', `token=${before}`);
      assert.equal(await active(second(), before), false, 'pushed while the bus is up');

      redis?.kill('SIGKILL');
      await sleep(1500); // each instance notices within its next second
      const during = await token(second());
      assert.equal(await active(second(), during), true, 'traffic goes on without the bus');
      const revoke = await post(first(), '/oauth2/revoke', `token=${during}`);
      assert.equal(revoke.status, 200, 'acknowledged: durable in PostgreSQL');
      assert.equal(
        await active(second(), during),
        false,
        'no push, yet refused at the other instance at once',
      );
      const metrics = await (await request(`${second().baseUrl}/metrics`)).body.text();
      // While the bus was down no Bloom "no" was trusted: the durable log answered.
      assert.match(metrics, /gatehouse_revocation_checks_total\{layer="log",revoked="(true|false)"\} [1-9]/);

      await startRedis();
      await sleep(2500); // reconnect and resync
      const after = await token(second());
      await post(first(), '/oauth2/revoke', `token=${after}`);
      assert.equal(await active(second(), after), false);
      const ready = await request(`${second().baseUrl}/readyz`);
      assert.equal(ready.statusCode, 200, 'ready again without a restart');
      await ready.body.dump();
    });
  });
});
