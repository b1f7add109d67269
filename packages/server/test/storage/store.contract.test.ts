/** One Store contract, run against every Store adapter on real databases. */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it, type TestContext } from 'node:test';
import { Kysely, sql } from 'kysely';
import pg from 'pg';
import { fileURLToPath } from 'node:url';
import type {
  ClientRecord,
  DecisionRecord,
  OpaqueTokenRecord,
  RefreshFamilyRecord,
  SigningKeyRecord,
  Store,
  UserRecord,
} from '@gatehouse/core';
import { createEmbeddedStore } from '../../src/storage/embedded-store.js';
import { CurrentSchemaPostgresDialect } from '../../src/storage/postgres-introspector.js';
import { createPostgresStore } from '../../src/storage/postgres-store.js';
import {
  describeAdapter,
  isGatehouseError,
  type Lease,
  lease,
  servers,
  uniqueName,
  unreachableUrl,
} from '../support/servers.js';

interface StoreHarness {
  /** A fresh, migrated store with no rows, released when the test ends. */
  open(t: TestContext): Promise<Store>;
  /** A store whose database cannot be reached (opening itself may throw). */
  openUnreachable(): Store;
}

// Past 2^31 on purpose: epoch columns must be 64-bit (int4 overflows in 2038).
const FAR_EXP = 4_102_444_800;
const T0 = 1_750_000_000;

function client(id: string, overrides: Partial<ClientRecord> = {}): ClientRecord {
  return {
    id,
    name: `Client ${id}`,
    secretDigest: 'sha256:abc',
    scopes: ['read', 'write'],
    resources: ['urn:api:orders', 'urn:api:billing'],
    defaultAudience: null,
    grantTypes: ['client_credentials'],
    accessTokenFormat: 'jwt',
    accessTokenTtl: null,
    source: 'api',
    createdAt: T0,
    updatedAt: T0,
    mayAct: null,
    ...overrides,
  };
}

function signingKey(kid: string, overrides: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  return {
    kid,
    alg: 'ES256',
    publicJwk: JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid }),
    sealedPrivateKey: 'sealed:v1:abc',
    state: 'next',
    createdAt: T0,
    activatesAt: T0 + 3600,
    retiredAt: null,
    expiresAt: null,
    ...overrides,
  };
}

function opaque(digest: string, exp: number): OpaqueTokenRecord {
  return {
    digest,
    jti: `jti-${digest}`,
    clientId: 'c1',
    sub: 'user-1',
    scope: 'read write',
    aud: ['a', 'b'],
    iat: T0,
    exp,
    extra: null,
  };
}

function family(id: string, overrides: Partial<RefreshFamilyRecord> = {}): RefreshFamilyRecord {
  return {
    id,
    clientId: 'gatehouse-login',
    sub: 'usr_1',
    scope: 'orders:read',
    aud: ['https://api.example'],
    binding: 'csrf:abc',
    createdAt: T0,
    expiresAt: FAR_EXP,
    lastUsedAt: T0,
    generation: 0,
    rotatedAtMs: T0 * 1000,
    recentRotations: [],
    revokedAt: null,
    revokedReason: null,
    ...overrides,
  };
}

const conflict = isGatehouseError('ERR_STORE_CONFLICT', 409);
const unavailable = isGatehouseError('ERR_STORE_UNAVAILABLE', 503);

