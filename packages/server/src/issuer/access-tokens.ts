import { createHash } from 'node:crypto';
import {
  type ClientRecord,
  type Clock,
  epochSeconds,
  JwtError,
  type OpaqueTokenRecord,
  RandomIds,
  signJwtAsync,
  type Store,
  verifyJwt,
} from '@gatehouse/core';
import { OAuthError } from '../http/oauth-error.js';
import type { KeyManager } from '../keys/key-manager.js';
import { makeRoom } from '../internal/bounded-map.js';

/**
 * `typ` of the gateway's internal token: an upstream never mistakes it for a client's access
 * token, and the issuer takes it only where it says so (as the subject of a token exchange).
 */
export const INTERNAL_TOKEN_TYP = 'gatehouse-internal+jwt';

/** RFC 9068 media type of a JWT access token's `typ` header. */
export const ACCESS_TOKEN_TYP = 'at+jwt';
/** Prefix of opaque access tokens, so secret scanners and people can recognise them. */
export const OPAQUE_PREFIX = 'gatehouse_at_';

/** The claims of an access token, whichever its format. */
export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  scope?: string;
  /** RFC 8693 §4.1: who acts for `sub`, most recent actor outermost. */
  act?: ActorClaim;
  /** Session (refresh family) the token was minted from; ending the session ends the token. */
  sid?: string;
  /** RFC 9068 §2.2.3.1 roles and groups of a user. */
  roles?: string[];
  groups?: string[];
}

/** An `act` claim: the actor, and the actors before it nested inside. */
export interface ActorClaim {
  sub: string;
  client_id?: string;
  act?: ActorClaim;
}

/** Claims beyond the RFC 9068 core that a grant may add. */
export type ExtraClaims = Pick<AccessTokenClaims, 'act' | 'sid' | 'roles' | 'groups'>;

/** What to mint: for whom, with what, for how long. */
export interface IssueInput {
  client: ClientRecord;
  sub: string;
  scope: string[];
  audience: string[];
  /** Lifetime wanted by the grant (e.g. user tokens); capped by the client's and the server's. */
  ttl?: number;
  /** An upper bound on the lifetime, e.g. a token exchange's subject token expiry. */
  notAfter?: number;
  extra?: ExtraClaims;
}

export interface IssuedToken {
  token: string;
  claims: AccessTokenClaims;
  format: ClientRecord['accessTokenFormat'];
  expiresIn: number;
}

export interface AccessTokenOptions {
  issuer: string;
  defaultTtl: number;
  maxTtl: number;
  clockSkew: number;
}

/** base64url of the SHA-256 of a token text: the only form an opaque token is stored in. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

/**
 * Mints access tokens: RFC 9068 JWTs signed with the active key, or opaque reference tokens
 * stored by digest. Also reads them back (for introspection and revocation), JWT or opaque.
 */
export class AccessTokens {
  readonly #keys: KeyManager;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #options: AccessTokenOptions;
  readonly #ids = new RandomIds();
  /**
   * Opaque token records by digest. A record never changes after issue (revocation is kept
   * apart), so a hit is as good as the store's answer until `exp`; bounded, oldest out first.
   */
  readonly #opaque = new Map<string, OpaqueTokenRecord>();

  constructor(deps: { keys: KeyManager; store: Store; clock: Clock }, options: AccessTokenOptions) {
    this.#keys = deps.keys;
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#options = options;
  }

  async issue(input: IssueInput): Promise<IssuedToken> {
    const iat = epochSeconds(this.#clock);
    let ttl = Math.min(
      input.ttl ?? input.client.accessTokenTtl ?? this.#options.defaultTtl,
      input.client.accessTokenTtl ?? Number.POSITIVE_INFINITY,
      this.#options.maxTtl,
    );
    if (input.notAfter !== undefined) ttl = Math.min(ttl, input.notAfter - iat);
    // Only an upper bound already in the past gets here (a subject token expiring this second).
    if (ttl <= 0) throw new OAuthError('invalid_request', 'the token it derives from has just expired');
    const claims: AccessTokenClaims = {
      iss: this.#options.issuer,
      sub: input.sub,
      aud: input.audience.length === 1 ? (input.audience[0] as string) : input.audience,
      exp: iat + ttl,
      iat,
      jti: this.#ids.next(16),
      client_id: input.client.id,
    };
    if (input.scope.length > 0) claims.scope = input.scope.join(' ');
    const extra = compactExtra(input.extra);
    if (extra) Object.assign(claims, extra);
    if (input.client.accessTokenFormat === 'opaque') {
      const token = OPAQUE_PREFIX + this.#ids.next(32);
      await this.#store.tokens.putOpaque({
        digest: tokenDigest(token),
        jti: claims.jti,
        clientId: claims.client_id,
        sub: claims.sub,
        scope: claims.scope ?? '',
        aud: input.audience,
        iat,
        exp: claims.exp,
        extra: extra ? JSON.stringify(extra) : null,
      });
      return { token, claims, format: 'opaque', expiresIn: ttl };
    }
    // Signed on the thread pool: the event loop keeps parsing and answering other requests meanwhile.
    const token = await signJwtAsync({ typ: ACCESS_TOKEN_TYP }, { ...claims }, this.#keys.signingKey());
    return { token, claims, format: 'jwt', expiresIn: ttl };
  }

