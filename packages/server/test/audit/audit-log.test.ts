import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it, type TestContext } from 'node:test';
import { ManualClock, type Store } from '@gatehouse/core';
import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { AUDIT_GENESIS, auditChainKey } from '../../src/audit/audit-chain.js';
import { AuditLog, NOTE_DELAY_MS } from '../../src/audit/audit-log.js';
import { verifyAuditChain } from '../../src/audit/verify-audit.js';
import { createEmbeddedStore, createPostgresStore } from '../../src/storage/index.js';
import { describeAdapter, servers, uniqueName } from '../support/servers.js';

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-audit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs raw SQL against the store's tables, as an attacker with database access would. */
type Tamper = (statement: string) => Promise<void>;

interface Harness {
  open(t: TestContext): Promise<{ store: Store; tamper: Tamper; reopen(): Promise<Store> }>;
}

function auditSuite(h: Harness): void {
  const key = auditChainKey(randomBytes(32));
  const clock = new ManualClock(1_800_000_000_000);
  const log = (store: Store) => new AuditLog({ store, key, clock, logger });

  it('concurrent records are committed together, numbered without gaps and chained', async (t) => {
    const { store } = await h.open(t);
    const audit = log(store);
    const records = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        audit.record({ actor: 'client:a', action: 'token.issued', target: `jti-${i}` }),
      ),
    );
    assert.deepEqual(
      records.map((r) => r.seq),
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
    assert.equal(records[0]?.prevHash, AUDIT_GENESIS);
    assert.equal(records[1]?.prevHash, records[0]?.hash);
    const result = await verifyAuditChain(store, key);
    assert.deepEqual(result, { ok: true, entries: 300, headSeq: 300 });
  });

  it('notes are batched: written with the next record, alone after a delay, or at close', async (t) => {
    const { store } = await h.open(t);
    const audit = log(store);
    audit.note({ actor: 'jwt:a', action: 'gateway.allowed', target: 'r1' });
    audit.note({ actor: 'jwt:b', action: 'gateway.allowed', target: 'r2' });
    // A turn of the event loop later nothing is written yet: notes wait for company.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await store.audit.head(), undefined);
    // A record that is waited for takes the notes along, in the order they came.
    const denied = await audit.record({ actor: 'anonymous', action: 'gateway.denied', target: 'r3' });
    assert.equal(denied.seq, 3);
    assert.deepEqual(
      (await store.audit.list(0, 10)).map((r) => r.target),
      ['r1', 'r2', 'r3'],
    );
    // Alone, a note is written within NOTE_DELAY_MS (the test waits for the write, not a time).
    audit.note({ actor: 'jwt:c', action: 'gateway.allowed', target: 'r4' });
    for (let i = 0; i < 100 && (await store.audit.head())?.seq !== 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, NOTE_DELAY_MS / 4));
    }
    assert.equal((await store.audit.head())?.target, 'r4');
    // close() writes what is still queued, also a record whose commit has not started yet.
    audit.note({ actor: 'jwt:d', action: 'gateway.allowed', target: 'r5' });
    const last = audit.record({ actor: 'anonymous', action: 'gateway.denied', target: 'r6' });
    await audit.close();
    assert.equal((await store.audit.head())?.target, 'r6');
    assert.equal((await last).seq, 6);
    assert.deepEqual(await verifyAuditChain(store, key), { ok: true, entries: 6, headSeq: 6 });
    // Closed: a record is refused as unavailable, a note is dropped, and nothing more is written.
    await assert.rejects(audit.record({ actor: 'anonymous', action: 'gateway.denied', target: 'r7' }), {
      code: 'ERR_STORE_UNAVAILABLE',
    });
    audit.note({ actor: 'jwt:e', action: 'gateway.allowed', target: 'r8' });
    await audit.close();
    await new Promise((resolve) => setTimeout(resolve, NOTE_DELAY_MS * 2));
    assert.equal((await store.audit.head())?.seq, 6);
  });

  it('two writers on one database (two instances) never fork the chain', async (t) => {
    const { store, reopen } = await h.open(t);
    const other = await reopen();
    t.after(() => other.close());
    const a = log(store);
    const b = log(other);
    await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        (i % 2 ? a : b).record({
          actor: `client:${i % 2 ? 'a' : 'b'}`,
          action: 'token.issued',
          target: `t${i}`,
        }),
      ),
    );
    const result = await verifyAuditChain(store, key);
    assert.deepEqual(result, { ok: true, entries: 120, headSeq: 120 });
  });

  it('detects an edited row, a deleted row, a forged row and entries cut from the end', async (t) => {
    const { store, tamper } = await h.open(t);
    const audit = log(store);
    for (let i = 0; i < 10; i++)
      await audit.record({ actor: 'admin:root', action: 'client.created', target: `c${i}` });
    assert.equal((await verifyAuditChain(store, key)).ok, true);

    await tamper(`update audit_log set target = 'someone-else' where seq = 4`);
    let result = await verifyAuditChain(store, key);
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.seq, 4);
    assert.equal(!result.ok && result.problem, 'altered');
    assert.equal(result.entries, 3, 'entries before the edit are intact');
    await tamper(`update audit_log set target = 'c3' where seq = 4`);
    assert.equal((await verifyAuditChain(store, key)).ok, true, 'restoring the row restores the chain');

    await tamper('delete from audit_log where seq = 6');
    result = await verifyAuditChain(store, key);
    assert.equal(!result.ok && result.problem, 'missing');
    assert.equal(!result.ok && result.seq, 6);

    const { store: fresh, tamper: tamperFresh } = await h.open(t);
    const freshLog = log(fresh);
    for (let i = 0; i < 5; i++)
      await freshLog.record({ actor: 'system', action: 'key.rotated', target: `k${i}` });
    const head = await fresh.audit.head();
    await tamperFresh(
      `insert into audit_log (seq, at, actor, action, target, outcome, details, prev_hash, hash) values (6, 1, 'admin:evil', 'client.created', 'backdoor', 'success', '{}', '${head?.hash}', '${'f'.repeat(64)}')`,
    );
    result = await verifyAuditChain(fresh, key);
    assert.equal(!result.ok && result.seq, 6, 'a forged entry cannot carry a valid keyed hash');
    await tamperFresh('delete from audit_log where seq >= 5');
    result = await verifyAuditChain(fresh, key, { expectedHeadSeq: 5 });
    assert.equal(!result.ok && result.problem, 'missing');
    assert.equal(!result.ok && result.seq, 5);
  });

  it('a chain verified with another key fails at the first entry', async (t) => {
    const { store } = await h.open(t);
    await log(store).record({ actor: 'system', action: 'key.rotated', target: 'k' });
    const result = await verifyAuditChain(store, auditChainKey(randomBytes(32)));
    assert.equal(!result.ok && result.seq, 1);
  });
}

