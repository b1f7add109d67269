import type { ColumnType } from 'kysely';

/**
 * Epoch seconds in a `bigint` column. PostgreSQL's driver returns int8 as a string (it may not
 * fit a double), SQLite returns a number; rows.ts converts both to number on the way out.
 */
export type EpochColumn = ColumnType<number | string, number, number>;
export type NullableEpochColumn = ColumnType<number | string | null, number | null, number | null>;

/** JSON array of strings stored as text: portable across SQLite and PostgreSQL. */
export type JsonTextColumn = string;

export interface ClientsTable {
  id: string;
  name: string;
  secret_digest: string;
  scopes: JsonTextColumn;
  resources: JsonTextColumn;
  default_audience: string | null;
  grant_types: JsonTextColumn;
  access_token_format: string;
  access_token_ttl: number | null;
  source: string;
  created_at: EpochColumn;
  updated_at: EpochColumn;
  /** JSON of the may_act rule, or null. */
  may_act: string | null;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  public_jwk: string;
  sealed_private_key: string;
  state: string;
  created_at: EpochColumn;
  activates_at: EpochColumn;
  retired_at: NullableEpochColumn;
  expires_at: NullableEpochColumn;
}

export interface OpaqueTokensTable {
  digest: string;
  jti: string;
  client_id: string;
  sub: string;
  scope: string;
  aud: JsonTextColumn;
  iat: EpochColumn;
  exp: EpochColumn;
  /** JSON object of further claims, or null. */
  extra: string | null;
}

export interface RevokedTokensTable {
  jti: string;
  exp: EpochColumn;
  revoked_at: EpochColumn;
}

export interface AuditLogTable {
  seq: EpochColumn;
  at: EpochColumn;
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
  details: string;
  prev_hash: string;
  hash: string;
}

export interface UsersTable {
  id: string;
  username: string;
  username_key: string;
  password_hash: string | null;
  /** 0 or 1: portable boolean. */
  disabled: number;
  roles: JsonTextColumn;
  groups: JsonTextColumn;
  /** JSON object text. */
  attributes: string;
  created_at: EpochColumn;
  updated_at: EpochColumn;
  password_changed_at: NullableEpochColumn;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  owner: string;
  secret_digest: string;
  scopes: JsonTextColumn;
  created_at: EpochColumn;
  expires_at: NullableEpochColumn;
  revoked_at: NullableEpochColumn;
  grace_until: NullableEpochColumn;
  replaced_by: string | null;
  last_used_at: NullableEpochColumn;
}

export interface RefreshFamiliesTable {
  id: string;
  client_id: string;
  sub: string;
  scope: string;
  aud: JsonTextColumn;
  binding: string;
  created_at: EpochColumn;
  expires_at: EpochColumn;
  last_used_at: EpochColumn;
  generation: number;
  rotated_at_ms: EpochColumn;
  /** JSON array of the rotations of the last grace window. */
  recent_rotations: string;
  revoked_at: NullableEpochColumn;
  revoked_reason: string | null;
}

export interface RefreshTokensTable {
  digest: string;
  family_id: string;
  generation: number;
}

export interface RevocationLogTable {
  seq: EpochColumn;
  kind: string;
  value: string;
  not_before: EpochColumn;
  exp: EpochColumn;
  created_at: EpochColumn;
}

export interface PolicyVersionsTable {
  version: EpochColumn;
  schema_text: string;
  /** JSON object: source name → Cedar text. */
  policies: string;
  created_by: string;
  created_at: EpochColumn;
  digest: string;
}

export interface PolicyDecisionsTable {
  id: string;
  at: EpochColumn;
  decision: string;
  principal: string;
  action: string;
  resource: string;
  policy_version: EpochColumn;
  policies: JsonTextColumn;
  errors: JsonTextColumn;
  latency_us: number;
  source: string;
  input: string;
}

/** The schema as of the latest migration; migrations themselves use `Kysely<unknown>`. */
export interface Database {
  clients: ClientsTable;
  signing_keys: SigningKeysTable;
  audit_log: AuditLogTable;
  users: UsersTable;
  api_keys: ApiKeysTable;
  opaque_tokens: OpaqueTokensTable;
  revoked_tokens: RevokedTokensTable;
  refresh_families: RefreshFamiliesTable;
  refresh_tokens: RefreshTokensTable;
  revocation_log: RevocationLogTable;
  policy_versions: PolicyVersionsTable;
  policy_decisions: PolicyDecisionsTable;
}