function storeContract(h: StoreHarness): void {
  it('migrate() twice is harmless and keeps rows; ping() answers', async (t) => {
    const store = await h.open(t);
    await store.clients.create(client('c1'));
    await store.migrate();
    await store.migrate();
    await store.ping();
    assert.deepEqual(await store.clients.get('c1'), client('c1'));
  });

  it('clients: create and get round-trip every field', async (t) => {
    const store = await h.open(t);
    const full = client('full', {
      defaultAudience: 'urn:api:orders',
      accessTokenFormat: 'opaque',
      accessTokenTtl: 600,
      source: 'config',
      scopes: [],
      createdAt: T0,
      updatedAt: FAR_EXP,
    });
    await store.clients.create(full);
    await store.clients.create(client('bare'));
    assert.deepEqual(await store.clients.get('full'), full);
    assert.deepEqual(await store.clients.get('bare'), client('bare'));
    assert.equal(await store.clients.get('missing'), undefined);
  });

  it('clients: a duplicate id is ERR_STORE_CONFLICT and leaves the first record', async (t) => {
    const store = await h.open(t);
    await store.clients.create(client('dup'));
    await assert.rejects(store.clients.create(client('dup', { name: 'other' })), conflict);
    assert.equal((await store.clients.get('dup'))?.name, 'Client dup');
  });

  it('clients: concurrent creates of one id let exactly one win', async (t) => {
    const store = await h.open(t);
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => store.clients.create(client('race', { name: `n${i}` }))),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.ok(conflict(r.reason));
  });

  it('clients: update changes only the patched fields; a missing id gives undefined', async (t) => {
    const store = await h.open(t);
    await store.clients.create(client('c1'));
    const updated = await store.clients.update('c1', {
      name: 'Renamed',
      scopes: ['read'],
      defaultAudience: 'urn:api:orders',
      accessTokenTtl: 300,
      updatedAt: T0 + 10,
    });
    const expected = client('c1', {
      name: 'Renamed',
      scopes: ['read'],
      defaultAudience: 'urn:api:orders',
      accessTokenTtl: 300,
      updatedAt: T0 + 10,
    });
    assert.deepEqual(updated, expected);
    assert.deepEqual(await store.clients.get('c1'), expected);
    // Back to null: null is a value, not "leave alone".
    assert.equal((await store.clients.update('c1', { defaultAudience: null }))?.defaultAudience, null);
    assert.deepEqual(await store.clients.update('c1', {}), { ...expected, defaultAudience: null });
    assert.equal(await store.clients.update('missing', { name: 'x' }), undefined);
    assert.equal(await store.clients.update('missing', {}), undefined);
    assert.equal(await store.clients.get('missing'), undefined);
  });

  it('clients: list is ordered by id whatever the insertion order; delete reports what it did', async (t) => {
    const store = await h.open(t);
    assert.deepEqual(await store.clients.list(), []);
    for (const id of ['m', 'b', 'z', 'a'])
      await store.clients.create(client(id, { createdAt: T0 - id.charCodeAt(0) }));
    assert.deepEqual(
      (await store.clients.list()).map((c) => c.id),
      ['a', 'b', 'm', 'z'],
    );
    assert.equal(await store.clients.delete('m'), true);
    assert.equal(await store.clients.delete('m'), false);
    assert.equal(await store.clients.get('m'), undefined);
    assert.deepEqual(
      (await store.clients.list()).map((c) => c.id),
      ['a', 'b', 'z'],
    );
  });

  it('signing keys: next → active → retired, listed oldest first', async (t) => {
    const store = await h.open(t);
    await store.keys.insert(signingKey('k2', { createdAt: T0 + 100 }));
    await store.keys.insert(signingKey('k1', { state: 'active', activatesAt: T0 }));
    await store.keys.insert(signingKey('k0', { createdAt: T0 + 100 }));
    assert.deepEqual(
      (await store.keys.list()).map((k) => k.kid),
      ['k1', 'k0', 'k2'],
    );

    await store.keys.update('k2', { state: 'active', activatesAt: T0 + 200 });
    await store.keys.update('k1', { state: 'retired', retiredAt: T0 + 200, expiresAt: FAR_EXP });
    const byKid = new Map((await store.keys.list()).map((k) => [k.kid, k]));
    assert.deepEqual(
      byKid.get('k2'),
      signingKey('k2', { createdAt: T0 + 100, state: 'active', activatesAt: T0 + 200 }),
    );
    assert.deepEqual(
      byKid.get('k1'),
      signingKey('k1', { state: 'retired', activatesAt: T0, retiredAt: T0 + 200, expiresAt: FAR_EXP }),
    );
    assert.equal(byKid.get('k0')?.state, 'next');

    assert.equal(await store.keys.delete('k1'), true);
    assert.equal(await store.keys.delete('k1'), false);
    assert.deepEqual(
      (await store.keys.list()).map((k) => k.kid),
      ['k0', 'k2'],
    );
  });

  it('signing keys: a duplicate kid conflicts; updating a missing kid is ERR_STORE_NOT_FOUND', async (t) => {
    const store = await h.open(t);
    await store.keys.insert(signingKey('k1'));
    await assert.rejects(store.keys.insert(signingKey('k1')), conflict);
    const notFound = isGatehouseError('ERR_STORE_NOT_FOUND', 404);
    await assert.rejects(store.keys.update('nope', { state: 'active' }), notFound);
    await assert.rejects(store.keys.update('nope', {}), notFound);
    await store.keys.update('k1', {});
    assert.equal((await store.keys.list())[0]?.state, 'next');
  });

  it('opaque tokens: put and get round-trip; unknown digests are undefined; digests are unique', async (t) => {
    const store = await h.open(t);
    const record = opaque('d1', FAR_EXP);
    await store.tokens.putOpaque(record);
    assert.deepEqual(await store.tokens.getOpaque('d1'), record);
    assert.equal(await store.tokens.getOpaque('d2'), undefined);
    await assert.rejects(store.tokens.putOpaque({ ...record, jti: 'other' }), conflict);
  });

  it('revocations: revoke is idempotent and keeps the first entry; isRevoked tells them apart', async (t) => {
    const store = await h.open(t);
    assert.equal(await store.tokens.isRevoked('j1'), false);
    await store.tokens.revoke({ jti: 'j1', exp: T0 + 100, revokedAt: T0 });
    // A replay with a later exp must not extend the entry: purge at T0+500 still removes it.
    await store.tokens.revoke({ jti: 'j1', exp: FAR_EXP, revokedAt: T0 + 50 });
    assert.equal(await store.tokens.isRevoked('j1'), true);
    assert.equal(await store.tokens.isRevoked('j2'), false);
    assert.equal(await store.tokens.purgeExpired(T0 + 500), 1);
    assert.equal(await store.tokens.isRevoked('j1'), false);
  });

  it('purgeExpired removes only rows whose exp is before now', async (t) => {
    const store = await h.open(t);
    const now = T0 + 1000;
    for (const [digest, exp] of [
      ['old1', now - 500],
      ['old2', now - 1],
      ['edge', now],
      ['live', FAR_EXP],
    ] as const) {
      await store.tokens.putOpaque(opaque(digest, exp));
    }
    await store.tokens.revoke({ jti: 'r-old', exp: now - 10, revokedAt: T0 });
    await store.tokens.revoke({ jti: 'r-edge', exp: now, revokedAt: T0 });
    await store.tokens.revoke({ jti: 'r-live', exp: FAR_EXP, revokedAt: T0 });

    assert.equal(await store.tokens.purgeExpired(now), 3);
    assert.equal(await store.tokens.getOpaque('old1'), undefined);
    assert.equal(await store.tokens.getOpaque('old2'), undefined);
    assert.deepEqual(await store.tokens.getOpaque('edge'), opaque('edge', now));
    assert.deepEqual(await store.tokens.getOpaque('live'), opaque('live', FAR_EXP));
    assert.equal(await store.tokens.isRevoked('r-old'), false);
    assert.equal(await store.tokens.isRevoked('r-edge'), true);
    assert.equal(await store.tokens.isRevoked('r-live'), true);
    assert.equal(await store.tokens.purgeExpired(now), 0);
  });

  it('audit: append keeps order and fields; a taken seq conflicts and writes nothing of its batch', async (t) => {
    const store = await h.open(t);
    assert.equal(await store.audit.head(), undefined);
    const entry = (seq: number) => ({
      seq,
      at: 1_750_000_000_123 + seq,
      actor: 'client:a',
      action: 'token.issued',
      target: seq % 2 ? `jti-${seq}` : null,
      outcome: 'success' as const,
      details: '{"scope":"read"}',
      prevHash: `p${seq}`,
      hash: `h${seq}`,
    });
    await store.audit.append([entry(1), entry(2), entry(3)]);
    assert.deepEqual(await store.audit.head(), entry(3));
    assert.deepEqual(await store.audit.list(0, 10), [entry(1), entry(2), entry(3)]);
    assert.deepEqual(await store.audit.list(1, 1), [entry(2)]);
    await assert.rejects(
      store.audit.append([entry(4), entry(3)]),
      isGatehouseError('ERR_STORE_CONFLICT', 409),
    );
    assert.deepEqual(await store.audit.head(), entry(3), 'the failed batch left no row behind');
  });

  it('users: round-trip every field, unique id and case-folded username, paging by id, patch, delete', async (t) => {
    const store = await h.open(t);
    const user = (id: string, username: string): UserRecord => ({
      id,
      username,
      usernameKey: username.toLowerCase(),
      passwordHash:
        '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
      disabled: false,
      roles: ['admin', 'support'],
      groups: ['ops'],
      attributes: { tenant: 'acme', level: 3, mfa: true },
      createdAt: T0,
      updatedAt: T0,
      passwordChangedAt: FAR_EXP,
    });
    await store.users.create(user('u2', 'Bob'));
    await store.users.create(user('u1', 'Alice'));
    await store.users.create(user('u3', 'Carol'));
    assert.deepEqual(await store.users.get('u1'), user('u1', 'Alice'));
    assert.deepEqual(await store.users.getByUsernameKey('alice'), user('u1', 'Alice'));
    assert.equal(await store.users.getByUsernameKey('Alice'), undefined, 'lookup is by the folded key');
    await assert.rejects(
      store.users.create(user('u1', 'Other')),
      isGatehouseError('ERR_STORE_CONFLICT', 409),
    );
    await assert.rejects(
      store.users.create(user('u9', 'ALICE')),
      isGatehouseError('ERR_STORE_CONFLICT', 409),
    );
    assert.deepEqual(
      (await store.users.list(null, 2)).map((u) => u.id),
      ['u1', 'u2'],
    );
    assert.deepEqual(
      (await store.users.list('u2', 10)).map((u) => u.id),
      ['u3'],
    );
    const updated = await store.users.update('u2', {
      disabled: true,
      roles: [],
      updatedAt: T0 + 5,
      passwordHash: null,
    });
    assert.equal(updated?.disabled, true);
    assert.deepEqual(updated?.roles, []);
    assert.equal(updated?.passwordHash, null);
    assert.deepEqual(updated?.groups, ['ops'], 'unpatched fields stay');
    await assert.rejects(
      store.users.update('u3', { usernameKey: 'alice' }),
      isGatehouseError('ERR_STORE_CONFLICT', 409),
    );
    assert.equal(await store.users.update('nobody', { disabled: true }), undefined);
    assert.equal(await store.users.delete('u3'), true);
    assert.equal(await store.users.delete('u3'), false);
  });

  it('clients: a may_act rule round-trips; opaque tokens keep their extra claims', async (t) => {
    const store = await h.open(t);
    const actor = client('actor', {
      grantTypes: ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'],
      mayAct: { subjectAudiences: ['orders'], scopes: ['inventory:read'] },
    });
    await store.clients.create(actor);
    assert.deepEqual(await store.clients.get('actor'), actor);
    const cleared = await store.clients.update('actor', { mayAct: null });
    assert.equal(cleared?.mayAct, null);
    const record = { ...opaque('with-extra', FAR_EXP), extra: JSON.stringify({ act: { sub: 'svc' } }) };
    await store.tokens.putOpaque(record);
    assert.deepEqual(await store.tokens.getOpaque('with-extra'), record);
  });

  it('refresh families: create, find any generation, rotate by compare-and-set', async (t) => {
    const store = await h.open(t);
    await store.refreshTokens.createFamily(family('f1'), 'd0');
    const found = await store.refreshTokens.find('d0');
    assert.deepEqual(found, { token: { digest: 'd0', familyId: 'f1', generation: 0 }, family: family('f1') });
    assert.equal(await store.refreshTokens.find('nope'), undefined);
    await assert.rejects(store.refreshTokens.createFamily(family('f1'), 'dx'), conflict);
    assert.equal(await store.refreshTokens.find('dx'), undefined, 'a failed create leaves no token');

    const recentRotations = [{ generation: 1, salt: 's1', atMs: T0 * 1000 + 5 }];
    const rotation = { digest: 'd1', recentRotations, rotatedAtMs: T0 * 1000 + 5, lastUsedAt: T0 + 1 };
    assert.equal(await store.refreshTokens.rotate('f1', { ...rotation, fromGeneration: 0 }), true);
    assert.equal(
      await store.refreshTokens.rotate('f1', { ...rotation, digest: 'd1b', fromGeneration: 0 }),
      false,
      'a second rotation from the same generation loses',
    );
    assert.equal(await store.refreshTokens.find('d1b'), undefined, 'the loser records no token');
    const after = await store.refreshTokens.getFamily('f1');
    assert.equal(after?.generation, 1);
    assert.deepEqual(after?.recentRotations, recentRotations);
    assert.equal(after?.rotatedAtMs, T0 * 1000 + 5);
    assert.equal(after?.lastUsedAt, T0 + 1);
    assert.equal((await store.refreshTokens.find('d0'))?.token.generation, 0, 'old tokens stay findable');
    assert.equal((await store.refreshTokens.find('d1'))?.token.generation, 1);
  });

  it('refresh families: concurrent rotations of one generation let exactly one win', async (t) => {
    const store = await h.open(t);
    await store.refreshTokens.createFamily(family('race'), 'r0');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.refreshTokens.rotate('race', {
          fromGeneration: 0,
          digest: `r1-${i}`,
          recentRotations: [{ generation: 1, salt: `s${i}`, atMs: T0 * 1000 }],
          rotatedAtMs: T0 * 1000,
          lastUsedAt: T0,
        }),
      ),
    );
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal((await store.refreshTokens.getFamily('race'))?.generation, 1);
  });

  it('refresh families: revocation is first-reason-wins, by family or by subject; a revoked family does not rotate', async (t) => {
    const store = await h.open(t);
    await store.refreshTokens.createFamily(family('a', { sub: 'usr_a' }), 'a0');
    await store.refreshTokens.createFamily(family('b', { sub: 'usr_a', createdAt: T0 + 1 }), 'b0');
    await store.refreshTokens.createFamily(family('c', { sub: 'usr_c' }), 'c0');
    assert.deepEqual(
      (await store.refreshTokens.listLive('usr_a', T0)).map((f) => f.id),
      ['a', 'b'],
    );
    assert.equal(await store.refreshTokens.revokeFamily('a', T0 + 10, 'reuse_detected'), true);
    assert.equal(await store.refreshTokens.revokeFamily('a', T0 + 20, 'logout'), false);
    const a = await store.refreshTokens.getFamily('a');
    assert.equal(a?.revokedAt, T0 + 10);
    assert.equal(a?.revokedReason, 'reuse_detected');
    assert.equal(
      await store.refreshTokens.rotate('a', {
        fromGeneration: 0,
        digest: 'a1',
        recentRotations: [],
        rotatedAtMs: 0,
        lastUsedAt: 0,
      }),
      false,
    );
    const ended = await store.refreshTokens.revokeSubject('usr_a', T0 + 30, 'password_changed');
    assert.deepEqual(
      ended.map((f) => [f.id, f.revokedReason]),
      [['b', 'password_changed']],
    );
    assert.deepEqual(await store.refreshTokens.listLive('usr_a', T0), []);
    assert.equal((await store.refreshTokens.getFamily('c'))?.revokedAt, null, 'other subjects untouched');
  });

  it('refresh families: purgeExpired drops ended families and their tokens only', async (t) => {
    const store = await h.open(t);
    await store.refreshTokens.createFamily(family('old', { expiresAt: T0 + 5 }), 'o0');
    await store.refreshTokens.rotate('old', {
      fromGeneration: 0,
      digest: 'o1',
      recentRotations: [],
      rotatedAtMs: 0,
      lastUsedAt: T0,
    });
    await store.refreshTokens.createFamily(family('new'), 'n0');
    assert.equal(await store.refreshTokens.purgeExpired(T0 + 6), 1);
    assert.equal(await store.refreshTokens.find('o0'), undefined);
    assert.equal(await store.refreshTokens.find('o1'), undefined);
    assert.ok(await store.refreshTokens.find('n0'));
  });

  it('revocation log: numbered without gaps under concurrent writers, read after a seq, found by kind and value, purged at exp', async (t) => {
    const store = await h.open(t);
    assert.equal(await store.revocationLog.head(), 0);
    const entry = (kind: 'jti' | 'sub', value: string, exp = FAR_EXP) => ({
      kind,
      value,
      notBefore: kind === 'sub' ? T0 : 0,
      exp,
      createdAt: T0,
    });
    const written = await Promise.all(
      Array.from({ length: 10 }, (_, i) => store.revocationLog.append(entry('jti', `j${i}`))),
    );
    assert.deepEqual(
      written.map((r) => r.seq).sort((a, b) => a - b),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    await store.revocationLog.append(entry('sub', 'usr_1'));
    await store.revocationLog.append(entry('jti', 'old', T0 + 5));
    assert.equal(await store.revocationLog.head(), 12);
    assert.deepEqual(
      (await store.revocationLog.since(10, 100)).map((r) => [r.seq, r.kind, r.value]),
      [
        [11, 'sub', 'usr_1'],
        [12, 'jti', 'old'],
      ],
    );
    assert.equal((await store.revocationLog.since(0, 3)).length, 3);
    assert.equal((await store.revocationLog.find('sub', 'usr_1', T0))?.notBefore, T0);
    assert.equal(await store.revocationLog.find('jti', 'usr_1', T0), undefined, 'kind is part of the key');
    assert.equal(
      await store.revocationLog.find('jti', 'old', T0 + 6),
      undefined,
      'expired entries are not found',
    );
    assert.equal(await store.revocationLog.purgeExpired(T0 + 6), 0, 'the head is kept even when expired');
    await store.revocationLog.append(entry('jti', 'next'));
    assert.equal(await store.revocationLog.purgeExpired(T0 + 6), 1);
    assert.equal(await store.revocationLog.head(), 13, 'numbering goes on from the head');
  });

  it('policy versions: numbered without forks, current and get round-trip, listed newest first', async (t) => {
    const store = await h.open(t);
    assert.equal(await store.policies.current(), undefined);
    const version = (n: number) => ({
      version: n,
      schema: 'namespace Gatehouse { entity User; }',
      policies: {
        'a.cedar': `permit(principal, action, resource); // ${n}`,
        'b.cedar': 'forbid(principal, action, resource);',
      },
      createdBy: 'admin:ops',
      createdAt: T0 * 1000 + n,
      digest: `sha256:${n}`,
    });
    await store.policies.append(version(1));
    await store.policies.append(version(2));
    // Two writers taking the same next number: exactly one wins, the other changes nothing.
    const results = await Promise.allSettled([
      store.policies.append(version(3)),
      store.policies.append(version(3)),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const rejected = results.find((r) => r.status === 'rejected');
    assert.ok(rejected && conflict(rejected.reason));
    assert.deepEqual(await store.policies.current(), version(3));
    assert.deepEqual(await store.policies.get(1), version(1));
    assert.equal(await store.policies.get(9), undefined);
    const listed = await store.policies.list(null, 2);
    assert.deepEqual(
      listed.map((v) => v.version),
      [3, 2],
    );
    assert.deepEqual(await store.policies.list(2, 10), [
      { version: 1, createdBy: 'admin:ops', createdAt: T0 * 1000 + 1, digest: 'sha256:1' },
    ]);
  });

  it('decision log: round-trips every field, filters by decision, principal and time, pages newest first', async (t) => {
    const store = await h.open(t);
    const decision = (i: number, overrides: Partial<DecisionRecord> = {}): DecisionRecord => ({
      id: `dec_${String(i).padStart(3, '0')}`,
      at: T0 * 1000 + Math.floor(i / 2), // pairs share a millisecond: the id breaks the tie
      decision: i % 3 === 0 ? 'allow' : 'deny',
      principal: i % 2 === 0 ? 'Gatehouse::User::"alice"' : 'Gatehouse::User::"bob"',
      action: 'Gatehouse::Action::"read"',
      resource: 'Gatehouse::Document::"d1"',
      policyVersion: 4,
      policies: i % 3 === 0 ? ['permit-readers'] : [],
      errors: i === 1 ? ['p9: overflow'] : [],
      latencyUs: 40 + i,
      source: 'api',
      input: JSON.stringify({ i }),
      ...overrides,
    });
    const all = Array.from({ length: 12 }, (_, i) => decision(i));
    await store.decisions.append(all.slice(0, 5));
    await store.decisions.append(all.slice(5));
    await store.decisions.append([]);
    const newestFirst = [...all].reverse();
    assert.deepEqual(await store.decisions.query({ limit: 100 }), newestFirst);
    const pages: string[][] = [];
    let after: { at: number; id: string } | undefined;
    for (;;) {
      const page = await store.decisions.query({ limit: 5, ...(after && { after }) });
      if (page.length === 0) break;
      pages.push(page.map((d) => d.id));
      const last = page.at(-1);
      after = last && { at: last.at, id: last.id };
    }
    assert.deepEqual(
      pages.flat(),
      newestFirst.map((d) => d.id),
    );
    assert.equal(pages.length, 3);
    const denies = await store.decisions.query({ limit: 100, decision: 'deny' });
    assert.deepEqual(
      denies.map((d) => d.id),
      newestFirst.filter((d) => d.decision === 'deny').map((d) => d.id),
    );
    const bob = await store.decisions.query({
      limit: 100,
      principal: 'Gatehouse::User::"bob"',
      decision: 'allow',
    });
    assert.deepEqual(
      bob.map((d) => d.id),
      ['dec_009', 'dec_003'],
    );
    const window = await store.decisions.query({ limit: 100, from: T0 * 1000 + 2, to: T0 * 1000 + 4 });
    assert.deepEqual(
      window.map((d) => d.id),
      ['dec_007', 'dec_006', 'dec_005', 'dec_004'],
    );
    await assert.rejects(store.decisions.append([decision(0)]), conflict);
  });

  it('an unreachable database is ERR_STORE_UNAVAILABLE (503)', async () => {
    await assert.rejects(async () => {
      const store = h.openUnreachable();
      try {
        await store.ping();
      } finally {
        await store.close();
      }
    }, unavailable);
  });
}

/** Closes first, then removes what the store left behind. */
function storeLease<S extends Store>(store: S, cleanup: () => Promise<void>): Lease<S> {
  return {
    value: store,
    async dispose() {
      try {
        await cleanup();
      } finally {
        await store.close();
        await store.close();
      }
    },
  };
}

await describeAdapter('Store contract: embedded (SQLite file)', undefined, () => {
  storeContract({
    async open(t) {
      const dir = await mkdtemp(join(tmpdir(), 'gatehouse-store-'));
      const store = createEmbeddedStore({ path: join(dir, 'nested', 'gatehouse.db') });
      await store.migrate();
      return lease(
        t,
        storeLease(store, () => rm(dir, { recursive: true, force: true })),
      );
    },
    openUnreachable() {
      // The parent "directory" is this test file, so the database can never be opened.
      return createEmbeddedStore({ path: join(fileURLToPath(import.meta.url), 'gatehouse.db') });
    },
  });

  it('creates the parent directory, uses WAL, and keeps data across reopen', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-store-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'a', 'b', 'gatehouse.db');
    const first = createEmbeddedStore({ path });
    await first.migrate();
    await first.clients.create(client('persisted'));
    assert.ok(existsSync(`${path}-wal`), 'WAL file exists while the database is open');
    await first.close();

    const second = createEmbeddedStore({ path });
    t.after(() => second.close());
    await second.migrate();
    assert.deepEqual(await second.clients.get('persisted'), client('persisted'));
  });

  it('accepts :memory: and closes an unused store', async () => {
    const unused = createEmbeddedStore({ path: ':memory:' });
    await unused.close();
    const store = createEmbeddedStore({ path: ':memory:' });
    await store.migrate();
    await store.clients.create(client('m'));
    assert.equal((await store.clients.list()).length, 1);
    await store.close();
  });
});