await describeAdapter('audit log: embedded', undefined, () =>
  auditSuite({
    async open(t) {
      const path = join(dir, `${uniqueName('audit')}.db`);
      const store = createEmbeddedStore({ path });
      await store.migrate();
      t.after(() => store.close());
      // The store offers no raw SQL on purpose; go underneath it as an attacker would.
      const tamper: Tamper = async (statement) => {
        const db = new Database(path);
        db.exec(statement);
        db.close();
      };
      return { store, tamper, reopen: async () => createEmbeddedStore({ path }) };
    },
  }),
);

await describeAdapter('audit log: postgres', servers.postgres, () =>
  auditSuite({
    async open(t) {
      const schema = uniqueName('audit');
      const store = createPostgresStore({ url: servers.postgres.url, schema });
      await store.migrate();
      t.after(async () => {
        await store.dropSchema();
        await store.close();
      });
      const tamper: Tamper = async (statement) => {
        const db = new Kysely<unknown>({
          dialect: new PostgresDialect({
            pool: new pg.Pool({
              connectionString: servers.postgres.url,
              options: `-c search_path=${schema}`,
            }),
          }),
        });
        try {
          await sql.raw(statement).execute(db);
        } finally {
          await db.destroy();
        }
      };
      return {
        store,
        tamper,
        reopen: async () => {
          const other = createPostgresStore({ url: servers.postgres.url, schema });
          await other.migrate();
          return other;
        },
      };
    },
  }),
);
