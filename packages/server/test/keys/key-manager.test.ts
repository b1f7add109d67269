import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ManualClock, type Store, signJwt, verifyJwt } from '@gatehouse/core';
import { pino } from 'pino';
import { KeyManager } from '../../src/keys/key-manager.js';
import { KeyVault, loadKek } from '../../src/keys/key-vault.js';
import { createEmbeddedStore, createMemoryBus, createMemoryBusHub } from '../../src/storage/index.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const logger = pino({ level: 'silent' });
const RETENTION = 900 + 60;
/** Retired keys also stay through one reload interval (default 30 s). */
const KEPT = RETENTION + 30;

async function setup(name: string, clock: ManualClock, hub = createMemoryBusHub()) {
  const store = createEmbeddedStore({ path: join(dir, `${name}.db`) });
  await store.migrate();
  const vault = new KeyVault(randomBytes(32));
  const make = () =>
    new KeyManager(
      { store, vault, clock, bus: createMemoryBus({ hub }), logger },
      { algorithm: 'ES256', activationDelay: 600, retention: RETENTION },
    );
  return { store, vault, make, hub };
}

const jwks = (m: KeyManager) => (JSON.parse(m.jwksJson()) as { keys: { kid: string; d?: string }[] }).keys;

test('first start creates one active key; the JWKS shows public members only', async () => {
  const clock = new ManualClock(1_800_000_000_000);
  const { store, make } = await setup('first', clock);
  const keys = make();
  await keys.start();
  assert.equal(keys.list().length, 1);
  assert.equal(keys.list()[0]?.state, 'active');
  assert.equal(jwks(keys).length, 1);
  assert.equal(jwks(keys)[0]?.d, undefined);
  await keys.stop();
  await store.close();
});

test('rotation publishes the next key first, switches after the delay, retires the old one until its tokens expire', async () => {
  const clock = new ManualClock(1_800_000_000_000);
  const { store, make } = await setup('rotate', clock);
  const keys = make();
  await keys.start();
  const first = keys.signingKey();
  const oldToken = signJwt(
    { typ: 'at+jwt' },
    { iss: 'i', aud: 'a', iat: 1_800_000_000, exp: 1_800_000_900 },
    first,
  );

  const next = await keys.rotate();
  assert.equal(next.state, 'next');
  assert.equal(jwks(keys).length, 2, 'published before it signs');
  assert.equal(keys.signingKey().kid, first.kid, 'old key still signs during the delay');

  clock.advance(600_000);
  assert.equal(keys.signingKey().kid, next.kid, 'switch happens on the hot path at the activation time');
  await keys.reload();
  const states = Object.fromEntries(keys.list().map((k) => [k.kid, k.state]));
  assert.deepEqual(states, { [first.kid]: 'retired', [next.kid]: 'active' });
  const retired = keys.list().find((k) => k.kid === first.kid);
  assert.equal(retired?.expires_at, 1_800_000_600 + KEPT);
  // tokens signed by the retired key still verify while it is published
  const opts = { issuer: 'i', audience: 'a', typ: 'at+jwt', maxLifetimeSeconds: 900, clock };
  assert.equal(verifyJwt(oldToken, keys.verificationKeys(), opts).payload.iss, 'i');

  clock.advance(KEPT * 1000);
  await keys.reload();
  assert.deepEqual(
    keys.list().map((k) => k.kid),
    [next.kid],
    'removed once every token it signed has expired',
  );
  assert.equal((await store.keys.list()).length, 1);
  await keys.stop();
  await store.close();
});

test('an emergency rotation (delay 0) signs at once even while another key is scheduled', async () => {
  const clock = new ManualClock(1_800_000_000_000);
  const { store, make } = await setup('emergency', clock);
  const keys = make();
  await keys.start();
  clock.advance(5_000);
  const scheduled = await keys.rotate();
  assert.equal(scheduled.state, 'next');
  const emergency = await keys.rotate(0);
  assert.equal(emergency.state, 'active');
  assert.equal(keys.signingKey().kid, emergency.kid);
  await keys.stop();
  await store.close();
});

test('a second instance sees a rotation over the bus and agrees on the signer', async () => {
  const clock = new ManualClock(1_800_000_000_000);
  const { store, make } = await setup('two', clock);
  const a = make();
  const b = make();
  await a.start();
  await b.start();
  assert.equal(a.signingKey().kid, b.signingKey().kid);
  const next = await a.rotate(0);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(
    jwks(b).some((k) => k.kid === next.kid),
    'b published the new key after the event',
  );
  clock.advance(1000);
  assert.equal(b.signingKey().kid, next.kid);
  assert.equal(a.signingKey().kid, next.kid);
  await a.stop();
  await b.stop();
  await store.close();
});

test('private keys are sealed at rest: no PKCS#8 in the database, wrong KEK or altered data refuse to open', async () => {
  const clock = new ManualClock(1_800_000_000_000);
  const { store, make } = await setup('sealed', clock);
  const keys = make();
  await keys.start();
  const [record] = await (store as Store).keys.list();
  assert.ok(record);
  assert.match(record.sealedPrivateKey, /^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
  const pkcs8 = keys.signingKey().privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64url');
  const dbBytes = readFileSync(join(dir, 'sealed.db'));
  assert.equal(dbBytes.includes(Buffer.from(pkcs8.slice(20, 60))), false);
  assert.throws(
    () => new KeyVault(randomBytes(32)).open(record.kid, record.sealedPrivateKey),
    /ERR_KEY_DECRYPT_FAILED|cannot open/,
  );
  const vault = new KeyVault(randomBytes(32));
  const sealed = vault.seal('kid-a', keys.signingKey().privateKey);
  assert.throws(() => vault.open('kid-b', sealed), /cannot open/, 'bound to its kid');
  const flipped = sealed.slice(0, -3) + (sealed.at(-3) === 'A' ? 'B' : 'A') + sealed.slice(-2);
  assert.throws(() => vault.open('kid-a', flipped), /cannot open/, 'tampering detected');
  await keys.stop();
  await store.close();
});

test('the generated key-encryption key file is created with mode 0600 and reused', () => {
  const path = join(dir, 'kekdir', 'kek');
  const first = loadKek(undefined, path, {});
  assert.equal(first.created, true);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const second = loadKek(undefined, path, {});
  assert.equal(second.created, false);
  assert.deepEqual(second.kek, first.kek);
  assert.throws(() => loadKek({ source: 'env', env: 'NOPE' }, path, {}), /NOPE/);
  assert.throws(() => loadKek({ source: 'env', env: 'K' }, path, { K: 'short' }), /32-byte/);
  assert.equal(loadKek({ source: 'env', env: 'K' }, path, { K: 'ab'.repeat(32) }).kek.length, 32);
});
