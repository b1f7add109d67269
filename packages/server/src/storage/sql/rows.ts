import type {
  ApiKeyPatch,
  ApiKeyRecord,
  AuditRecord,
  ClientPatch,
  ClientRecord,
  DecisionRecord,
  FamilyEndReason,
  MayActRule,
  OpaqueTokenRecord,
  PolicyVersionRecord,
  RecentRotation,
  RefreshFamilyRecord,
  RevocationKind,
  RevocationRecord,
  RevokedTokenRecord,
  SigningKeyRecord,
  UserPatch,
  UserRecord,
} from '@gatehouse/core';
import { GatehouseError } from '@gatehouse/core';
import type { Insertable, Selectable, Updateable } from 'kysely';
import type {
  ApiKeysTable,
  AuditLogTable,
  ClientsTable,
  OpaqueTokensTable,
  PolicyDecisionsTable,
  PolicyVersionsTable,
  RefreshFamiliesTable,
  RevocationLogTable,
  RevokedTokensTable,
  SigningKeysTable,
  UsersTable,
} from './tables.js';

/** Converts a `bigint` column value (string from pg, number from SQLite) to a number. */
export function toEpoch(value: number | string): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n)) throw corrupt(`epoch value ${String(value)}`);
  return n;
}

function toNullableEpoch(value: number | string | null): number | null {
  return value === null ? null : toEpoch(value);
}

function parseStringArray(text: string): string[] {
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw corrupt('string array');
  return value;
}

function oneOf<T extends string>(value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw corrupt(`value ${JSON.stringify(value)}`);
  return value as T;
}

// A row that does not decode means the database was edited by hand or a migration is missing:
// fail loudly instead of handing a half-valid record to the token service.
function corrupt(what: string): GatehouseError {
  return new GatehouseError('ERR_INTERNAL', `stored row holds an invalid ${what}`, { status: 500 });
}

export function clientFromRow(row: Selectable<ClientsTable>): ClientRecord {
  return {
    id: row.id,
    name: row.name,
    secretDigest: row.secret_digest,
    scopes: parseStringArray(row.scopes),
    resources: parseStringArray(row.resources),
    defaultAudience: row.default_audience,
    grantTypes: parseStringArray(row.grant_types),
    accessTokenFormat: oneOf(row.access_token_format, ['jwt', 'opaque']),
    accessTokenTtl: row.access_token_ttl,
    source: oneOf(row.source, ['config', 'api']),
    createdAt: toEpoch(row.created_at),
    updatedAt: toEpoch(row.updated_at),
    mayAct: row.may_act === null ? null : parseMayAct(row.may_act),
  };
}

function parseMayAct(text: string): MayActRule {
  const value = JSON.parse(text) as { subjectAudiences?: unknown; scopes?: unknown };
  if (typeof value !== 'object' || value === null) throw corrupt('may_act rule');
  return {
    subjectAudiences: parseStringArray(JSON.stringify(value.subjectAudiences)),
    scopes: parseStringArray(JSON.stringify(value.scopes)),
  };
}

/** Maps the fields present in `patch` to columns; absent fields stay untouched. */
export function clientPatchToRow(patch: ClientPatch): Updateable<ClientsTable> {
  const row: Updateable<ClientsTable> = {};
  if (patch.name !== undefined) row.name = patch.name;
  if (patch.secretDigest !== undefined) row.secret_digest = patch.secretDigest;
  if (patch.scopes !== undefined) row.scopes = JSON.stringify(patch.scopes);
  if (patch.resources !== undefined) row.resources = JSON.stringify(patch.resources);
  if (patch.defaultAudience !== undefined) row.default_audience = patch.defaultAudience;
  if (patch.grantTypes !== undefined) row.grant_types = JSON.stringify(patch.grantTypes);
  if (patch.accessTokenFormat !== undefined) row.access_token_format = patch.accessTokenFormat;
  if (patch.accessTokenTtl !== undefined) row.access_token_ttl = patch.accessTokenTtl;
  if (patch.source !== undefined) row.source = patch.source;
  if (patch.updatedAt !== undefined) row.updated_at = patch.updatedAt;
  if (patch.mayAct !== undefined) row.may_act = patch.mayAct === null ? null : JSON.stringify(patch.mayAct);
  return row;
}

