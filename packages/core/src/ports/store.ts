/**
 * The durable store port. Code asks for durable records through these repositories and never
 * through a database client. Times are whole seconds since the epoch.
 */

/** How a client's access tokens are represented. */
export type AccessTokenFormat = 'jwt' | 'opaque';

/** A registered OAuth client. The secret itself is never stored, only its digest. */
export interface ClientRecord {
  id: string;
  name: string;
  /** `sha256:<base64url>` digest of the generated secret. */
  secretDigest: string;
  /** Scopes the client may request. */
  scopes: string[];
  /** RFC 8707 resource indicators (audiences) the client may request. */
  resources: string[];
  /** Audience used when no `resource` is requested; null means the issuer itself. */
  defaultAudience: string | null;
  grantTypes: string[];
  accessTokenFormat: AccessTokenFormat;
  /** Access token lifetime in seconds; null uses the server default. */
  accessTokenTtl: number | null;
  /** Where the record came from: the config file is re-applied on start, the API is not. */
  source: 'config' | 'api';
  /**
   * RFC 8693 delegation rules when this client acts for others (token exchange); null when it
   * may not exchange tokens at all.
   */
  mayAct: MayActRule | null;
  createdAt: number;
  updatedAt: number;
}

/** What a client may do as the actor of a token exchange. */
export interface MayActRule {
  /** Subject tokens must be addressed (`aud`) to one of these: the client acts on tokens sent to it. */
  subjectAudiences: string[];
  /** The most it may pass on: issued scope = requested ∩ subject's ∩ these. */
  scopes: string[];
}

/** Fields of a client that may change after creation. */
export type ClientPatch = Partial<Omit<ClientRecord, 'id' | 'createdAt'>>;

export interface ClientRepository {
  get(id: string): Promise<ClientRecord | undefined>;
  list(): Promise<ClientRecord[]>;
  /** Inserts; throws `ERR_STORE_CONFLICT` when the id exists. */
  create(record: ClientRecord): Promise<void>;
  /** Updates; returns the new record, or undefined when the id does not exist. */
  update(id: string, patch: ClientPatch): Promise<ClientRecord | undefined>;
  /** Returns true when a record was deleted. */
  delete(id: string): Promise<boolean>;
}

/** Lifecycle of a signing key: published before it signs, kept after until its tokens expire. */
export type SigningKeyState = 'next' | 'active' | 'retired';

export interface SigningKeyRecord {
  kid: string;
  alg: string;
  /** Public JWK as JSON text (no private members). */
  publicJwk: string;
  /** Private key sealed with the key-encryption key (AES-256-GCM), as produced by the key vault. */
  sealedPrivateKey: string;
  state: SigningKeyState;
  createdAt: number;
  /** When the key starts (or started) signing. */
  activatesAt: number;
  /** When the key stopped signing; null while not retired. */
  retiredAt: number | null;
  /** When the key may be removed from the JWKS (every token it signed has expired). */
  expiresAt: number | null;
}

export interface SigningKeyRepository {
  list(): Promise<SigningKeyRecord[]>;
  insert(record: SigningKeyRecord): Promise<void>;
  update(
    kid: string,
    patch: Partial<Pick<SigningKeyRecord, 'state' | 'activatesAt' | 'retiredAt' | 'expiresAt'>>,
  ): Promise<void>;
  delete(kid: string): Promise<boolean>;
}

/** An opaque (reference) access token; only its digest is stored. */
export interface OpaqueTokenRecord {
  /** `sha256` digest of the token text, base64url. */
  digest: string;
  jti: string;
  clientId: string;
  sub: string;
  scope: string;
  aud: string[];
  iat: number;
  exp: number;
  /** Further claims (`act`, `sid`, `roles`, `groups`) as JSON object text; null when none. */
  extra: string | null;
}

/** A revoked token identifier, kept until the token would have expired anyway. */
export interface RevokedTokenRecord {
  jti: string;
  /** When the revoked token expires; the entry may be purged after this. */
  exp: number;
  revokedAt: number;
}

export interface TokenRepository {
  putOpaque(record: OpaqueTokenRecord): Promise<void>;
  getOpaque(digest: string): Promise<OpaqueTokenRecord | undefined>;
  /** Idempotent: revoking twice keeps the first entry. */
  revoke(record: RevokedTokenRecord): Promise<void>;
  isRevoked(jti: string): Promise<boolean>;
  /** Removes opaque tokens and revocations whose `exp` is before `now`; returns how many. */
  purgeExpired(now: number): Promise<number>;
}

