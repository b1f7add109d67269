import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Store } from '@gatehouse/core';
import SqliteDatabase from 'better-sqlite3';
import { type Insertable, Kysely, type Selectable, SqliteDialect } from 'kysely';
import { errorCode, unavailableError } from './errors.js';
import { createSqlStore, type PointLookups, type SqlErrorKind } from './sql/sql-store.js';
import type { Database } from './sql/tables.js';

/** Options of {@link createEmbeddedStore}. */
export interface EmbeddedStoreOptions {
  /** SQLite file; its parent directory is created. `:memory:` keeps everything in the process. */
  path: string;
  /** How long a writer waits for another connection's lock before failing; default 5000 ms. */
  busyTimeoutMs?: number;
}

/**
 * The single-machine Store: a SQLite file through better-sqlite3, in WAL mode so readers never
 * block the writer (and a CLI can read while the server runs).
 *
 * @example
 * ```ts
 * const store = createEmbeddedStore({ path: '.data/gatehouse.db' });
 * await store.migrate();
 * ```
 * @throws GatehouseError `ERR_STORE_UNAVAILABLE` when the file cannot be opened.
 */
export function createEmbeddedStore(options: EmbeddedStoreOptions): Store {
  const database = openDatabase(options);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  return createSqlStore({
    kind: 'embedded',
    db,
    classifyError: classifySqliteError,
    pointLookups: preparedLookups(database),
    async close() {
      await db.destroy();
      // Kysely only closes a database it has used; a store closed unused must not leak the handle.
      if (database.open) database.close();
    },
  });
}

function openDatabase(options: EmbeddedStoreOptions): SqliteDatabase.Database {
  const inMemory = options.path === ':memory:';
  try {
    if (!inMemory) mkdirSync(dirname(options.path), { recursive: true });
    const database = new SqliteDatabase(options.path, { timeout: options.busyTimeoutMs ?? 5000 });
    database.pragma('journal_mode = WAL');
    // WAL makes NORMAL durable against application crashes; only an OS crash may lose the
    // last transactions, which is the usual trade for an auth server's write rate.
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
    return database;
  } catch (error) {
    throw unavailableError('the embedded store', error);
  }
}

/**
 * Prepared statements for the introspection hot path, prepared on first use (after migrations
 * have created the tables) and reused for every call.
 */
function preparedLookups(database: SqliteDatabase.Database): PointLookups {
  let opaque: SqliteDatabase.Statement<[string], Selectable<Database['opaque_tokens']>> | undefined;
  let revoked: SqliteDatabase.Statement<[string], { one: number }> | undefined;
  let appendAudit: ((rows: readonly Insertable<Database['audit_log']>[]) => void) | undefined;
  return {
    opaqueToken(digest) {
      opaque ??= database.prepare('select * from opaque_tokens where digest = ?');
      return opaque.get(digest);
    },
    revokedTokenExists(jti) {
      revoked ??= database.prepare('select 1 as one from revoked_tokens where jti = ?');
      return revoked.get(jti) !== undefined;
    },
    appendAudit(rows) {
      if (!appendAudit) {
        const insert = database.prepare(
          'insert into audit_log (seq, at, actor, action, target, outcome, details, prev_hash, hash) values (@seq, @at, @actor, @action, @target, @outcome, @details, @prev_hash, @hash)',
        );
        // better-sqlite3 transactions are synchronous: nothing else runs between BEGIN and COMMIT.
        appendAudit = database.transaction((batch: readonly Insertable<Database['audit_log']>[]) => {
          for (const row of batch) insert.run(row);
        });
      }
      appendAudit(rows);
    },
  };
}

/** Maps better-sqlite3 errors (`SqliteError.code`) to what they mean for callers. */
function classifySqliteError(error: unknown): SqlErrorKind {
  const code = errorCode(error) ?? '';
  if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') return 'conflict';
  if (/^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|READONLY|NOTADB)/.test(code)) return 'unavailable';
  // better-sqlite3 throws a TypeError without a code once the handle is closed.
  if (error instanceof TypeError && /database connection is not open/i.test(error.message))
    return 'unavailable';
  return 'other';
}
