import type { IncomingHttpHeaders } from 'node:http';
import {
  type AuthenticatorConfig,
  type BatchedVerifier,
  type Clock,
  type ErrorCode,
  JwtError,
  type JwtPayload,
  type KeyResolver,
  RemoteKeySet,
  verifyJwtAsync,
  verifyJwtWithRemote,
} from '@gatehouse/core';
import type { ApiKeys } from '../../api-keys/api-keys.js';
import { ACCESS_TOKEN_TYP } from '../../issuer/access-tokens.js';
import type { ActiveTokens } from '../../issuer/active-tokens.js';
import type { RevocationFailureMode, Revocations } from '../../issuer/revocations.js';
import {
  type AuthOutcome,
  type AuthRejection,
  bearerToken,
  hasCredentials,
  type Identity,
  NOT_RESPONSIBLE,
} from './identity.js';
import { makeRoom } from '../../internal/bounded-map.js';
import { andThen, type MaybePromise } from '../../internal/maybe-async.js';

/** What the authenticators need from the running Gatehouse. */
export interface AuthenticatorDeps {
  issuer: string;
  keys: () => KeyResolver;
  revocations: Revocations;
  apiKeys: ApiKeys;
  active: ActiveTokens;
  clock: Clock;
  clockSkew: number;
  maxTokenLifetime: number;
  /** Fetches another issuer's discovery document (undici's fetch by default). */
  fetch?: typeof fetch;
  /** Where this issuer's token signatures are checked: batched on its workers (else the threadpool). */
  signatures?: BatchedVerifier;
}

/** What an authenticator needs to know of the route it works for. */
export interface RouteAuthContext {
  /** The upstream service: an accepted audience of its tokens. */
  service: string;
  /** What a revocation check does when this instance cannot be sure. */
  revocation: RevocationFailureMode;
}

/** One named authenticator: it accepts, refuses, or is not responsible for a request. */
export interface Authenticator {
  readonly kind: AuthenticatorConfig['kind'];
  /** Answers at once when it can (a token verified before), otherwise with a promise. */
  authenticate(headers: IncomingHttpHeaders, route: RouteAuthContext): MaybePromise<AuthOutcome>;
}

/** Our own access tokens always carry a jti; sid and the rest when they have them. */
type RevocableJwt = { jti: string; sid?: string; sub?: string; client_id?: string; iat?: number };

const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/;

const REJECTION_OF: Partial<Record<ErrorCode, AuthRejection>> = {
  ERR_JWT_EXPIRED: 'expired',
  ERR_JWT_NOT_YET_VALID: 'expired',
  ERR_JWT_SIGNATURE_INVALID: 'invalid_signature',
  ERR_JWT_ALG_NOT_ALLOWED: 'invalid_signature',
  ERR_JWT_KEY_UNKNOWN: 'unknown_key',
  ERR_JWT_ISSUER_INVALID: 'wrong_issuer',
  ERR_JWT_AUDIENCE_INVALID: 'wrong_audience',
  ERR_JWT_TYP_INVALID: 'wrong_type',
  ERR_JWKS_UNAVAILABLE: 'issuer_unavailable',
};

function rejected(reason: AuthRejection, description: string): AuthOutcome {
  return { status: 'rejected', reason, description };
}

function identityOfClaims(credential: Identity['credential'], claims: JwtPayload, issuer: string): Identity {
  const scope = typeof claims.scope === 'string' ? claims.scope : '';
  return {
    issuer,
    credential,
    sub: String(claims.sub ?? ''),
    clientId: typeof claims.client_id === 'string' ? claims.client_id : undefined,
    scopes: scope === '' ? [] : scope.split(' '),
    roles: Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [],
    claims,
    act: claims.act as Identity['act'],
    sid: typeof claims.sid === 'string' ? claims.sid : undefined,
  };
}

/**
 * RFC 9068 access tokens, from this Gatehouse or another OIDC issuer (found by its discovery
 * URL; its JWKS is cached and refetched on an unknown kid at most once per interval). Every check
 * of the core verifier applies (alg pinned per key, typ, iss, aud, exp, nbf, iat, lifetime);
 * then revocation, by token id and by session.
 */
