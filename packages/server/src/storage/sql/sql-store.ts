import type {
  ApiKeyPatch,
  ApiKeyRecord,
  ApiKeyRepository,
  AuditRecord,
  AuditRepository,
  ClientPatch,
  ClientRecord,
  ClientRepository,
  OpaqueTokenRecord,
  RefreshFamilyRecord,
  RefreshTokenRepository,
  RevocationLogRepository,
  RevokedTokenRecord,
  SigningKeyRecord,
  SigningKeyRepository,
  Store,
  TokenRepository,
  UserPatch,
  UserRecord,
  UserRepository,
} from '@gatehouse/core';
import { GatehouseError } from '@gatehouse/core';
import { type Insertable, type Kysely, Migrator, type Selectable, sql, type Updateable } from 'kysely';
import { conflictError, notFoundError, translateFailure, unavailableError } from '../errors.js';
import { migrationProvider } from './migrations.js';
import { createPolicyRepositories } from './policy-repositories.js';
import {
  apiKeyFromRow,
  apiKeyPatchToRow,
  apiKeyToRow,
  auditFromRow,
  auditToRow,
  clientFromRow,
  clientPatchToRow,
  clientToRow,
  familyFromRow,
  familyToRow,
  opaqueTokenFromRow,
  opaqueTokenToRow,
  revocationFromRow,
  revocationToRow,
  revokedTokenToRow,
  type SigningKeyPatch,
  signingKeyFromRow,
  signingKeyPatchToRow,
  signingKeyToRow,
  userFromRow,
  userPatchToRow,
  userToRow,
} from './rows.js';
import type { Database } from './tables.js';

/** What a driver error means for callers; each dialect knows its own error codes. */
export type SqlErrorKind = 'conflict' | 'unavailable' | 'invalid' | 'other';

/** The dialect-specific parts the shared SQL store needs. */
export interface SqlStoreOptions {
  /** Adapter name reported as `Store.kind`. */
  kind: string;
  db: Kysely<Database>;
  classifyError(error: unknown): SqlErrorKind;
  /** Runs before the migrator, e.g. to create the PostgreSQL schema. */
  beforeMigrate?(db: Kysely<Database>): Promise<void>;
  /** Where Kysely keeps its migration bookkeeping tables (PostgreSQL schema). */
  migrationTableSchema?: string;
  /** Releases the connection(s); called once by `Store.close()`. */
  close(): Promise<void>;
  /**
   * Point lookups on the introspection hot path, answered without the query builder. Building and
   * preparing the SQL per call was measured at half of an introspection on SQLite; a dialect with a
   * synchronous driver can hand in prepared statements instead.
   */
  pointLookups?: PointLookups;
}

/**
 * Synchronous statements a dialect with a synchronous driver may provide; rows as the tables
 * define them. Besides saving the query builder on hot paths, they keep every multi-statement
 * write in one synchronous transaction: on a single SQLite connection an async transaction
 * would let other statements (an audit append) run inside it between its awaits.
 */
export interface PointLookups {
  opaqueToken(digest: string): Selectable<Database['opaque_tokens']> | undefined;
  revokedTokenExists(jti: string): boolean;
  /** Inserts audit rows all-or-nothing with one prepared statement (the audit log writes per token). */
  appendAudit(rows: readonly Insertable<Database['audit_log']>[]): void;
  user(id: string): Selectable<Database['users']> | undefined;
  /** A refresh token and its family in one lookup. */
  refreshToken(
    digest: string,
  ): (Selectable<Database['refresh_families']> & { token_generation: number }) | undefined;
  createFamily(
    family: Insertable<Database['refresh_families']>,
    token: Insertable<Database['refresh_tokens']>,
  ): void;
  /** The compare-and-set of {@link RefreshTokenRepository.rotate}, in one transaction. */
  rotateFamily(
    familyId: string,
    fromGeneration: number,
    changes: Updateable<Database['refresh_families']>,
    token: Insertable<Database['refresh_tokens']>,
  ): boolean;
  /** The latest live revocation of a kind and value (the gateway's exact check after a Bloom "maybe"). */
  revocation(kind: string, value: string, now: number): Selectable<Database['revocation_log']> | undefined;
  /** Deletes expired families and their tokens in one transaction; returns the families deleted. */
  purgeFamilies(now: number): number;
  /** Deletes expired opaque tokens and revocations in one transaction; returns the rows deleted. */
  purgeTokens(now: number): number;
}