/** A person (or robot account) who logs in with a password. */
export interface UserRecord {
  /** Stable opaque id (the `sub` of their tokens). */
  id: string;
  /** Login name as given. */
  username: string;
  /** Case-folded username; unique. */
  usernameKey: string;
  /** argon2id PHC string; null when the user cannot log in with a password. */
  passwordHash: string | null;
  disabled: boolean;
  roles: string[];
  groups: string[];
  attributes: Record<string, string | number | boolean>;
  createdAt: number;
  updatedAt: number;
  passwordChangedAt: number | null;
}

/** Fields of a user that may change after creation. */
export type UserPatch = Partial<Omit<UserRecord, 'id' | 'createdAt'>>;

export interface UserRepository {
  get(id: string): Promise<UserRecord | undefined>;
  getByUsernameKey(usernameKey: string): Promise<UserRecord | undefined>;
  /** Users ordered by id, after `afterId` (exclusive), at most `limit`. */
  list(afterId: string | null, limit: number): Promise<UserRecord[]>;
  /** Inserts; `ERR_STORE_CONFLICT` when the id or the username key exists. */
  create(record: UserRecord): Promise<void>;
  update(id: string, patch: UserPatch): Promise<UserRecord | undefined>;
  delete(id: string): Promise<boolean>;
}

/** A long-lived credential for a service: `sk_<id>.<secret>`; only the secret's digest is kept. */
export interface ApiKeyRecord {
  /** Public part of the key, also its id in the admin API. */
  id: string;
  name: string;
  /** Who the key acts for (a client id or service name); becomes `client_id` in introspection. */
  owner: string;
  /** `sha256:<base64url>` digest of the secret part. */
  secretDigest: string;
  scopes: string[];
  createdAt: number;
  /** Hard end of validity; null for keys that do not expire. */
  expiresAt: number | null;
  revokedAt: number | null;
  /** Set on a key replaced by rotation: it stays valid until then. */
  graceUntil: number | null;
  /** Id of the key that replaced this one. */
  replacedBy: string | null;
  lastUsedAt: number | null;
}

export type ApiKeyPatch = Partial<
  Pick<ApiKeyRecord, 'revokedAt' | 'graceUntil' | 'replacedBy' | 'lastUsedAt'>
>;

export interface ApiKeyRepository {
  get(id: string): Promise<ApiKeyRecord | undefined>;
  /** Ordered by creation, oldest first. */
  list(): Promise<ApiKeyRecord[]>;
  create(record: ApiKeyRecord): Promise<void>;
  update(id: string, patch: ApiKeyPatch): Promise<ApiKeyRecord | undefined>;
}

/** One security-relevant act, as the caller describes it. */
export interface AuditEntry {
  /** When it happened, milliseconds since the epoch. */
  at: number;
  /** Who acted: `client:<id>`, `user:<id>`, `admin:<client id>`, `system`. */
  actor: string;
  /** What happened, dotted: `token.issued`, `client.created`, `auth.failed`, … */
  action: string;
  /** What it happened to (a client id, a jti, a kid); null when nothing in particular. */
  target: string | null;
  outcome: 'success' | 'failure';
  /** Canonical JSON text of further details (never a secret). */
  details: string;
}

/** An audit entry as stored: numbered and chained to the one before it. */
export interface AuditRecord extends AuditEntry {
  /** 1, 2, 3, … with no gaps. */
  seq: number;
  /** `hash` of the previous record; the genesis value for seq 1. */
  prevHash: string;
  /** Keyed hash over this record's fields and prevHash. */
  hash: string;
}

export interface AuditRepository {
  /** The record with the highest seq, or undefined when the log is empty. */
  head(): Promise<AuditRecord | undefined>;
  /**
   * Appends consecutive records in one transaction. Throws `ERR_STORE_CONFLICT` when a seq is
   * taken (another writer appended first): nothing is written and the caller re-chains.
   */
  append(records: readonly AuditRecord[]): Promise<void>;
  /** Records with seq greater than `afterSeq`, ascending, at most `limit`. */
  list(afterSeq: number, limit: number): Promise<AuditRecord[]>;
}

/** Why a refresh family ended. */
export type FamilyEndReason =
  | 'logout'
  | 'reuse_detected'
  | 'password_changed'
  | 'user_disabled'
  | 'user_deleted'
  | 'admin';

