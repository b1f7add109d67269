/**
 * Hot reload across instances: two Gatehouse instances share a PostgreSQL store and a Redis
 * bus; a policy change on one is stored as a new version, announced, and loaded by the other
 * (whose own resync timer is an hour away) and by a service's LocalPolicies.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Bus } from '@gatehouse/core';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { LocalPolicies } from '../../src/policy/local-policies.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { createBus } from '../../src/storage/index.js';
import { injectClientToken } from '../support/client-token.js';
import { describeOnPostgresAndRedis, servers, sleep } from '../support/servers.js';

const examples = new URL('../../../../examples/policies/', import.meta.url).pathname;

interface Instance {
  runtime: Runtime;
  app: FastifyInstance;
  url: string;
}

await describeOnPostgresAndRedis('policy_reload', (storage, schema) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-policy-reload-'));
  const kek = join(dir, 'kek');
  writeFileSync(kek, randomBytes(32).toString('hex'), { mode: 0o600 });
  const instances: Instance[] = [];
  let bus: Bus;
  let local: LocalPolicies;
  let token = '';

  const open = async (name: string, policy: Record<string, unknown>): Promise<Instance> => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      JSON.stringify({
        data_dir: join(dir, name),
        keys: { kek: { source: 'file', path: kek } },
        storage: storage(),
        example_client: false,
        policy: { resync_seconds: 3600, ...policy },
      }),
    );
    const runtime = await createRuntime(loadConfig({ file, env: {} }), {
      logger: pino({ level: 'silent' }),
      defaultMetrics: false,
    });
    const app = await buildApp(runtime);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const instance = { runtime, app, url };
    instances.push(instance);
    return instance;
  };

  const editorWrites = {
    subject: { type: 'user', id: 'eddie' },
    action: { name: 'write' },
    resource: { type: 'Document', id: 'd1' },
    context: { ip: '10.1.2.3', time: '2026-12-01T10:00:00Z' },
  };

  before(async () => {
    const a = await open('a', { dir: examples, networks: { internal: ['10.0.0.0/8'] } });
    await open('b', { networks: { internal: ['10.0.0.0/8'] } });
    const now = Math.floor(Date.now() / 1000);
    await a.runtime.store.users.create({
      id: 'eddie',
      username: 'eddie',
      usernameKey: 'eddie',
      passwordHash: null,
      disabled: false,
      roles: ['editor'],
      groups: [],
      attributes: {},
      createdAt: now,
      updatedAt: now,
      passwordChangedAt: null,
    });
    const { secret } = await a.runtime.clients.create({ id: 'svc', scopes: ['gatehouse:authz'] });
    token = await injectClientToken(a.app, 'svc', secret, 'gatehouse:authz');
    bus = await createBus({ kind: 'redis', url: servers.redis.url, channelPrefix: `${schema}.` });
    local = new LocalPolicies({
      url: a.url,
      token: () => token,
      bus,
      networks: { internal: ['10.0.0.0/8'] },
    });
    await local.start();
  });
  after(async () => {
    await local.stop();
    await bus.close();
    for (const { app, runtime } of instances) {
      await app.close();
      await runtime.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const decide = async (instance: Instance) => {
    const res = await instance.app.inject({
      method: 'POST',
      url: '/access/v1/evaluation',
      headers: { authorization: `Bearer ${token}` },
      payload: editorWrites,
    });
    return res.json() as { decision: boolean; context: { policies: string[]; policy_version: number } };
  };
  const waitFor = async (what: string, ok: () => boolean) => {
    for (let i = 0; i < 100 && !ok(); i++) await sleep(50);
    assert.ok(ok(), `${what} within 5 s`);
  };

  test('both instances and LocalPolicies start on the version the first one stored from its directory', async () => {
    const [a, b] = instances as [Instance, Instance];
    assert.equal(a.runtime.policy.version, 1);
    assert.equal(b.runtime.policy.version, 1);
    assert.equal(local.version, 1);
    assert.deepEqual((await decide(b)).context.policies, ['editors-edit-documents']);
    const here = await local.evaluate({
      ...editorWrites,
      subject: { type: 'user', id: 'eddie', properties: { roles: ['editor'] } },
    });
    assert.deepEqual([here.decision, here.policies], ['allow', ['editors-edit-documents']]);
  });

  test('a change on one instance is loaded by the other and by LocalPolicies over the bus', async () => {
    const [a, b] = instances as [Instance, Instance];
    const current = a.runtime.policy.current().sources;
    const res = await a.app.inject({
      method: 'PUT',
      url: '/admin/v1/policies',
      headers: { authorization: `Bearer ${await adminToken(a)}` },
      payload: {
        schema: current.schema,
        policies: {
          ...current.policies,
          'freeze.cedar':
            '@id("change-freeze") forbid (principal, action == Gatehouse::Action::"write", resource);',
        },
      },
    });
    assert.equal(res.statusCode, 201, res.body);
    await waitFor('instance b on version 2', () => b.runtime.policy.version === 2);
    await waitFor('LocalPolicies on version 2', () => local.version === 2);
    const there = await decide(b);
    assert.deepEqual(
      [there.decision, there.context.policies, there.context.policy_version],
      [false, ['change-freeze'], 2],
    );
    const here = await local.evaluate({
      ...editorWrites,
      subject: { type: 'user', id: 'eddie', properties: { roles: ['editor'] } },
    });
    assert.deepEqual([here.decision, here.policies, here.version], ['deny', ['change-freeze'], 2]);
  });
});

/** A token with gatehouse:admin from a client made for it. */
async function adminToken(instance: Instance): Promise<string> {
  const { secret } = await instance.runtime.clients.create({ id: 'ops', scopes: ['gatehouse:admin'] });
  return injectClientToken(instance.app, 'ops', secret, 'gatehouse:admin');
}