export function clientToRow(record: ClientRecord): Insertable<ClientsTable> {
  return {
    id: record.id,
    name: record.name,
    secret_digest: record.secretDigest,
    scopes: JSON.stringify(record.scopes),
    resources: JSON.stringify(record.resources),
    default_audience: record.defaultAudience,
    grant_types: JSON.stringify(record.grantTypes),
    access_token_format: record.accessTokenFormat,
    access_token_ttl: record.accessTokenTtl,
    source: record.source,
    created_at: record.createdAt,
    updated_at: record.updatedAt,
    may_act: record.mayAct === null ? null : JSON.stringify(record.mayAct),
  };
}

export function signingKeyFromRow(row: Selectable<SigningKeysTable>): SigningKeyRecord {
  return {
    kid: row.kid,
    alg: row.alg,
    publicJwk: row.public_jwk,
    sealedPrivateKey: row.sealed_private_key,
    state: oneOf(row.state, ['next', 'active', 'retired']),
    createdAt: toEpoch(row.created_at),
    activatesAt: toEpoch(row.activates_at),
    retiredAt: toNullableEpoch(row.retired_at),
    expiresAt: toNullableEpoch(row.expires_at),
  };
}

export function signingKeyToRow(record: SigningKeyRecord): Insertable<SigningKeysTable> {
  return {
    kid: record.kid,
    alg: record.alg,
    public_jwk: record.publicJwk,
    sealed_private_key: record.sealedPrivateKey,
    state: record.state,
    created_at: record.createdAt,
    activates_at: record.activatesAt,
    retired_at: record.retiredAt,
    expires_at: record.expiresAt,
  };
}

export type SigningKeyPatch = Partial<
  Pick<SigningKeyRecord, 'state' | 'activatesAt' | 'retiredAt' | 'expiresAt'>
>;

export function signingKeyPatchToRow(patch: SigningKeyPatch): Updateable<SigningKeysTable> {
  const row: Updateable<SigningKeysTable> = {};
  if (patch.state !== undefined) row.state = patch.state;
  if (patch.activatesAt !== undefined) row.activates_at = patch.activatesAt;
  if (patch.retiredAt !== undefined) row.retired_at = patch.retiredAt;
  if (patch.expiresAt !== undefined) row.expires_at = patch.expiresAt;
  return row;
}

export function opaqueTokenFromRow(row: Selectable<OpaqueTokensTable>): OpaqueTokenRecord {
  return {
    digest: row.digest,
    jti: row.jti,
    clientId: row.client_id,
    sub: row.sub,
    scope: row.scope,
    aud: parseStringArray(row.aud),
    iat: toEpoch(row.iat),
    exp: toEpoch(row.exp),
    extra: row.extra,
  };
}

export function opaqueTokenToRow(record: OpaqueTokenRecord): Insertable<OpaqueTokensTable> {
  return {
    digest: record.digest,
    jti: record.jti,
    client_id: record.clientId,
    sub: record.sub,
    scope: record.scope,
    aud: JSON.stringify(record.aud),
    iat: record.iat,
    exp: record.exp,
    extra: record.extra,
  };
}

const FAMILY_END_REASONS: readonly FamilyEndReason[] = [
  'logout',
  'reuse_detected',
  'password_changed',
  'user_disabled',
  'user_deleted',
  'admin',
];

function parseRotations(text: string): RecentRotation[] {
  const value: unknown = JSON.parse(text);
  const valid =
    Array.isArray(value) &&
    value.every(
      (r: { generation?: unknown; salt?: unknown; atMs?: unknown }) =>
        Number.isSafeInteger(r?.generation) && typeof r?.salt === 'string' && Number.isSafeInteger(r?.atMs),
    );
  if (!valid) throw corrupt('rotation list');
  return value as RecentRotation[];
}