export function jwtAuthenticator(
  config: Extract<AuthenticatorConfig, { kind: 'jwt' }>,
  deps: AuthenticatorDeps,
) {
  const remote = config.issuer === undefined ? undefined : remoteIssuer(config.issuer, deps);
  const verified = new VerifiedTokens();
  return {
    kind: 'jwt' as const,
    authenticate(headers: IncomingHttpHeaders, route: RouteAuthContext): MaybePromise<AuthOutcome> {
      // Keyed on the whole Authorization value: a header seen before was read (and its token
      // verified) then, so a hit needs neither pattern run over the ~1 kB header again.
      const header = headers.authorization;
      const cached = header === undefined ? undefined : verified.get(header, deps.clock.nowMs() / 1000);
      if (!cached) return verifyPresented(headers, route);
      const accepted: AuthOutcome = { status: 'accepted', identity: cached };
      if (remote) return accepted;
      // Verified before; revocation is asked again every time, never cached.
      return andThen(
        deps.revocations.isTokenRevoked(cached.claims as RevocableJwt, route.revocation),
        (revoked) => {
          if (!revoked) return accepted;
          verified.delete(header as string);
          return rejected('revoked', 'the access token has been revoked');
        },
      );
    },
  } satisfies Authenticator;

  /** A token not verified before (or no longer cached): signature, claims, revocation. */
  async function verifyPresented(
    headers: IncomingHttpHeaders,
    route: RouteAuthContext,
  ): Promise<AuthOutcome> {
    const header = headers.authorization;
    const token = bearerToken(headers);
    if (token === undefined || !JWT_SHAPE.test(token)) return NOT_RESPONSIBLE;
    const audience = config.audience ?? [route.service, deps.issuer];
    try {
      const options = {
        audience,
        typ: ACCESS_TOKEN_TYP,
        maxLifetimeSeconds: deps.maxTokenLifetime,
        clockSkewSeconds: deps.clockSkew,
        clock: deps.clock,
      };
      const { payload } = remote
        ? await verifyJwtWithRemote(token, await remote.keys(), {
            ...options,
            issuer: await remote.issuer(),
          })
        : // The signature off the event loop (an ES256 verify would hold it ~80 µs), batched.
          await verifyJwtAsync(token, deps.keys(), { ...options, issuer: deps.issuer }, deps.signatures);
      if (!remote && (await deps.revocations.isTokenRevoked(payload as RevocableJwt, route.revocation))) {
        return rejected('revoked', 'the access token has been revoked');
      }
      // A verified payload's iss is the issuer it was checked against (this one or the remote).
      const identity = identityOfClaims('jwt', payload, String(payload.iss));
      if (typeof payload.exp === 'number') verified.set(header as string, identity, payload.exp);
      return { status: 'accepted', identity };
    } catch (err) {
      if (!(err instanceof JwtError)) {
        if (remote) return rejected('issuer_unavailable', 'the token issuer cannot be reached');
        throw err;
      }
      return rejected(REJECTION_OF[err.code] ?? 'malformed', err.message);
    }
  }
}

/**
 * Tokens that passed every check, found by the exact Authorization value that carried them (a
 * token is its own canonical form: any other spelling verifies afresh), kept until `exp` at
 * most, bounded, oldest out first. Only signature and claims are remembered; revocation is
 * checked on every use.
 *
 * The map is keyed on the value's last {@link KEY_CHARS} characters (the end of the signature)
 * and each entry holds the whole value, which a hit must equal: a Map hashes its key on every
 * lookup, and hashing the whole ~600-byte header (a new string each request) was the largest
 * single cost of a cache hit, where comparing two equal strings is one memcmp. Two tokens
 * sharing a tail only share a slot; a value that is not the entry's is a miss, and is verified.
 */
class VerifiedTokens {
  readonly #entries = new Map<string, { header: string; identity: Identity; exp: number }>();

