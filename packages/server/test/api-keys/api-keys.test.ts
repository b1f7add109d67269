import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ManualClock, type Store } from '@gatehouse/core';
import { pino } from 'pino';
import { ApiKeys } from '../../src/api-keys/api-keys.js';
import { auditChainKey } from '../../src/audit/audit-chain.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { verifyAuditChain } from '../../src/audit/verify-audit.js';
import { createEmbeddedStore } from '../../src/storage/index.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-apikeys-'));
const clock = new ManualClock(1_800_000_000_000);
const key = auditChainKey(randomBytes(32));
const logger = pino({ level: 'silent' });
let store: Store;
let keys: ApiKeys;

before(async () => {
  store = createEmbeddedStore({ path: join(dir, 'k.db') });
  await store.migrate();
  keys = new ApiKeys({ store, clock, audit: new AuditLog({ store, key, clock, logger }), logger });
});
after(async () => {
  await keys.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Changes one character of the secret part, keeping it well-formed. */
const tamper = (k: string) => k.slice(0, -1) + (k.endsWith('A') ? 'B' : 'A');

test('a created key has the sk_<id>.<secret> form (≥ 190 secret bits), is stored only as a digest, and verifies', async () => {
  const { record, key: text } = await keys.create(
    { name: 'orders', owner: 'orders-svc', scopes: ['inventory:read'] },
    'test',
  );
  assert.match(text, /^sk_[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}$/);
  assert.equal(text.split('.')[1]?.length, 43, '256-bit secret');
  assert.ok(
    !JSON.stringify(await store.apiKeys.get(record.id)).includes(text.split('.')[1] ?? '?'),
    'no secret stored',
  );
  const valid = await keys.verify(text);
  assert.equal(valid?.key.id, record.id);
  assert.equal(valid?.validUntil, null);
});

test('tampered, malformed, unknown, expired and revoked keys are all simply invalid', async () => {
  const { record, key: text } = await keys.create(
    { name: 'short', owner: 'svc', scopes: [], expiresIn: 60 },
    'test',
  );
  assert.ok(await keys.verify(text));
  for (const bad of [
    tamper(text),
    `${text}x`,
    text.replace('sk_', 'pk_'),
    `sk_${'A'.repeat(16)}.${'B'.repeat(43)}`,
    '',
    'sk_.',
  ]) {
    assert.equal(await keys.verify(bad), undefined, bad.slice(0, 30));
  }
  clock.advance(60_000);
  assert.equal(await keys.verify(text), undefined, 'expired');
  const other = await keys.create({ name: 'r', owner: 'svc', scopes: [] }, 'test');
  await keys.revoke(other.record.id, 'test');
  assert.equal(await keys.verify(other.key), undefined, 'revoked');
  assert.equal(record.expiresAt, 1_800_000_060);
});

test('rotation: the new key works at once, the old one through the overlap and not after', async () => {
  const first = await keys.create({ name: 'payments', owner: 'payments-svc', scopes: ['charge'] }, 'test');
  const second = await keys.rotate(first.record.id, 'test', 3600);
  assert.ok(await keys.verify(second.key));
  const old = await keys.verify(first.key);
  assert.equal(old?.validUntil, 1_800_000_060 + 3600);
  await assert.rejects(keys.rotate(first.record.id, 'test'), /already rotated/);
  clock.advance(3_600_000);
  assert.equal(await keys.verify(first.key), undefined, 'overlap over');
  assert.ok(await keys.verify(second.key));
  assert.deepEqual(second.record.scopes, ['charge']);
});

test('last_used_at is batched: nothing written per request, one write per key on flush', async () => {
  const { record, key: text } = await keys.create({ name: 'batch', owner: 'svc', scopes: [] }, 'test');
  for (let i = 0; i < 50; i++) await keys.verify(text);
  assert.equal((await store.apiKeys.get(record.id))?.lastUsedAt, null, 'not written per request');
  await keys.flushLastUsed();
  assert.equal((await store.apiKeys.get(record.id))?.lastUsedAt, 1_800_003_660);
});

test('create, rotate and revoke are in the audit chain', async () => {
  const result = await verifyAuditChain(store, key);
  assert.equal(result.ok, true);
  const actions = (await store.audit.list(0, 1000)).map((r) => r.action);
  for (const action of ['api_key.created', 'api_key.rotated', 'api_key.revoked'])
    assert.ok(actions.includes(action), action);
});