export function familyFromRow(row: Selectable<RefreshFamiliesTable>): RefreshFamilyRecord {
  return {
    id: row.id,
    clientId: row.client_id,
    sub: row.sub,
    scope: row.scope,
    aud: parseStringArray(row.aud),
    binding: row.binding,
    createdAt: toEpoch(row.created_at),
    expiresAt: toEpoch(row.expires_at),
    lastUsedAt: toEpoch(row.last_used_at),
    generation: Number(row.generation),
    rotatedAtMs: toEpoch(row.rotated_at_ms),
    recentRotations: parseRotations(row.recent_rotations),
    revokedAt: toNullableEpoch(row.revoked_at),
    revokedReason: row.revoked_reason === null ? null : oneOf(row.revoked_reason, FAMILY_END_REASONS),
  };
}

export function familyToRow(record: RefreshFamilyRecord): Insertable<RefreshFamiliesTable> {
  return {
    id: record.id,
    client_id: record.clientId,
    sub: record.sub,
    scope: record.scope,
    aud: JSON.stringify(record.aud),
    binding: record.binding,
    created_at: record.createdAt,
    expires_at: record.expiresAt,
    last_used_at: record.lastUsedAt,
    generation: record.generation,
    rotated_at_ms: record.rotatedAtMs,
    recent_rotations: JSON.stringify(record.recentRotations),
    revoked_at: record.revokedAt,
    revoked_reason: record.revokedReason,
  };
}

const REVOCATION_KINDS: readonly RevocationKind[] = ['jti', 'sid', 'sub', 'client'];

export function revocationFromRow(row: Selectable<RevocationLogTable>): RevocationRecord {
  return {
    seq: toEpoch(row.seq),
    kind: oneOf(row.kind, REVOCATION_KINDS),
    value: row.value,
    notBefore: toEpoch(row.not_before),
    exp: toEpoch(row.exp),
    createdAt: toEpoch(row.created_at),
  };
}

export function revocationToRow(record: RevocationRecord): Insertable<RevocationLogTable> {
  return {
    seq: record.seq,
    kind: record.kind,
    value: record.value,
    not_before: record.notBefore,
    exp: record.exp,
    created_at: record.createdAt,
  };
}

export function revokedTokenToRow(record: RevokedTokenRecord): Insertable<RevokedTokensTable> {
  return { jti: record.jti, exp: record.exp, revoked_at: record.revokedAt };
}

export function auditFromRow(row: Selectable<AuditLogTable>): AuditRecord {
  return {
    seq: toEpoch(row.seq),
    at: toEpoch(row.at),
    actor: row.actor,
    action: row.action,
    target: row.target,
    outcome: oneOf(row.outcome, ['success', 'failure'] as const),
    details: row.details,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

export function auditToRow(record: AuditRecord): Insertable<AuditLogTable> {
  return {
    seq: record.seq,
    at: record.at,
    actor: record.actor,
    action: record.action,
    target: record.target,
    outcome: record.outcome,
    details: record.details,
    prev_hash: record.prevHash,
    hash: record.hash,
  };
}

function parseAttributes(text: string): UserRecord['attributes'] {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt('attributes object');
  for (const v of Object.values(value)) {
    if (!['string', 'number', 'boolean'].includes(typeof v)) throw corrupt('attribute value');
  }
  return value as UserRecord['attributes'];
}

export function userFromRow(row: Selectable<UsersTable>): UserRecord {
  return {
    id: row.id,
    username: row.username,
    usernameKey: row.username_key,
    passwordHash: row.password_hash,
    disabled: Number(row.disabled) === 1,
    roles: parseStringArray(row.roles),
    groups: parseStringArray(row.groups),
    attributes: parseAttributes(row.attributes),
    createdAt: toEpoch(row.created_at),
    updatedAt: toEpoch(row.updated_at),
    passwordChangedAt: toNullableEpoch(row.password_changed_at),
  };
}

export function userToRow(record: UserRecord): Insertable<UsersTable> {
  return {
    id: record.id,
    username: record.username,
    username_key: record.usernameKey,
    password_hash: record.passwordHash,
    disabled: record.disabled ? 1 : 0,
    roles: JSON.stringify(record.roles),
    groups: JSON.stringify(record.groups),
    attributes: JSON.stringify(record.attributes),
    created_at: record.createdAt,
    updated_at: record.updatedAt,
    password_changed_at: record.passwordChangedAt,
  };
}

export function userPatchToRow(patch: UserPatch): Updateable<UsersTable> {
  const row: Updateable<UsersTable> = {};
  if (patch.username !== undefined) row.username = patch.username;
  if (patch.usernameKey !== undefined) row.username_key = patch.usernameKey;
  if (patch.passwordHash !== undefined) row.password_hash = patch.passwordHash;
  if (patch.disabled !== undefined) row.disabled = patch.disabled ? 1 : 0;
  if (patch.roles !== undefined) row.roles = JSON.stringify(patch.roles);
  if (patch.groups !== undefined) row.groups = JSON.stringify(patch.groups);
  if (patch.attributes !== undefined) row.attributes = JSON.stringify(patch.attributes);
  if (patch.updatedAt !== undefined) row.updated_at = patch.updatedAt;
  if (patch.passwordChangedAt !== undefined) row.password_changed_at = patch.passwordChangedAt;
  return row;
}

export function apiKeyFromRow(row: Selectable<ApiKeysTable>): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    owner: row.owner,
    secretDigest: row.secret_digest,
    scopes: parseStringArray(row.scopes),
    createdAt: toEpoch(row.created_at),
    expiresAt: toNullableEpoch(row.expires_at),
    revokedAt: toNullableEpoch(row.revoked_at),
    graceUntil: toNullableEpoch(row.grace_until),
    replacedBy: row.replaced_by,
    lastUsedAt: toNullableEpoch(row.last_used_at),
  };
}