/**
 * A refresh token family: every refresh token minted from one login, rotated on each use. Only
 * digests of the tokens are stored; `generation` counts rotations, and the token of the current
 * generation is the only one that rotates.
 */
export interface RefreshFamilyRecord {
  id: string;
  /** The client the family is bound to (the first-party login client for browser logins). */
  clientId: string;
  /** Whose tokens these are (a user id). */
  sub: string;
  scope: string;
  aud: string[];
  /**
   * How a refresh must prove it comes from the same place: `csrf:<digest>` for a browser family
   * (the CSRF token bound to it), `client` for one refreshed at the token endpoint by its client.
   */
  binding: string;
  createdAt: number;
  /** Absolute end, however often it is used. */
  expiresAt: number;
  /** Epoch seconds of the last rotation (idle timeout counts from here). */
  lastUsedAt: number;
  /** Number of rotations so far; the current token has this generation. */
  generation: number;
  /** Epoch milliseconds of the last rotation (the replay grace window counts from here). */
  rotatedAtMs: number;
  /**
   * Rotations of the last grace window, oldest first: with any token they superseded, the salts
   * re-derive every later token, so a parallel request holding that token gets the current one.
   */
  recentRotations: RecentRotation[];
  revokedAt: number | null;
  revokedReason: FamilyEndReason | null;
}

/** One rotation: to `generation`, with `salt`, at `atMs` (epoch milliseconds). */
export interface RecentRotation {
  generation: number;
  salt: string;
  atMs: number;
}

/** A refresh token as stored: its digest and where it sits in its family. */
export interface RefreshTokenRecord {
  /** base64url SHA-256 of the token text. */
  digest: string;
  familyId: string;
  generation: number;
}

/** The rotation a compare-and-set applies to a family. */
export interface FamilyRotation {
  /** Generation the caller saw; the rotation applies only if the family is still there. */
  fromGeneration: number;
  /** Digest of the new token (generation fromGeneration + 1). */
  digest: string;
  /** The family's recent rotations after this one (this one last). */
  recentRotations: RecentRotation[];
  rotatedAtMs: number;
  lastUsedAt: number;
}

export interface RefreshTokenRepository {
  /** Creates a family with its first token (generation 0), atomically. */
  createFamily(family: RefreshFamilyRecord, firstDigest: string): Promise<void>;
  /** The token with this digest and its family, or undefined. */
  find(digest: string): Promise<{ token: RefreshTokenRecord; family: RefreshFamilyRecord } | undefined>;
  getFamily(id: string): Promise<RefreshFamilyRecord | undefined>;
  /**
   * Compare-and-set: moves an unrevoked family from `fromGeneration` to the next and records the
   * new token, in one transaction. False when another rotation (or a revocation) came first.
   */
  rotate(familyId: string, rotation: FamilyRotation): Promise<boolean>;
  /** Ends a family; false when it was already ended (the first reason stays). */
  revokeFamily(familyId: string, at: number, reason: FamilyEndReason): Promise<boolean>;
  /** Ends every live family of a subject; returns the ended families. */
  revokeSubject(sub: string, at: number, reason: FamilyEndReason): Promise<RefreshFamilyRecord[]>;
  /** Live (unrevoked, unexpired) families of a subject. */
  listLive(sub: string, now: number): Promise<RefreshFamilyRecord[]>;
  /** Deletes families (and their tokens) whose absolute end is before `now`; returns how many. */
  purgeExpired(now: number): Promise<number>;
}

/** What a revocation names: a token, a session, or everything of a subject or client before a time. */
export type RevocationKind = 'jti' | 'sid' | 'sub' | 'client';

/** One revocation as the caller describes it. */
export interface RevocationEntry {
  kind: RevocationKind;
  /** The jti, session id, subject or client id. */
  value: string;
  /** For `sub` and `client`: tokens issued (iat) before this epoch second are revoked. 0 otherwise. */
  notBefore: number;
  /** When the entry may be purged: every token it could revoke has expired by then. */
  exp: number;
  createdAt: number;
}

/** A revocation as stored: numbered, so instances can tell when they missed one. */
export interface RevocationRecord extends RevocationEntry {
  seq: number;
}

/**
 * The durable revocation log: the truth every instance rebuilds from and resyncs against. The
 * shared cache and the bus only make it fast.
 */
