import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';

/**
 * Versioned migrations, applied in name order by Kysely's Migrator. A migration is never edited
 * once released: add `0002_…` instead. They take `Kysely<unknown>` so they do not depend on the
 * current table types, which move on while old migrations must stay as they were.
 *
 * Column types are the portable subset: `text`, `integer`, `bigint` (epoch seconds outlive
 * 2038 and int4), JSON arrays as `text`.
 */
const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('clients')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('secret_digest', 'text', (c) => c.notNull())
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('resources', 'text', (c) => c.notNull())
        .addColumn('default_audience', 'text')
        .addColumn('grant_types', 'text', (c) => c.notNull())
        .addColumn('access_token_format', 'text', (c) => c.notNull())
        .addColumn('access_token_ttl', 'integer')
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('alg', 'text', (c) => c.notNull())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('sealed_private_key', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('activates_at', 'bigint', (c) => c.notNull())
        .addColumn('retired_at', 'bigint')
        .addColumn('expires_at', 'bigint')
        .execute();

      await db.schema
        .createTable('opaque_tokens')
        .addColumn('digest', 'text', (c) => c.primaryKey())
        .addColumn('jti', 'text', (c) => c.notNull())
        .addColumn('client_id', 'text', (c) => c.notNull())
        .addColumn('sub', 'text', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('aud', 'text', (c) => c.notNull())
        .addColumn('iat', 'bigint', (c) => c.notNull())
        .addColumn('exp', 'bigint', (c) => c.notNull())
        .execute();
      // purgeExpired scans by exp.
      await db.schema.createIndex('opaque_tokens_exp_idx').on('opaque_tokens').column('exp').execute();

      await db.schema
        .createTable('revoked_tokens')
        .addColumn('jti', 'text', (c) => c.primaryKey())
        .addColumn('exp', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('revoked_tokens_exp_idx').on('revoked_tokens').column('exp').execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['revoked_tokens', 'opaque_tokens', 'signing_keys', 'clients']) {
        await db.schema.dropTable(table).ifExists().execute();
      }
    },
  },
  '0002_audit_log': {
    async up(db: Kysely<unknown>): Promise<void> {
      // seq is the primary key: two writers that chain onto the same head collide here, so the
      // chain can never fork.
      await db.schema
        .createTable('audit_log')
        .addColumn('seq', 'bigint', (c) => c.primaryKey())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text')
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('details', 'text', (c) => c.notNull())
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('audit_log').ifExists().execute();
    },
  },
  '0003_users': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('username_key', 'text', (c) => c.notNull().unique())
        .addColumn('password_hash', 'text')
        .addColumn('disabled', 'integer', (c) => c.notNull())
        .addColumn('roles', 'text', (c) => c.notNull())
        .addColumn('groups', 'text', (c) => c.notNull())
        .addColumn('attributes', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('password_changed_at', 'bigint')
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('users').ifExists().execute();
    },
  },
  '0004_api_keys': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('secret_digest', 'text', (c) => c.notNull())
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .addColumn('grace_until', 'bigint')
        .addColumn('replaced_by', 'text')
        .addColumn('last_used_at', 'bigint')
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('api_keys').ifExists().execute();
    },
  },
  '0005_refresh_families': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('clients').addColumn('may_act', 'text').execute();
      await db.schema.alterTable('opaque_tokens').addColumn('extra', 'text').execute();
      await db.schema
        .createTable('refresh_families')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('client_id', 'text', (c) => c.notNull())
        .addColumn('sub', 'text', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('aud', 'text', (c) => c.notNull())
        .addColumn('binding', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint', (c) => c.notNull())
        .addColumn('generation', 'integer', (c) => c.notNull())
        .addColumn('rotated_at_ms', 'bigint', (c) => c.notNull())
        .addColumn('recent_rotations', 'text', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .addColumn('revoked_reason', 'text')
        .execute();
      await db.schema.createIndex('refresh_families_sub_idx').on('refresh_families').column('sub').execute();
      await db.schema
        .createIndex('refresh_families_expires_idx')
        .on('refresh_families')
        .column('expires_at')
        .execute();
      // Every token ever minted in a family stays findable until the family expires: replaying
      // any old one must be recognised as reuse, not as an unknown token.
      await db.schema
        .createTable('refresh_tokens')
        .addColumn('digest', 'text', (c) => c.primaryKey())
        .addColumn('family_id', 'text', (c) => c.notNull())
        .addColumn('generation', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('refresh_tokens_family_idx')
        .on('refresh_tokens')
        .column('family_id')
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('refresh_tokens').ifExists().execute();
      await db.schema.dropTable('refresh_families').ifExists().execute();
      await db.schema.alterTable('opaque_tokens').dropColumn('extra').execute();
      await db.schema.alterTable('clients').dropColumn('may_act').execute();
    },
  },
  '0006_revocation_log': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('revocation_log')
        .addColumn('seq', 'bigint', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('not_before', 'bigint', (c) => c.notNull())
        .addColumn('exp', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('revocation_log_lookup_idx')
        .on('revocation_log')
        .columns(['kind', 'value'])
        .execute();
      await db.schema.createIndex('revocation_log_exp_idx').on('revocation_log').column('exp').execute();
      // Revocations made before the log existed carry over, numbered in the order they were made.
      await sql`
        insert into revocation_log (seq, kind, value, not_before, exp, created_at)
        select row_number() over (order by revoked_at, jti),
               case when jti like 'sid:%' then 'sid' else 'jti' end,
               case when jti like 'sid:%' then substr(jti, 5) else jti end,
               0, exp, revoked_at
        from revoked_tokens`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('revocation_log').ifExists().execute();
    },
  },
  '0007_policies': {
    async up(db: Kysely<unknown>): Promise<void> {
      // version is the primary key: two writers that both take head + 1 collide here, so the
      // version history never forks.
      await db.schema
        .createTable('policy_versions')
        .addColumn('version', 'bigint', (c) => c.primaryKey())
        .addColumn('schema_text', 'text', (c) => c.notNull())
        .addColumn('policies', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('policy_decisions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('decision', 'text', (c) => c.notNull())
        .addColumn('principal', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('resource', 'text', (c) => c.notNull())
        .addColumn('policy_version', 'bigint', (c) => c.notNull())
        .addColumn('policies', 'text', (c) => c.notNull())
        .addColumn('errors', 'text', (c) => c.notNull())
        .addColumn('latency_us', 'integer', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('input', 'text', (c) => c.notNull())
        .execute();
      // Queries page newest first, optionally per principal.
      await db.schema
        .createIndex('policy_decisions_at_idx')
        .on('policy_decisions')
        .columns(['at', 'id'])
        .execute();
      await db.schema
        .createIndex('policy_decisions_principal_idx')
        .on('policy_decisions')
        .columns(['principal', 'at'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('policy_decisions').ifExists().execute();
      await db.schema.dropTable('policy_versions').ifExists().execute();
    },
  },
};

/** Serves the in-code migrations to Kysely's Migrator (no files read at run time). */
export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