export function apiKeyToRow(record: ApiKeyRecord): Insertable<ApiKeysTable> {
  return {
    id: record.id,
    name: record.name,
    owner: record.owner,
    secret_digest: record.secretDigest,
    scopes: JSON.stringify(record.scopes),
    created_at: record.createdAt,
    expires_at: record.expiresAt,
    revoked_at: record.revokedAt,
    grace_until: record.graceUntil,
    replaced_by: record.replacedBy,
    last_used_at: record.lastUsedAt,
  };
}

export function apiKeyPatchToRow(patch: ApiKeyPatch): Updateable<ApiKeysTable> {
  const row: Updateable<ApiKeysTable> = {};
  if (patch.revokedAt !== undefined) row.revoked_at = patch.revokedAt;
  if (patch.graceUntil !== undefined) row.grace_until = patch.graceUntil;
  if (patch.replacedBy !== undefined) row.replaced_by = patch.replacedBy;
  if (patch.lastUsedAt !== undefined) row.last_used_at = patch.lastUsedAt;
  return row;
}

function parseSourceMap(text: string): Record<string, string> {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt('policy sources');
  const entries = Object.entries(value);
  if (!entries.every(([, v]) => typeof v === 'string')) throw corrupt('policy sources');
  return Object.fromEntries(entries) as Record<string, string>;
}

export function policyVersionFromRow(row: Selectable<PolicyVersionsTable>): PolicyVersionRecord {
  return {
    version: toEpoch(row.version),
    schema: row.schema_text,
    policies: parseSourceMap(row.policies),
    createdBy: row.created_by,
    createdAt: toEpoch(row.created_at),
    digest: row.digest,
  };
}

export function policyVersionToRow(record: PolicyVersionRecord): Insertable<PolicyVersionsTable> {
  return {
    version: record.version,
    schema_text: record.schema,
    policies: JSON.stringify(record.policies),
    created_by: record.createdBy,
    created_at: record.createdAt,
    digest: record.digest,
  };
}

export function decisionFromRow(row: Selectable<PolicyDecisionsTable>): DecisionRecord {
  return {
    id: row.id,
    at: toEpoch(row.at),
    decision: oneOf(row.decision, ['allow', 'deny']),
    principal: row.principal,
    action: row.action,
    resource: row.resource,
    policyVersion: toEpoch(row.policy_version),
    policies: parseStringArray(row.policies),
    errors: parseStringArray(row.errors),
    latencyUs: row.latency_us,
    source: row.source,
    input: row.input,
  };
}

export function decisionToRow(record: DecisionRecord): Insertable<PolicyDecisionsTable> {
  return {
    id: record.id,
    at: record.at,
    decision: record.decision,
    principal: record.principal,
    action: record.action,
    resource: record.resource,
    policy_version: record.policyVersion,
    policies: JSON.stringify(record.policies),
    errors: JSON.stringify(record.errors),
    latency_us: record.latencyUs,
    source: record.source,
    input: record.input,
  };
}
