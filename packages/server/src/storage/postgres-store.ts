import { GatehouseError, type Store } from '@gatehouse/core';
import { Kysely, sql } from 'kysely';
import pg from 'pg';
import { errorCode, isNetworkError } from './errors.js';
import { CurrentSchemaPostgresDialect } from './postgres-introspector.js';
import { createSqlStore, type SqlErrorKind } from './sql/sql-store.js';
import type { Database } from './sql/tables.js';

/** Options of {@link createPostgresStore}. */
export interface PostgresStoreOptions {
  /** `postgres://user@host:port/database` */
  url: string;
  /**
   * Schema holding Gatehouse's tables; created by `migrate()` when missing and put on the
   * `search_path` of every pooled connection. Lower-case letters, digits and `_`.
   */
  schema?: string;
  /** Most connections held open; default 10. */
  poolSize?: number;
}

/** A PostgreSQL store; `dropSchema()` exists for test cleanup and uninstall. */
export interface PostgresStore extends Store {
  /** Drops the configured schema and everything in it. Refuses when no schema was configured. */
  dropSchema(): Promise<void>;
}

// Unquoted identifiers only: the name travels in a connection option where quoting is fragile.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The distributed Store: PostgreSQL through a pg pool, sharing every query with the embedded
 * store (see sql/sql-store.ts).
 *
 * @example
 * ```ts
 * const store = createPostgresStore({ url: 'postgres://gatehouse@db:5432/gatehouse', schema: 'auth' });
 * await store.migrate();
 * ```
 */
export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  const { schema } = options;
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new GatehouseError('ERR_CONFIG_INVALID', 'postgres schema must match /^[a-z_][a-z0-9_]{0,62}$/');
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    // Fail a request instead of queueing forever when the server is down.
    connectionTimeoutMillis: 5000,
    // Set at connect time: applies to every pooled connection without an extra round trip.
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
  });
  // An idle client losing its server emits 'error' on the pool; without a listener Node would
  // crash the process. The next query reports ERR_STORE_UNAVAILABLE instead.
  pool.on('error', () => {});

  const db = new Kysely<Database>({ dialect: new CurrentSchemaPostgresDialect({ pool }) });
  const store = createSqlStore({
    kind: 'postgres',
    db,
    classifyError: classifyPostgresError,
    ...(schema === undefined
      ? {}
      : {
          migrationTableSchema: schema,
          beforeMigrate: async (conn: Kysely<Database>) => {
            await sql`create schema if not exists ${sql.id(schema)}`.execute(conn);
          },
        }),
    async close() {
      await db.destroy();
      // Kysely ends only a pool it has used; a store closed unused must not leak it.
      if (!pool.ended) await pool.end();
    },
  });

  return {
    ...store,
    async dropSchema() {
      if (schema === undefined) {
        throw new GatehouseError('ERR_CONFIG_INVALID', 'dropSchema() needs a configured schema');
      }
      await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db);
    },
  };
}

/** Maps pg errors (SQLSTATE in `code`, or Node socket codes) to what they mean for callers. */
function classifyPostgresError(error: unknown): SqlErrorKind {
  const code = errorCode(error) ?? '';
  if (code === '23505') return 'conflict'; // unique_violation
  // character_not_in_repertoire (NUL in text), untranslatable_character
  if (code === '22021' || code === '22P05') return 'invalid';
  // 08: connection exception; 57P0x: server shutting down; 53300: too many connections.
  if (code.startsWith('08') || code.startsWith('57P0') || code === '53300' || isNetworkError(error)) {
    return 'unavailable';
  }
  // pg reports a dropped socket and a pool checkout timeout with plain Errors.
  if (
    error instanceof Error &&
    /Connection terminated|timeout exceeded when trying to connect/i.test(error.message)
  ) {
    return 'unavailable';
  }
  return 'other';
}
