/**
 * The revocation fabric in one process with two instances sharing one durable store: push
 * over the bus, recovery from lost messages and gaps through the log, subject watermarks.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Bus, ManualClock, type Store } from '@gatehouse/core';
import { pino } from 'pino';
import { Revocations } from '../../src/issuer/revocations.js';
import { createBus, createCache, createEmbeddedStore } from '../../src/storage/index.js';
import { unavailableError } from '../../src/storage/errors.js';
import { describeAdapter, isGatehouseError, servers, sleep, uniqueName } from '../support/servers.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-fabric-'));
const logger = pino({ level: 'silent' });
const clock = new ManualClock(1_800_000_000_000);
let store: Store;
let bus: Bus;
const instances: Revocations[] = [];

before(async () => {
  store = createEmbeddedStore({ path: join(dir, 'r.db') });
  await store.migrate();
  bus = await createBus({ kind: 'memory' }, {});
});
after(async () => {
  for (const r of instances) await r.stop();
  await bus.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function instance(overBus: Bus = bus): Promise<Revocations> {
  const r = new Revocations(
    { store, bus: overBus, clock, logger },
    { expectedEntries: 10_000, maxTokenLifetime: 3600 },
  );
  await r.start();
  instances.push(r);
  return r;
}

const now = () => Math.floor(clock.nowMs() / 1000);

test('a revocation made at one instance is enforced at another at once (pushed), and loaded by a new one', async () => {
  const a = await instance();
  const b = await instance();
  assert.equal(await b.isRevoked('t1'), false);
  await a.revoke('t1', now() + 600);
  assert.equal(await b.isRevoked('t1'), true);
  const c = await instance();
  assert.equal(await c.isRevoked('t1'), true, 'loaded from the log at start');
  assert.equal(c.status().synced, true);
});

test('a lost message is recovered from the durable log: by the next resync, or at once on a gap', async () => {
  const deaf: Bus = {
    ...bus,
    kind: 'deaf',
    publish: async () => undefined,
    subscribe: bus.subscribe.bind(bus),
  };
  const writer = new Revocations({ store, bus: deaf, clock, logger }, { expectedEntries: 10_000 });
  await writer.start();
  instances.push(writer);
  const reader = await instance();
  await writer.revoke('lost', now() + 600); // never published
  // The reader is in sync by its own account, so its Bloom "no" would be final: the log fixes it.
  await reader.resync();
  assert.equal(await reader.isRevoked('lost'), true, 'found by the resync');
  await writer.revoke('lost-2', now() + 600); // not published either
  await instances[0]?.revoke('heard', now() + 600); // published with a higher seq: a gap
  await sleep(50);
  assert.equal(await reader.isRevoked('lost-2'), true, 'the gap triggered a resync');
});

test('a subject watermark revokes every earlier token of the user with one entry, not later ones', async () => {
  const a = await instance();
  const b = await instance();
  const head = await store.revocationLog.head();
  const iat = now();
  const tokens = Array.from({ length: 5000 }, (_, i) => ({
    jti: `u-${i}`,
    sub: 'usr_many',
    iat: iat - (i % 600),
  }));
  await a.revokeAllOf('sub', 'usr_many');
  assert.equal(await store.revocationLog.head(), head + 1, 'one entry');
  for (const claims of tokens) assert.equal(await b.isTokenRevoked(claims), true);
  assert.equal(await b.isTokenRevoked({ jti: 'other', sub: 'usr_other', iat }), false);
  clock.advance(2000);
  assert.equal(
    await b.isTokenRevoked({ jti: 'fresh', sub: 'usr_many', iat: now() }),
    false,
    'a token issued after it lives',
  );
  await a.revokeAllOf('client', 'svc');
  assert.equal(await b.isTokenRevoked({ jti: 'c1', sub: 'x', client_id: 'svc', iat: now() }), true);
});

test('sessions: revoking a sid revokes every token that carries it', async () => {
  const a = await instance();
  await a.revokeSession('fam_1', now() + 600);
  assert.equal(await a.isTokenRevoked({ jti: 'any', sid: 'fam_1' }), true);
  assert.equal(await a.isTokenRevoked({ jti: 'any', sid: 'fam_2' }), false);
});

/** The store, with the durable log's lookups counted and, while `down`, failing as a dead server would. */
function watchedStore(): { store: Store; finds: () => number; setDown: (down: boolean) => void } {
  let finds = 0;
  let down = false;
  const log = store.revocationLog;
  const revocationLog = new Proxy(log, {
    get(target, name, receiver) {
      if (name !== 'find') return Reflect.get(target, name, receiver);
      return async (...args: Parameters<typeof log.find>) => {
        finds++;
        if (down) throw unavailableError('the test store');
        return log.find(...args);
      };
    },
  });
  const watched = new Proxy(store, {
    get: (target, name, receiver) =>
      name === 'revocationLog' ? revocationLog : Reflect.get(target, name, receiver),
  });
  return { store: watched, finds: () => finds, setDown: (d) => (down = d) };
}

