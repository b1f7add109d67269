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
import { createBus, createEmbeddedStore } from '../../src/storage/index.js';
import { sleep } from '../support/servers.js';

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