await describeAdapter('Store contract: postgres', servers.postgres, () => {
  const openPostgres = (schema: string, poolSize = 4) =>
    createPostgresStore({ url: servers.postgres.url, schema, poolSize });

  storeContract({
    async open(t) {
      const store = openPostgres(uniqueName('gh_test'));
      await store.migrate();
      return lease(
        t,
        storeLease(store, () => store.dropSchema()),
      );
    },
    openUnreachable: () => createPostgresStore({ url: unreachableUrl(servers.postgres.url) }),
  });

  it('keeps schemas apart, sets search_path on every pooled connection, and drops its schema', async (t) => {
    const a = await lease(
      t,
      storeLease(openPostgres(uniqueName('gh_test'), 5), async () => {}),
    );
    const b = openPostgres(uniqueName('gh_test'));
    await lease(
      t,
      storeLease(b, () => b.dropSchema()),
    );
    await a.migrate();
    await b.migrate();
    await a.clients.create(client('only-in-a'));
    assert.equal(await b.clients.get('only-in-a'), undefined);
    // More parallel queries than the pool holds: every connection must resolve the tables.
    const seen = await Promise.all(Array.from({ length: 20 }, () => a.clients.get('only-in-a')));
    assert.ok(seen.every((c) => c?.id === 'only-in-a'));

    await a.dropSchema();
    await assert.rejects(a.clients.list(), /does not exist/);
  });

  it('migrates while other schemas in the database are created and dropped', async () => {
    // Kysely's own introspector lists every schema's tables to find its migration table; a
    // schema dropped meanwhile failed that listing (invalid_schema_name, undefined_table,
    // undefined_column: about 7 % of listings under this churn). The store reads only its own.
    let stop = false;
    let churned = 0;
    const churner = async () => {
      const client = new pg.Client({ connectionString: servers.postgres.url });
      await client.connect();
      try {
        while (!stop) {
          const gone = uniqueName('gh_gone');
          const tables = Array.from(
            { length: 10 },
            (_, i) => `create table ${gone}.t${i} (id serial, v text)`,
          );
          await client.query(`create schema ${gone}; ${tables.join('; ')}`);
          await client.query(`drop schema ${gone} cascade`);
          churned++;
        }
      } finally {
        await client.end();
      }
    };
    const churning = Promise.all([churner(), churner()]);
    try {
      for (let i = 0; i < 24; i++) {
        const store = openPostgres(uniqueName('gh_test'));
        try {
          await store.migrate();
          assert.deepEqual(await store.clients.list(), []);
        } finally {
          await store.dropSchema();
          await store.close();
        }
      }
    } finally {
      stop = true;
      await churning;
    }
    assert.ok(churned > 0, 'schemas were dropped while the stores migrated');
  });

  it('introspects only its own schema: its tables, their columns and the migration bookkeeping', async () => {
    const ownSchema = uniqueName('gh_test');
    const own = openPostgres(ownSchema);
    const other = openPostgres(uniqueName('gh_test'));
    const db = new Kysely<unknown>({
      dialect: new CurrentSchemaPostgresDialect({
        pool: new pg.Pool({
          connectionString: servers.postgres.url,
          max: 1,
          options: `-c search_path=${ownSchema}`,
        }),
      }),
    });
    try {
      await own.migrate();
      await other.migrate();
      await sql`create table probe (n serial, m int generated always as identity, t text default 'x')`.execute(
        db,
      );
      const tables = await db.introspection.getTables();
      assert.ok(tables.length > 0);
      assert.ok(tables.every((table) => table.schema === ownSchema));
      assert.ok(!tables.some((table) => table.name.startsWith('kysely_')));
      const clients = tables.find((table) => table.name === 'clients');
      const id = clients?.columns.find((column) => column.name === 'id');
      assert.deepEqual(
        { nullable: id?.isNullable, type: id?.dataType, auto: id?.isAutoIncrementing },
        { nullable: false, type: 'text', auto: false },
      );
      const probe = tables.find((table) => table.name === 'probe');
      assert.deepEqual(
        probe?.columns.map((column) => [column.name, column.isAutoIncrementing, column.hasDefaultValue]),
        [
          ['n', true, true],
          ['m', true, false],
          ['t', false, true],
        ],
      );
      const withInternal = await db.introspection.getTables({ withInternalKyselyTables: true });
      assert.deepEqual(
        withInternal.map((table) => table.name).filter((name) => name.startsWith('kysely_')),
        ['kysely_migration', 'kysely_migration_lock'],
      );
      assert.ok((await db.introspection.getSchemas()).some((found) => found.name === ownSchema));
    } finally {
      await db.destroy();
      for (const store of [own, other]) {
        await store.dropSchema();
        await store.close();
      }
    }
  });

  it("without a configured schema, migrates into the connection's own schema, once", async () => {
    const own = uniqueName('gh_test');
    const admin = new pg.Client({ connectionString: servers.postgres.url });
    await admin.connect();
    try {
      await admin.query(`create schema ${own}`);
      // The search_path comes from the connection string, as an operator's role or URL would set it.
      const url = new URL(servers.postgres.url);
      url.searchParams.set('options', `-c search_path=${own}`);
      for (let run = 0; run < 2; run++) {
        const store = createPostgresStore({ url: url.toString(), poolSize: 2 });
        // (run 1 finds run 0's bookkeeping in the same schema)
        try {
          await store.migrate();
          assert.deepEqual(await store.clients.list(), []);
        } finally {
          await store.close();
        }
      }
      const tables = await admin.query<{ table_name: string }>(
        'select table_name from information_schema.tables where table_schema = $1',
        [own],
      );
      const names = tables.rows.map((row) => row.table_name);
      assert.ok(names.includes('clients') && names.includes('kysely_migration'), names.join(', '));
      // The second store found the bookkeeping there and applied nothing again (a rerun would have
      // failed on the existing tables).
      const applied = await admin.query<{ n: string }>(`select count(*) as n from ${own}.kysely_migration`);
      assert.ok(Number(applied.rows[0]?.n) > 0);
    } finally {
      await admin.query(`drop schema if exists ${own} cascade`);
      await admin.end();
    }
  });

  it('rejects a schema name that is not a plain identifier', () => {
    assert.throws(() => openPostgres('bad-name; drop'), isGatehouseError('ERR_CONFIG_INVALID'));
  });
});