  /**
   * Reads a token this issuer minted, checking signature and lifetime but not revocation.
   * Returns undefined for anything unknown, expired, malformed or foreign. The issuer's own
   * clock is the authority on its tokens: skew is tolerated on `iat`, never past `exp` (a
   * revocation entry is dropped at `exp`, so a token must not outlive it).
   */
  async read(token: string, options: ReadOptions = {}): Promise<AccessTokenClaims | undefined> {
    if (token.length > 8192) return undefined;
    if (token.startsWith(OPAQUE_PREFIX)) {
      const digest = tokenDigest(token);
      const record = this.#opaque.get(digest) ?? (await this.#loadOpaque(digest));
      if (!record) return undefined;
      if (record.exp <= epochSeconds(this.#clock)) {
        this.#opaque.delete(digest);
        return undefined;
      }
      return claimsOfOpaque(this.#options.issuer, record);
    }
    try {
      const verify = (typ: string) =>
        verifyJwt(token, this.#keys.verificationKeys(), {
          issuer: this.#options.issuer,
          audience: ANY_AUDIENCE,
          typ,
          maxLifetimeSeconds: this.#options.maxTtl,
          clockSkewSeconds: this.#options.clockSkew,
          clock: this.#clock,
        });
      let verified: ReturnType<typeof verify>;
      try {
        verified = verify(ACCESS_TOKEN_TYP);
      } catch (err) {
        // typ is checked before any crypto, so the second try costs nothing when it fails too.
        if (!(options.acceptInternal && err instanceof JwtError && err.code === 'ERR_JWT_TYP_INVALID'))
          throw err;
        verified = verify(INTERNAL_TOKEN_TYP);
      }
      const claims = verified.payload as unknown as AccessTokenClaims;
      return claims.exp <= epochSeconds(this.#clock) ? undefined : claims;
    } catch (err) {
      if (err instanceof JwtError) return undefined;
      throw err;
    }
  }

  async #loadOpaque(digest: string): Promise<OpaqueTokenRecord | undefined> {
    const record = await this.#store.tokens.getOpaque(digest);
    if (record) {
      makeRoom(this.#opaque, OPAQUE_CACHE_ENTRIES);
      this.#opaque.set(digest, record);
    }
    return record;
  }
}

const OPAQUE_CACHE_ENTRIES = 10_000;

/** Options of {@link AccessTokens.read}. */
export interface ReadOptions {
  /** Also take the gateway's internal token (the subject of a service's token exchange). */
  acceptInternal?: boolean;
}

function claimsOfOpaque(issuer: string, record: OpaqueTokenRecord): AccessTokenClaims {
  const claims: AccessTokenClaims = {
    iss: issuer,
    sub: record.sub,
    aud: record.aud.length === 1 ? (record.aud[0] as string) : record.aud,
    exp: record.exp,
    iat: record.iat,
    jti: record.jti,
    client_id: record.clientId,
  };
  if (record.scope) claims.scope = record.scope;
  if (record.extra !== null) Object.assign(claims, JSON.parse(record.extra) as ExtraClaims);
  return claims;
}

/** The extra claims that carry something (empty lists and undefined dropped), or undefined. */
function compactExtra(extra: ExtraClaims | undefined): ExtraClaims | undefined {
  if (!extra) return undefined;
  const out: ExtraClaims = {};
  if (extra.act) out.act = extra.act;
  if (extra.sid) out.sid = extra.sid;
  if (extra.roles && extra.roles.length > 0) out.roles = extra.roles;
  if (extra.groups && extra.groups.length > 0) out.groups = extra.groups;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The issuer reads back its own tokens whatever audience it issued them to; every other check stays on. */
const ANY_AUDIENCE = (audiences: readonly string[]) => audiences.length > 0;