export interface RevocationLogRepository {
  /** Appends with the next sequence number (retrying past concurrent writers); returns the record. */
  append(entry: RevocationEntry): Promise<RevocationRecord>;
  /** Records after `afterSeq`, ascending, at most `limit`. */
  since(afterSeq: number, limit: number): Promise<RevocationRecord[]>;
  /** Highest sequence number, 0 when empty. */
  head(): Promise<number>;
  /** The live entry for a kind and value (the latest), or undefined. */
  find(kind: RevocationKind, value: string, now: number): Promise<RevocationRecord | undefined>;
  /** Deletes entries whose exp is before `now` (never the head); returns how many. */
  purgeExpired(now: number): Promise<number>;
}

/**
 * One version of the policy set: the Cedar schema and the policy sources exactly as written
 * (source name → Cedar text), so what an author wrote is what every instance loads.
 */
export interface PolicyVersionRecord {
  /** 1, 2, 3, … each change makes the next one; the highest is current. */
  version: number;
  /** Cedar schema, human-readable syntax. */
  schema: string;
  /** Source name (a file name such as `admins.cedar`) → Cedar policy text. */
  policies: Record<string, string>;
  /** Who made the change: `admin:<client id>`, `config:<dir>`, `cli`. */
  createdBy: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** SHA-256 of the canonical sources, so reloading the same files makes no new version. */
  digest: string;
}

export interface PolicyRepository {
  /**
   * Stores the next version (`version` must be head + 1). `ERR_STORE_CONFLICT` when another
   * writer took that number first: nothing is written and the caller re-reads the head.
   */
  append(record: PolicyVersionRecord): Promise<void>;
  /** The highest version, or undefined when no policy was ever stored. */
  current(): Promise<PolicyVersionRecord | undefined>;
  get(version: number): Promise<PolicyVersionRecord | undefined>;
  /** Versions below `beforeVersion` (all when null), newest first, at most `limit`, without sources. */
  list(
    beforeVersion: number | null,
    limit: number,
  ): Promise<Omit<PolicyVersionRecord, 'schema' | 'policies'>[]>;
}

/** One decision of the policy decision point, as the decision log keeps it. */
export interface DecisionRecord {
  /** Random id; with `at` the cursor of paginated queries. */
  id: string;
  /** Milliseconds since the epoch. */
  at: number;
  decision: 'allow' | 'deny';
  /** Cedar entity uid text of the principal, e.g. `Gatehouse::User::"usr_1"`. */
  principal: string;
  action: string;
  resource: string;
  /** Policy-set version that decided. */
  policyVersion: number;
  /** Ids of the determining policies. */
  policies: string[];
  /** Evaluation errors (policy id: message); a policy that errors is skipped by Cedar. */
  errors: string[];
  /** Evaluation time, microseconds. */
  latencyUs: number;
  /** Where the question came from: `api` (AuthZEN) or `gateway`. */
  source: string;
  /** Canonical JSON of the request as evaluated (entities and context; never a credential). */
  input: string;
}

/** Filters of {@link DecisionLogRepository.query}; every field narrows. */
export interface DecisionQuery {
  decision?: 'allow' | 'deny';
  principal?: string;
  /** From this epoch millisecond, inclusive. */
  from?: number;
  /** Before this epoch millisecond, exclusive. */
  to?: number;
  /** Continue after this (at, id) of the previous page. */
  after?: { at: number; id: string };
  limit: number;
}

export interface DecisionLogRepository {
  append(records: readonly DecisionRecord[]): Promise<void>;
  /** Newest first, by (at, id) descending. */
  query(query: DecisionQuery): Promise<DecisionRecord[]>;
}

/** The durable store: one per process, shared by every role. */
export interface Store {
  /** Adapter name, e.g. `embedded` or `postgres`. */
  readonly kind: string;
  readonly clients: ClientRepository;
  readonly keys: SigningKeyRepository;
  readonly tokens: TokenRepository;
  /** Append-only, hash-chained audit log. */
  readonly audit: AuditRepository;
  readonly users: UserRepository;
  readonly apiKeys: ApiKeyRepository;
  readonly refreshTokens: RefreshTokenRepository;
  readonly revocationLog: RevocationLogRepository;
  /** Versioned Cedar policy sets. */
  readonly policies: PolicyRepository;
  /** Decisions of the policy decision point (every deny, sampled allows). */
  readonly decisions: DecisionLogRepository;
  /** Applies pending versioned migrations; safe to call on every start. */
  migrate(): Promise<void>;
  /** Resolves when the backing database answers; rejects with `ERR_STORE_UNAVAILABLE` otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