  get(header: string, now: number): Identity | undefined {
    const key = slotOf(header);
    const entry = this.#entries.get(key);
    if (!entry || entry.header !== header) return undefined;
    if (entry.exp <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.identity;
  }

  set(header: string, identity: Identity, exp: number): void {
    makeRoom(this.#entries, VERIFIED_CACHE_ENTRIES);
    this.#entries.set(slotOf(header), { header, identity, exp });
  }

  delete(header: string): void {
    const key = slotOf(header);
    if (this.#entries.get(key)?.header === header) this.#entries.delete(key);
  }
}

/** How much of the Authorization value's end keys the verified-token cache (192 bits of a signature). */
const KEY_CHARS = 32;

function slotOf(header: string): string {
  return header.length > KEY_CHARS ? header.slice(-KEY_CHARS) : header;
}

const VERIFIED_CACHE_ENTRIES = 10_000;

/** Another OIDC issuer: its discovery document is read once, then its JWKS kept fresh. */
function remoteIssuer(discoveryUrl: string, deps: AuthenticatorDeps) {
  let found: Promise<{ issuer: string; keys: RemoteKeySet }> | undefined;
  const discover = () => {
    found ??= (async () => {
      const url = discoveryUrl.includes('/.well-known/')
        ? discoveryUrl
        : `${discoveryUrl.replace(/\/$/, '')}/.well-known/openid-configuration`;
      const res = await (deps.fetch ?? fetch)(url, { signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`discovery answered ${res.status}`);
      const meta = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
      if (typeof meta.issuer !== 'string' || typeof meta.jwks_uri !== 'string') {
        throw new Error('discovery document without issuer or jwks_uri');
      }
      return {
        issuer: meta.issuer,
        keys: new RemoteKeySet({
          jwksUri: meta.jwks_uri,
          clock: deps.clock,
          ...(deps.fetch && { fetch: deps.fetch }),
        }),
      };
    })();
    // A failed discovery is retried on the next request instead of being remembered.
    found.catch(() => {
      found = undefined;
    });
    return found;
  };
  return {
    issuer: async () => (await discover()).issuer,
    keys: async () => (await discover()).keys,
  };
}

/** `sk_<id>.<secret>` in `Authorization: Bearer` or `X-API-Key`, checked against the key store. */
export function apiKeyAuthenticator(deps: AuthenticatorDeps) {
  return {
    kind: 'api_key' as const,
    async authenticate(headers: IncomingHttpHeaders): Promise<AuthOutcome> {
      const header = headers['x-api-key'];
      const presented = typeof header === 'string' ? header : bearerToken(headers);
      if (presented === undefined || !presented.startsWith('sk_')) return NOT_RESPONSIBLE;
      const valid = await deps.apiKeys.verify(presented);
      if (!valid) return rejected('inactive', 'the API key is not valid');
      const { key } = valid;
      return {
        status: 'accepted',
        identity: {
          credential: 'api_key',
          issuer: deps.issuer,
          sub: `apikey:${key.id}`,
          clientId: key.owner,
          scopes: key.scopes,
          roles: [],
          claims: { sub: `apikey:${key.id}`, client_id: key.owner },
          apiKeyId: key.id,
        },
      };
    },
  } satisfies Authenticator;
}

/**
 * Opaque reference tokens (the phantom-token pattern): this Gatehouse's own, checked as its
 * introspection would, or another IdP's through its RFC 7662 endpoint. Positive answers from an
 * IdP are cached until the token's exp within `cache_seconds`; the cache holds the token's whole
 * answer (scopes included) and the route's authorizer checks it on every request, so a cached
 * token never passes a route whose required scopes it lacks.
 */
export function opaqueAuthenticator(
  config: Extract<AuthenticatorConfig, { kind: 'opaque' }>,
  deps: AuthenticatorDeps,
) {
  const remote = config.introspection;
  const cache = new Map<string, { identity: Identity; until: number }>();
  const secret = remote ? process.env[remote.client_secret_env] : undefined;
  if (remote && !secret) {
    throw new Error(`opaque authenticator: environment variable ${remote.client_secret_env} is not set`);
  }
  return {
    kind: 'opaque' as const,
    async authenticate(headers: IncomingHttpHeaders, route: RouteAuthContext): Promise<AuthOutcome> {
      const token = bearerToken(headers);
      if (token === undefined || JWT_SHAPE.test(token) || token.startsWith('sk_')) return NOT_RESPONSIBLE;
      if (!remote) {
        if (!token.startsWith('gatehouse_at_')) return NOT_RESPONSIBLE;
        const live = await deps.active.check(token, route.revocation);
        if (!live) return rejected('inactive', 'the access token is not active');
        return {
          status: 'accepted',
          identity: identityOfClaims('opaque', live.claims as unknown as JwtPayload, deps.issuer),
        };
      }
      const now = deps.clock.nowMs() / 1000;
      const hit = cache.get(token);
      if (hit && hit.until > now) return { status: 'accepted', identity: hit.identity };
      let answer: Record<string, unknown>;
      try {
        const res = await (deps.fetch ?? fetch)(remote.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            authorization: `Basic ${Buffer.from(`${encodeURIComponent(remote.client_id)}:${encodeURIComponent(secret as string)}`).toString('base64')}`,
          },
          body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
          signal: AbortSignal.timeout(5000),
        });
        if (!res.ok) return rejected('issuer_unavailable', 'the token issuer cannot be asked');
        answer = (await res.json()) as Record<string, unknown>;
      } catch {
        return rejected('issuer_unavailable', 'the token issuer cannot be reached');
      }
      if (answer.active !== true) return rejected('inactive', 'the access token is not active');
      if (typeof answer.exp === 'number' && answer.exp <= now)
        return rejected('expired', 'the access token has expired');
      const identity = identityOfClaims(
        'opaque',
        answer as JwtPayload,
        typeof answer.iss === 'string' ? answer.iss : `introspection:${remote.url}`,
      );
      const until = Math.min(typeof answer.exp === 'number' ? answer.exp : now, now + remote.cache_seconds);
      if (until > now) {
        makeRoom(cache, VERIFIED_CACHE_ENTRIES);
        cache.set(token, { identity, until });
      }
      return { status: 'accepted', identity };
    },
  } satisfies Authenticator;
}

/** Accepts a request that carries no credential at all; a bad credential is never downgraded. */
export const anonymousAuthenticator = {
  kind: 'anonymous' as const,
  async authenticate(headers: IncomingHttpHeaders): Promise<AuthOutcome> {
    if (hasCredentials(headers)) return NOT_RESPONSIBLE;
    return {
      status: 'accepted',
      identity: {
        credential: 'anonymous',
        sub: 'anonymous',
        clientId: undefined,
        scopes: [],
        roles: [],
        claims: {},
      },
    };
  },
} satisfies Authenticator;

/** Builds a route's authenticator chain from its config. */
export function buildAuthenticators(
  configs: readonly AuthenticatorConfig[],
  deps: AuthenticatorDeps,
): Authenticator[] {
  return configs.map((config) => {
    switch (config.kind) {
      case 'jwt':
        return jwtAuthenticator(config, deps);
      case 'api_key':
        return apiKeyAuthenticator(deps);
      case 'opaque':
        return opaqueAuthenticator(config, deps);
      default:
        return anonymousAuthenticator;
    }
  });
}

/**
 * Runs a chain: the first authenticator that accepts wins. When none does, the answer is the
 * first refusal (a credential was sent and is bad) or, when nobody was responsible, "no
 * credentials" (RFC 6750 §3.1: then the challenge carries no error code).
 */
export function authenticate(
  chain: readonly Authenticator[],
  headers: IncomingHttpHeaders,
  route: RouteAuthContext,
): MaybePromise<AuthOutcome> {
  let refusal: AuthOutcome | undefined;
  for (let i = 0; i < chain.length; i++) {
    const outcome = (chain[i] as Authenticator).authenticate(headers, route);
    if (outcome instanceof Promise) return finishChain(chain, i, outcome, refusal, headers, route);
    if (outcome.status === 'accepted') return outcome;
    if (outcome.status === 'rejected') refusal ??= outcome;
  }
  return noneAccepted(refusal, headers);
}

/** The rest of a chain once one authenticator has to wait (from `index`, whose answer is `pending`). */
async function finishChain(
  chain: readonly Authenticator[],
  index: number,
  pending: Promise<AuthOutcome>,
  refusal: AuthOutcome | undefined,
  headers: IncomingHttpHeaders,
  route: RouteAuthContext,
): Promise<AuthOutcome> {
  let first = refusal;
  for (let i = index; i < chain.length; i++) {
    const outcome =
      i === index ? await pending : await (chain[i] as Authenticator).authenticate(headers, route);
    if (outcome.status === 'accepted') return outcome;
    if (outcome.status === 'rejected') first ??= outcome;
  }
  return noneAccepted(first, headers);
}

function noneAccepted(refusal: AuthOutcome | undefined, headers: IncomingHttpHeaders): AuthOutcome {
  // A credential nobody could even read (`alg: none` with no signature, a stray scheme) is a bad
  // credential, not a missing one.
  if (!refusal && hasCredentials(headers)) {
    return rejected('malformed', 'the credential is not one this route accepts');
  }
  return refusal ?? NOT_RESPONSIBLE;
}
