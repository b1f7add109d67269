import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Store } from '@gatehouse/core';
import SqliteDatabase from 'better-sqlite3';
import { type Insertable, Kysely, type Selectable, SqliteDialect, type Updateable } from 'kysely';
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
 * Prepared statements for the hot paths (introspection, refresh, audit) and synchronous
 * transactions for every multi-statement write, prepared on first use (after migrations have
 * created the tables) and reused for every call. better-sqlite3 runs a transaction from BEGIN to
 * COMMIT without yielding, so nothing else on the connection can land inside it.
 */
function preparedLookups(database: SqliteDatabase.Database): PointLookups {
  const cache = new Map<string, SqliteDatabase.Statement>();
  const statement = (text: string): SqliteDatabase.Statement => {
    let prepared = cache.get(text);
    if (!prepared) {
      prepared = database.prepare(text);
      cache.set(text, prepared);
    }
    return prepared;
  };
  /** A synchronous transaction made on first use. */
  const transaction = <A extends unknown[], R>(body: (...args: A) => R): ((...args: A) => R) => {
    let run: ((...args: A) => R) | undefined;
    return (...args: A) => {
      run ??= database.transaction(body) as unknown as (...args: A) => R;
      return run(...args);
    };
  };
  const insertRow = (table: string, row: object) => {
    const columns = Object.keys(row);
    return statement(
      `insert into ${table} (${columns.join(', ')}) values (${columns.map((c) => `@${c}`).join(', ')})`,
    ).run(row);
  };

  type FamilyRow = Selectable<Database['refresh_families']> & { token_generation: number };
  return {
    opaqueToken: (digest) =>
      statement('select * from opaque_tokens where digest = ?').get(digest) as
        | Selectable<Database['opaque_tokens']>
        | undefined,
    revokedTokenExists: (jti) =>
      statement('select 1 as one from revoked_tokens where jti = ?').get(jti) !== undefined,
    appendAudit: transaction((rows: readonly Insertable<Database['audit_log']>[]) => {
      for (const row of rows) insertRow('audit_log', row);
    }),
    user: (id) =>
      statement('select * from users where id = ?').get(id) as Selectable<Database['users']> | undefined,
    refreshToken: (digest) =>
      statement(
        'select f.*, t.generation as token_generation from refresh_tokens t join refresh_families f on f.id = t.family_id where t.digest = ?',
      ).get(digest) as FamilyRow | undefined,
    createFamily: transaction(
      (family: Insertable<Database['refresh_families']>, token: Insertable<Database['refresh_tokens']>) => {
        insertRow('refresh_families', family);
        insertRow('refresh_tokens', token);
      },
    ),
    rotateFamily: transaction(
      (
        familyId: string,
        fromGeneration: number,
        changes: Updateable<Database['refresh_families']>,
        token: Insertable<Database['refresh_tokens']>,
      ) => {
        // The WHERE on generation is the compare-and-set, as in the shared SQL store.
        const moved = statement(
          'update refresh_families set generation = @generation, rotated_at_ms = @rotated_at_ms, recent_rotations = @recent_rotations, last_used_at = @last_used_at where id = @id and generation = @from and revoked_at is null',
        ).run({ ...changes, id: familyId, from: fromGeneration });
        if (moved.changes === 0) return false;
        insertRow('refresh_tokens', token);
        return true;
      },
    ),
    purgeFamilies: transaction((now: number) => {
      statement(
        'delete from refresh_tokens where family_id in (select id from refresh_families where expires_at < ?)',
      ).run(now);
      return statement('delete from refresh_families where expires_at < ?').run(now).changes;
    }),
    revocation: (kind, value, now) =>
      statement(
        'select * from revocation_log where kind = ? and value = ? and exp >= ? order by seq desc limit 1',
      ).get(kind, value, now) as Selectable<Database['revocation_log']> | undefined,
    purgeTokens: transaction((now: number) => {
      const opaque = statement('delete from opaque_tokens where exp < ?').run(now).changes;
      return opaque + statement('delete from revoked_tokens where exp < ?').run(now).changes;
    }),
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