/** A bus that says its connection is down, as the Redis and NATS adapters do the moment a socket drops. */
const disconnected = (): Bus => ({
  ...bus,
  kind: 'down',
  connected: () => false,
  subscribe: bus.subscribe.bind(bus),
  publish: bus.publish.bind(bus),
});

test('while unsure (bus down): fail-closed asks the durable log and refuses when it cannot answer; fail-open goes on with what it knows', async () => {
  const writer = await instance();
  await writer.revoke('known-before', now() + 600);
  const watched = watchedStore();
  const r = new Revocations(
    { store: watched.store, bus: disconnected(), clock, logger },
    { expectedEntries: 10_000 },
  );
  await r.start();
  instances.push(r);
  const clean = { jti: 'clean-token' };
  assert.equal(await r.isTokenRevoked(clean), false);
  assert.ok(watched.finds() > 0, 'fail-closed asked the log instead of trusting a Bloom "no"');
  const asked = watched.finds();
  assert.equal(await r.isTokenRevoked(clean, 'fail_open'), false);
  assert.equal(watched.finds(), asked, 'fail-open trusted the Bloom "no" without a lookup');
  watched.setDown(true);
  await assert.rejects(async () => r.isTokenRevoked(clean), isGatehouseError('ERR_STORE_UNAVAILABLE', 503));
  assert.equal(await r.isTokenRevoked(clean, 'fail_open'), false, 'fail-open: clean stays clean');
  assert.equal(
    await r.isTokenRevoked({ jti: 'known-before' }, 'fail_open'),
    true,
    'and known revocations hold',
  );
  watched.setDown(false);
  assert.equal(await r.isTokenRevoked(clean), false, 'recovered by itself');
});

await describeAdapter(
  'the shared store (Redis) answers "revoked" before the durable log',
  servers.redis,
  () => {
    test('a revocation whose push was lost is found in Redis without a durable lookup; a Redis "no" is never final', async () => {
      const cache = createCache({
        kind: 'redis',
        url: servers.redis.url,
        keyPrefix: `${uniqueName('rev')}:`,
      });
      try {
        await cache.ping(); // connected: a shared store that is not ready is skipped, not waited for
        const deaf: Bus = {
          ...bus,
          kind: 'deaf',
          publish: async () => undefined,
          subscribe: bus.subscribe.bind(bus),
        };
        const writer = new Revocations(
          { store, bus: deaf, cache, clock, logger },
          { expectedEntries: 10_000 },
        );
        await writer.start();
        instances.push(writer);
        const watched = watchedStore();
        const reader = new Revocations(
          { store: watched.store, bus: disconnected(), cache, clock, logger },
          { expectedEntries: 10_000 },
        );
        await reader.start();
        instances.push(reader);
        await writer.revoke('pushed-nowhere', now() + 600);
        const before = watched.finds();
        assert.equal(await reader.isTokenRevoked({ jti: 'pushed-nowhere' }), true);
        assert.equal(watched.finds(), before, 'answered by the shared store');
        assert.ok(
          ((await cache.ttl('gh:rev:jti:pushed-nowhere')) ?? 0) > 0,
          'kept until the token would expire',
        );
        // Lost from Redis (a failover): the durable log still has it.
        await cache.delete('gh:rev:jti:pushed-nowhere');
        assert.equal(await reader.isTokenRevoked({ jti: 'pushed-nowhere' }), true);
        assert.equal(watched.finds(), before + 1, 'the durable log answered');
      } finally {
        await cache.close();
      }
    });
  },
);
