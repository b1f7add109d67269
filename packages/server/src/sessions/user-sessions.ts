import type { ClientRecord, RefreshFamilyRecord, UserRecord } from '@gatehouse/core';
import type { IssuedToken } from '../issuer/access-tokens.js';
import type { TokenIssuance } from '../issuer/issuance.js';
import type { UserDirectory } from '../users/user-directory.js';
import type { RefreshFamilies, RotationCaller, RotationRefusal } from './refresh-families.js';

/** What users' access tokens carry, from the `login` section of the config. */
export interface UserTokenOptions {
  /** The first-party login client (built in, public). */
  client: ClientRecord;
  /** Scopes every user gets. */
  scopes: readonly string[];
  /** Further scopes by role. */
  roleScopes: Readonly<Record<string, readonly string[]>>;
  audience: string[];
  /** Access token lifetime; undefined: the server default. */
  ttl: number | undefined;
}

/** A session's tokens after login or refresh. */
export interface SessionTokens {
  issued: IssuedToken;
  refreshToken: string;
  family: RefreshFamilyRecord;
}

/** Why a refresh was refused: the family's reasons, or a scope wider than the session's. */
export type RefreshRefusal = RotationRefusal | 'invalid_scope';

/** The built-in client record of the first-party login client: public, never registered. */
export function loginClientRecord(id: string, ttl: number | undefined): ClientRecord {
  return {
    id,
    name: 'First-party login',
    // Not a digest of anything: no secret ever matches, the client is public.
    secretDigest: '',
    scopes: [],
    resources: [],
    defaultAudience: null,
    grantTypes: ['refresh_token'],
    accessTokenFormat: 'jwt',
    accessTokenTtl: ttl ?? null,
    source: 'config',
    createdAt: 0,
    updatedAt: 0,
    mayAct: null,
  };
}

/**
 * Users' sessions: a login starts a refresh family and mints the first access token; a refresh
 * rotates the family and mints the next. Scopes are re-derived from the user's roles on every
 * refresh (a permission change takes effect at the next refresh) but never exceed what the
 * session was granted at login.
 */
export class UserSessions {
  readonly #users: UserDirectory;
  readonly #families: RefreshFamilies;
  readonly #issuance: TokenIssuance;
  readonly #options: UserTokenOptions;

  constructor(
    deps: { users: UserDirectory; families: RefreshFamilies; issuance: TokenIssuance },
    options: UserTokenOptions,
  ) {
    this.#users = deps.users;
    this.#families = deps.families;
    this.#issuance = deps.issuance;
    this.#options = options;
  }

  get client(): ClientRecord {
    return this.#options.client;
  }

  /** Scopes a user has now: the common ones plus those of their roles. */
  scopesFor(user: UserRecord): string[] {
    const scopes = new Set(this.#options.scopes);
    for (const role of user.roles) for (const s of this.#options.roleScopes[role] ?? []) scopes.add(s);
    return [...scopes];
  }

  /** Starts a session for an authenticated user. */
  async start(user: UserRecord, binding: string): Promise<SessionTokens> {
    const scope = this.scopesFor(user);
    const { family, refreshToken } = await this.#families.begin({
      clientId: this.#options.client.id,
      sub: user.id,
      scope,
      aud: this.#options.audience,
      binding,
    });
    const issued = await this.#mint(user, family, scope, 'login', { family_id: family.id });
    return { issued, refreshToken, family };
  }

  /**
   * Rotates a session's refresh token and mints a new access token. `narrowTo` (the OAuth
   * `scope` parameter) is checked against the session before anything changes.
   */
  async refresh(
    presented: string,
    caller: RotationCaller,
    grantType: string,
    narrowTo?: string[],
  ): Promise<SessionTokens | { refused: RefreshRefusal }> {
    if (narrowTo) {
      const family = await this.#families.familyOf(presented);
      const granted = new Set(family?.scope.split(' ') ?? []);
      if (family && narrowTo.some((s) => !granted.has(s))) return { refused: 'invalid_scope' };
    }
    const result = await this.#families.rotate(presented, caller);
    if (!result.ok) return { refused: result.reason };
    const { family } = result;
    const user = await this.#users.get(family.sub);
    if (!user || user.disabled) {
      await this.#families.end(family, user ? 'user_disabled' : 'user_deleted', 'system');
      return { refused: 'revoked' };
    }
    const granted = new Set(family.scope.split(' '));
    let scope = this.scopesFor(user).filter((s) => granted.has(s));
    if (narrowTo) scope = scope.filter((s) => narrowTo.includes(s));
    const issued = await this.#mint(user, family, scope, grantType, {
      family_id: family.id,
      generation: family.generation,
      replayed: result.replayed,
    });
    return { issued, refreshToken: result.refreshToken, family };
  }

  /** The session a presented refresh token belongs to, whatever its state. */
  familyOf(presented: string): Promise<RefreshFamilyRecord | undefined> {
    return this.#families.familyOf(presented);
  }

  /**
   * Ends the session of a presented refresh token at its holder's request (logout, RFC 7009);
   * a long-rotated token ends it as reuse. Undefined when the token is unknown.
   */
  logout(presented: string): Promise<RefreshFamilyRecord | undefined> {
    return this.#families.endByToken(presented);
  }

  #mint(
    user: UserRecord,
    family: RefreshFamilyRecord,
    scope: string[],
    grantType: string,
    details: Record<string, unknown>,
  ): Promise<IssuedToken> {
    return this.#issuance.issue({
      client: this.#options.client,
      sub: user.id,
      scope,
      audience: family.aud,
      ...(this.#options.ttl !== undefined && { ttl: this.#options.ttl }),
      extra: { sid: family.id, roles: user.roles, groups: user.groups },
      grantType,
      actor: `user:${user.id}`,
      details,
    });
  }
}