/**
 * The one Store implementation shared by every SQL dialect: the dialect module opens the
 * connection and classifies driver errors, this module holds every query.
 *
 * @example
 * ```ts
 * const store = createSqlStore({ kind: 'embedded', db, classifyError, close: () => db.destroy() });
 * await store.migrate();
 * ```
 */
export function createSqlStore(options: SqlStoreOptions): Store {
  const { db, kind } = options;

  /** Runs a query, translating driver errors into the port's error codes. */
  const guard = <T>(subject: string, op: () => Promise<T>): Promise<T> =>
    translateFailure(op, (error) => {
      if (error instanceof GatehouseError) return error;
      switch (options.classifyError(error)) {
        case 'conflict':
          return conflictError(subject, error);
        case 'unavailable':
          return unavailableError(`the ${kind} store`, error);
        case 'invalid':
          // Input the database cannot hold (PostgreSQL refuses NUL in text): the caller's mistake.
          return new GatehouseError(
            'ERR_REQUEST_INVALID',
            `${subject}: a value holds a character that cannot be stored`,
            {
              status: 400,
              cause: error,
            },
          );
        default:
          return error;
      }
    });

  async function getClient(id: string): Promise<ClientRecord | undefined> {
    const row = await db.selectFrom('clients').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : clientFromRow(row);
  }

  const clients: ClientRepository = {
    get: (id) => guard('client', () => getClient(id)),
    /** Ordered by id, so listings are stable whatever the insertion order. */
    list: () =>
      guard('client', async () =>
        (await db.selectFrom('clients').selectAll().orderBy('id').execute()).map(clientFromRow),
      ),
    create: (record: ClientRecord) =>
      guard('a client with this id', async () => {
        await db.insertInto('clients').values(clientToRow(record)).execute();
      }),
    update: (id: string, patch: ClientPatch) =>
      guard('client', async () => {
        const changes = clientPatchToRow(patch);
        if (Object.keys(changes).length === 0) return getClient(id);
        const row = await db
          .updateTable('clients')
          .set(changes)
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
        return row === undefined ? undefined : clientFromRow(row);
      }),
    delete: (id) =>
      guard('client', async () => {
        const result = await db.deleteFrom('clients').where('id', '=', id).executeTakeFirst();
        return result.numDeletedRows > 0n;
      }),
  };

  const sync = options.pointLookups;

  async function getUser(id: string): Promise<UserRecord | undefined> {
    const row = sync
      ? sync.user(id)
      : await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : userFromRow(row);
  }

  const users: UserRepository = {
    get: (id) => guard('user', () => getUser(id)),
    getByUsernameKey: (usernameKey) =>
      guard('user', async () => {
        const row = await db
          .selectFrom('users')
          .selectAll()
          .where('username_key', '=', usernameKey)
          .executeTakeFirst();
        return row === undefined ? undefined : userFromRow(row);
      }),
    list: (afterId, limit) =>
      guard('user', async () => {
        let query = db.selectFrom('users').selectAll().orderBy('id').limit(limit);
        if (afterId !== null) query = query.where('id', '>', afterId);
        return (await query.execute()).map(userFromRow);
      }),
    create: (record: UserRecord) =>
      guard('a user with this id or username', async () => {
        await db.insertInto('users').values(userToRow(record)).execute();
      }),
    update: (id: string, patch: UserPatch) =>
      guard('a user with this username', async () => {
        const changes = userPatchToRow(patch);
        if (Object.keys(changes).length === 0) return getUser(id);
        const row = await db
          .updateTable('users')
          .set(changes)
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
        return row === undefined ? undefined : userFromRow(row);
      }),
    delete: (id) =>
      guard('user', async () => {
        const result = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
        return result.numDeletedRows > 0n;
      }),
  };

  async function getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    const row = await db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : apiKeyFromRow(row);
  }

  const apiKeys: ApiKeyRepository = {
    get: (id) => guard('API key', () => getApiKey(id)),
    list: () =>
      guard('API key', async () =>
        (await db.selectFrom('api_keys').selectAll().orderBy('created_at').orderBy('id').execute()).map(
          apiKeyFromRow,
        ),
      ),
    create: (record: ApiKeyRecord) =>
      guard('an API key with this id', async () => {
        await db.insertInto('api_keys').values(apiKeyToRow(record)).execute();
      }),
    update: (id: string, patch: ApiKeyPatch) =>
      guard('API key', async () => {
        const changes = apiKeyPatchToRow(patch);
        if (Object.keys(changes).length === 0) return getApiKey(id);
        const row = await db
          .updateTable('api_keys')
          .set(changes)
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
        return row === undefined ? undefined : apiKeyFromRow(row);
      }),
  };

  const keys: SigningKeyRepository = {
    /** Oldest first, the order keys were introduced in. */
    list: () =>
      guard('signing key', async () =>
        (await db.selectFrom('signing_keys').selectAll().orderBy('created_at').orderBy('kid').execute()).map(
          signingKeyFromRow,
        ),
      ),
    insert: (record: SigningKeyRecord) =>
      guard('a signing key with this kid', async () => {
        await db.insertInto('signing_keys').values(signingKeyToRow(record)).execute();
      }),
    update: (kid: string, patch: SigningKeyPatch) =>
      guard('signing key', async () => {
        const changes = signingKeyPatchToRow(patch);
        // An empty patch still has to tell a missing kid apart, so it selects instead.
        const found =
          Object.keys(changes).length === 0
            ? (await db
                .selectFrom('signing_keys')
                .select('kid')
                .where('kid', '=', kid)
                .executeTakeFirst()) !== undefined
            : (await db.updateTable('signing_keys').set(changes).where('kid', '=', kid).executeTakeFirst())
                .numUpdatedRows > 0n;
        // Rotation must not believe it moved a key that is not there.
        if (!found) throw notFoundError('the signing key');
      }),
    delete: (kid) =>
      guard('signing key', async () => {
        const result = await db.deleteFrom('signing_keys').where('kid', '=', kid).executeTakeFirst();
        return result.numDeletedRows > 0n;
      }),
  };

  const tokens: TokenRepository = {
    putOpaque: (record: OpaqueTokenRecord) =>
      guard('an opaque token with this digest', async () => {
        await db.insertInto('opaque_tokens').values(opaqueTokenToRow(record)).execute();
      }),
    getOpaque: (digest) =>
      guard('opaque token', async () => {
        const row = options.pointLookups
          ? options.pointLookups.opaqueToken(digest)
          : await db.selectFrom('opaque_tokens').selectAll().where('digest', '=', digest).executeTakeFirst();
        return row === undefined ? undefined : opaqueTokenFromRow(row);
      }),
    revoke: (record: RevokedTokenRecord) =>
      guard('revocation', async () => {
        // First revocation wins: a replayed revoke must not move revokedAt.
        await db
          .insertInto('revoked_tokens')
          .values(revokedTokenToRow(record))
          .onConflict((oc) => oc.column('jti').doNothing())
          .execute();
      }),
    isRevoked: (jti) =>
      guard('revocation', async () => {
        if (options.pointLookups) return options.pointLookups.revokedTokenExists(jti);
        const row = await db
          .selectFrom('revoked_tokens')
          .select('jti')
          .where('jti', '=', jti)
          .executeTakeFirst();
        return row !== undefined;
      }),
    purgeExpired: (now) =>
      guard('token', async () => {
        if (sync) return sync.purgeTokens(now);
        return db.transaction().execute(async (trx) => {
          const opaque = await trx.deleteFrom('opaque_tokens').where('exp', '<', now).executeTakeFirst();
          const revoked = await trx.deleteFrom('revoked_tokens').where('exp', '<', now).executeTakeFirst();
          return Number(opaque.numDeletedRows + revoked.numDeletedRows);
        });
      }),
  };

  const audit: AuditRepository = {
    head: () =>
      guard('audit entry', async () => {
        const row = await db
          .selectFrom('audit_log')
          .selectAll()
          .orderBy('seq', 'desc')
          .limit(1)
          .executeTakeFirst();
        return row === undefined ? undefined : auditFromRow(row);
      }),
    append: (records: readonly AuditRecord[]) =>
      guard('an audit entry with this sequence number', async () => {
        if (records.length === 0) return;
        if (options.pointLookups) {
          options.pointLookups.appendAudit(records.map(auditToRow));
          return;
        }
        // One multi-row INSERT is atomic by itself: all rows or none. No explicit transaction,
        // so no lock is held across an await.
        await db.insertInto('audit_log').values(records.map(auditToRow)).execute();
      }),
    list: (afterSeq, limit) =>
      guard('audit entry', async () => {
        const rows = await db
          .selectFrom('audit_log')
          .selectAll()
          .where('seq', '>', afterSeq)
          .orderBy('seq', 'asc')
          .limit(limit)
          .execute();
        return rows.map(auditFromRow);
      }),
  };

  async function getFamily(id: string): Promise<RefreshFamilyRecord | undefined> {
    const row = await db.selectFrom('refresh_families').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : familyFromRow(row);
  }

  const refreshTokens: RefreshTokenRepository = {
    createFamily: (family, firstDigest) =>
      guard('a refresh family with this id', async () => {
        const token = { digest: firstDigest, family_id: family.id, generation: family.generation };
        if (sync) return sync.createFamily(familyToRow(family), token);
        await db.transaction().execute(async (trx) => {
          await trx.insertInto('refresh_families').values(familyToRow(family)).execute();
          await trx.insertInto('refresh_tokens').values(token).execute();
        });
      }),
    find: (digest) =>
      guard('refresh token', async () => {
        if (sync) {
          const row = sync.refreshToken(digest);
          if (!row) return undefined;
          const { token_generation, ...familyRow } = row;
          return {
            token: { digest, familyId: row.id, generation: Number(token_generation) },
            family: familyFromRow(familyRow),
          };
        }
        const token = await db
          .selectFrom('refresh_tokens')
          .selectAll()
          .where('digest', '=', digest)
          .executeTakeFirst();
        if (!token) return undefined;
        const family = await getFamily(token.family_id);
        if (!family) return undefined;
        return {
          token: { digest: token.digest, familyId: token.family_id, generation: Number(token.generation) },
          family,
        };
      }),
    getFamily: (id) => guard('refresh family', () => getFamily(id)),
    rotate: (familyId, rotation) =>
      guard('a refresh token with this digest', async () => {
        const changes = {
          generation: rotation.fromGeneration + 1,
          rotated_at_ms: rotation.rotatedAtMs,
          recent_rotations: JSON.stringify(rotation.recentRotations),
          last_used_at: rotation.lastUsedAt,
        };
        const token = {
          digest: rotation.digest,
          family_id: familyId,
          generation: rotation.fromGeneration + 1,
        };
        if (sync) return sync.rotateFamily(familyId, rotation.fromGeneration, changes, token);
        return db.transaction().execute(async (trx) => {
          // The WHERE on generation is the compare-and-set: of concurrent rotations of one
          // token exactly one updates a row; the others see 0 and take the replay path.
          const moved = await trx
            .updateTable('refresh_families')
            .set(changes)
            .where('id', '=', familyId)
            .where('generation', '=', rotation.fromGeneration)
            .where('revoked_at', 'is', null)
            .executeTakeFirst();
          if (moved.numUpdatedRows === 0n) return false;
          await trx.insertInto('refresh_tokens').values(token).execute();
          return true;
        });
      }),
    revokeFamily: (familyId, at, reason) =>
      guard('refresh family', async () => {
        const result = await db
          .updateTable('refresh_families')
          .set({ revoked_at: at, revoked_reason: reason })
          .where('id', '=', familyId)
          .where('revoked_at', 'is', null)
          .executeTakeFirst();
        return result.numUpdatedRows > 0n;
      }),
    revokeSubject: (sub, at, reason) =>
      guard('refresh family', async () => {
        const rows = await db
          .updateTable('refresh_families')
          .set({ revoked_at: at, revoked_reason: reason })
          .where('sub', '=', sub)
          .where('revoked_at', 'is', null)
          .returningAll()
          .execute();
        return rows.map(familyFromRow);
      }),
    listLive: (sub, now) =>
      guard('refresh family', async () => {
        const rows = await db
          .selectFrom('refresh_families')
          .selectAll()
          .where('sub', '=', sub)
          .where('revoked_at', 'is', null)
          .where('expires_at', '>', now)
          .orderBy('created_at')
          .execute();
        return rows.map(familyFromRow);
      }),
    purgeExpired: (now) =>
      guard('refresh family', async () => {
        if (sync) return sync.purgeFamilies(now);
        return db.transaction().execute(async (trx) => {
          await trx
            .deleteFrom('refresh_tokens')
            .where(
              'family_id',
              'in',
              trx.selectFrom('refresh_families').select('id').where('expires_at', '<', now),
            )
            .execute();
          const result = await trx
            .deleteFrom('refresh_families')
            .where('expires_at', '<', now)
            .executeTakeFirst();
          return Number(result.numDeletedRows);
        });
      }),
  };

  const revocationLog: RevocationLogRepository = {
    append: (entry) =>
      guard('revocation', async () => {
        // Numbered head + 1; two writers that collide on the primary key retry with a new head,
        // so the sequence has no gaps and no duplicates.
        for (let attempt = 0; attempt < 16; attempt++) {
          const head = await revocationLog.head();
          const record = { ...entry, seq: head + 1 };
          try {
            await db.insertInto('revocation_log').values(revocationToRow(record)).execute();
            return record;
          } catch (error) {
            if (options.classifyError(error) !== 'conflict') throw error;
          }
        }
        throw unavailableError('the revocation log (too much contention)');
      }),
    since: (afterSeq, limit) =>
      guard('revocation', async () =>
        (
          await db
            .selectFrom('revocation_log')
            .selectAll()
            .where('seq', '>', afterSeq)
            .orderBy('seq', 'asc')
            .limit(limit)
            .execute()
        ).map(revocationFromRow),
      ),
    head: () =>
      guard('revocation', async () => {
        const row = await db
          .selectFrom('revocation_log')
          .select((eb) => eb.fn.max('seq').as('head'))
          .executeTakeFirst();
        return row?.head === null || row?.head === undefined ? 0 : Number(row.head);
      }),
    find: (kind, value, now) =>
      guard('revocation', async () => {
        const row = sync
          ? sync.revocation(kind, value, now)
          : await db
              .selectFrom('revocation_log')
              .selectAll()
              .where('kind', '=', kind)
              .where('value', '=', value)
              .where('exp', '>=', now)
              .orderBy('seq', 'desc')
              .limit(1)
              .executeTakeFirst();
        return row === undefined ? undefined : revocationFromRow(row);
      }),
    purgeExpired: (now) =>
      guard('revocation', async () => {
        // The head stays whatever its exp: numbering continues from it, so a purged number is
        // never handed out again (an instance that applied it would skip its successor).
        const head = await revocationLog.head();
        const result = await db
          .deleteFrom('revocation_log')
          .where('exp', '<', now)
          .where('seq', '<', head)
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      }),
  };

  const { policies, decisions } = createPolicyRepositories(db, guard);
  let closed = false;

  return {
    kind,
    clients,
    keys,
    tokens,
    audit,
    users,
    apiKeys,
    refreshTokens,
    revocationLog,
    policies,
    decisions,
    migrate: () =>
      guard('migration', async () => {
        await options.beforeMigrate?.(db);
        const migrator = new Migrator({
          db,
          provider: migrationProvider,
          ...(options.migrationTableSchema === undefined
            ? {}
            : { migrationTableSchema: options.migrationTableSchema }),
        });
        const { error } = await migrator.migrateToLatest();
        if (error === undefined) return;
        if (error instanceof GatehouseError || options.classifyError(error) !== 'other') throw error;
        throw new GatehouseError('ERR_INTERNAL', `${kind} store migration failed`, { cause: error });
      }),
    ping: () =>
      // Whatever stops `select 1` (refused socket, closed handle, bad credentials) means the
      // store cannot serve: readiness wants one answer, not a driver-specific one.
      translateFailure(
        async () => {
          await sql`select 1`.execute(db);
        },
        (error) => unavailableError(`the ${kind} store`, error),
      ),
    async close() {
      if (closed) return;
      closed = true;
      await options.close();
    },
  };
}
