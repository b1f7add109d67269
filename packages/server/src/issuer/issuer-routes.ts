import { type ClientRecord, TOKEN_EXCHANGE_GRANT } from '@gatehouse/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeys } from '../api-keys/api-keys.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ClientRegistry } from '../clients/client-registry.js';
import { FormBody } from '../http/form-body.js';
import { OAuthError } from '../http/oauth-error.js';
import type { KeyManager } from '../keys/key-manager.js';
import type { Metrics } from '../observability/metrics.js';
import type { AccessTokens } from './access-tokens.js';
import type { ActiveTokens } from './active-tokens.js';
import { authenticateClient } from './client-auth.js';
import { REFRESH_PREFIX } from '../sessions/refresh-families.js';
import type { UserSessions } from '../sessions/user-sessions.js';
import { grantedAudience, grantedScopes } from './client-credentials-grant.js';
import type { IssuedToken } from './access-tokens.js';
import { type IssueRequest, type TokenIssuance, tokenResponse, tokenResponseSchema } from './issuance.js';
import { refreshTokenGrant } from './refresh-token-grant.js';
import { ACCESS_TOKEN_TYPE, type TokenExchangeOptions, tokenExchangeGrant } from './token-exchange-grant.js';
import { authorizationServerMetadata } from './metadata.js';
import type { Revocations } from './revocations.js';

export interface IssuerDeps {
  issuer: string;
  clients: ClientRegistry;
  keys: KeyManager;
  tokens: AccessTokens;
  active: ActiveTokens;
  revocations: Revocations;
  metrics: Metrics;
  audit: AuditLog;
  apiKeys: ApiKeys;
  issuance: TokenIssuance;
  sessions: UserSessions;
  exchange: TokenExchangeOptions;
}

/**
 * Scope that lets a client (a resource server) introspect tokens issued to other clients.
 * Without it a client may introspect only its own tokens (RFC 7662 §4: limit who may ask).
 */
export const INTROSPECT_SCOPE = 'gatehouse:introspect';

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

/** Where services read the revocation log (see the Node SDK's RevocationFeed). */
export const REVOCATION_FEED_PATH = '/oauth2/revocation-feed';
const FEED_PAGE = 1000;

/** The form body, or `invalid_request` when the request was not form-encoded. */
function formOf(request: FastifyRequest, repeatable: readonly string[] = ['resource']): FormBody {
  if (request.body instanceof FormBody) {
    request.body.assertNoRepeats(repeatable);
    return request.body;
  }
  throw new OAuthError('invalid_request', 'the body must be application/x-www-form-urlencoded');
}

/**
 * The token service's public endpoints: metadata, JWKS, token, introspection, revocation.
 * Handlers read in protocol order: parse → authenticate the client → check the grant → answer.
 */
export async function issuerRoutes(app: FastifyInstance, deps: IssuerDeps): Promise<void> {
  const metadata = JSON.stringify(authorizationServerMetadata(deps.issuer));

  const sendMetadata = (_request: FastifyRequest, reply: FastifyReply) =>
    reply
      .header('content-type', 'application/json')
      .header('cache-control', 'public, max-age=300')
      .send(metadata);
  app.get('/.well-known/oauth-authorization-server', sendMetadata);
  app.get('/.well-known/openid-configuration', sendMetadata);

  app.get('/.well-known/jwks.json', (_request, reply) =>
    reply
      .header('content-type', 'application/jwk-set+json')
      .header('cache-control', 'public, max-age=300')
      .send(deps.keys.jwksJson()),
  );

  app.post(
    '/oauth2/token',
    { schema: { response: { 200: tokenResponseSchema } } },
    async (request, reply) => {
      const body = formOf(request, ['resource', 'audience']);
      const grantType = body.require('grant_type');
      const client =
        grantType === 'refresh_token' && isLoginClient(request, body, deps.sessions.client.id)
          ? deps.sessions.client
          : (await authenticate(request, body, deps)).client;
      let response: Record<string, unknown>;
      switch (grantType) {
        case 'client_credentials':
          response = tokenResponse(await deps.issuance.issue(clientCredentials(body, client, deps.issuer)));
          break;
        case 'refresh_token':
          response = await refreshTokenGrant(body, client, deps.sessions, deps.audit);
          break;
        case TOKEN_EXCHANGE_GRANT:
          response = tokenResponse(await exchange(body, client, deps), {
            issued_token_type: ACCESS_TOKEN_TYPE,
          });
          break;
        default:
          throw new OAuthError(
            'unsupported_grant_type',
            `this grant_type is not supported; use one of ${GRANT_TYPES.join(', ')}`,
          );
      }
      return reply.headers(NO_STORE).send(response);
    },
  );

  app.post('/oauth2/introspect', async (request, reply) => {
    const body = formOf(request);
    const { client: caller } = await authenticate(request, body, deps);
    const token = body.require('token');
    if (token.startsWith('sk_'))
      return reply.headers(NO_STORE).send(await introspectApiKey(token, caller, deps));
    const live = await deps.active.check(token);
    const allowed =
      live !== undefined && (live.client.id === caller.id || caller.scopes.includes(INTROSPECT_SCOPE));
    deps.metrics.introspections.inc({ active: String(allowed) });
    reply.headers(NO_STORE);
    if (!allowed || !live) return { active: false };
    return { active: true, token_type: 'Bearer', ...live.claims };
  });

  // The revocation log past `after`, for services (the Node SDK) that hold their own copy of the
  // fabric's state; the same callers as introspection, authenticated the same way.
  app.post(REVOCATION_FEED_PATH, async (request, reply) => {
    const body = formOf(request);
    const { client } = await authenticate(request, body, deps);
    if (!client.scopes.includes(INTROSPECT_SCOPE)) {
      throw new OAuthError(
        'insufficient_scope',
        `reading the revocation feed needs the ${INTROSPECT_SCOPE} scope`,
        {
          status: 403,
        },
      );
    }
    const raw = body.get('after') ?? '0';
    if (!/^\d{1,15}$/.test(raw)) throw new OAuthError('invalid_request', 'after must be a sequence number');
    const page = await deps.revocations.page(Number(raw), FEED_PAGE);
    reply.headers(NO_STORE);
    return {
      records: page.records.map((r) => ({
        seq: r.seq,
        kind: r.kind,
        value: r.value,
        not_before: r.notBefore,
        exp: r.exp,
      })),
      next: page.next,
      more: page.more,
    };
  });

  app.post('/oauth2/revoke', async (request, reply) => {
    const body = formOf(request);
    const client = isLoginClient(request, body, deps.sessions.client.id)
      ? deps.sessions.client
      : (await authenticate(request, body, deps)).client;
    const token = body.require('token');
    // RFC 7009 §2.2: unknown or foreign tokens still get 200, so revocation is no token oracle.
    let outcome = 'unknown';
    if (token.startsWith(REFRESH_PREFIX)) {
      // RFC 7009 §2.1: revoking a refresh token ends its whole family and the tokens minted from it.
      const family = await deps.sessions.familyOf(token);
      if (family && family.clientId === client.id) {
        await deps.sessions.logout(token);
        outcome = 'revoked';
      } else if (family) {
        outcome = 'not_owner';
      }
    } else {
      const claims = await deps.tokens.read(token);
      if (claims && claims.client_id === client.id) {
        await deps.revocations.revoke(claims.jti, claims.exp);
        await deps.audit.record({
          actor: `client:${client.id}`,
          action: 'token.revoked',
          target: claims.jti,
        });
        outcome = 'revoked';
        request.log.info({ client_id: client.id, jti: claims.jti }, 'token revoked');
      } else if (claims) {
        outcome = 'not_owner';
      }
    }
    deps.metrics.revocations.inc({ outcome });
    return reply.headers(NO_STORE).send();
  });
}

/** The grants the token endpoint serves, in the order metadata lists them. */
export const GRANT_TYPES = ['client_credentials', 'refresh_token', TOKEN_EXCHANGE_GRANT] as const;

/** RFC 6749 §4.4: the client acts for itself. */
function clientCredentials(body: FormBody, client: ClientRecord, issuer: string): IssueRequest {
  if (!client.grantTypes.includes('client_credentials')) {
    throw new OAuthError('unauthorized_client', 'the client may not use the client_credentials grant');
  }
  return {
    client,
    sub: client.id,
    scope: grantedScopes(body, client),
    audience: grantedAudience(body, client, issuer),
    grantType: 'client_credentials',
    actor: `client:${client.id}`,
  };
}

/** RFC 8693, with refusals audited: a denied delegation is a security-relevant act too. */
async function exchange(body: FormBody, client: ClientRecord, deps: IssuerDeps): Promise<IssuedToken> {
  try {
    return await deps.issuance.issue(await tokenExchangeGrant(body, client, deps.active, deps.exchange));
  } catch (err) {
    if (err instanceof OAuthError) {
      await deps.audit.record({
        actor: `client:${client.id}`,
        action: 'token.exchange_refused',
        outcome: 'failure',
        details: { error: err.error, reason: err.message },
      });
    }
    throw err;
  }
}

/**
 * The first-party login client is public (RFC 6749 §2.1): a native app refreshes and revokes with
 * its client_id alone, and only when no credentials are sent at all.
 */
function isLoginClient(request: FastifyRequest, body: FormBody, loginClientId: string) {
  return (
    request.headers.authorization === undefined &&
    body.get('client_secret') === undefined &&
    body.get('client_id') === loginClientId
  );
}

async function authenticate(request: FastifyRequest, body: FormBody, deps: IssuerDeps) {
  try {
    return await authenticateClient(request.headers.authorization, body, deps.clients);
  } catch (err) {
    if (err instanceof OAuthError && err.error === 'invalid_client') {
      const method = /^basic /i.test(request.headers.authorization ?? '')
        ? 'client_secret_basic'
        : 'client_secret_post';
      deps.metrics.clientAuthFailures.inc({ method });
      await deps.audit.record({
        actor: 'anonymous',
        action: 'client.auth_failed',
        outcome: 'failure',
        details: { method, endpoint: request.routeOptions.url ?? '' },
      });
    }
    throw err;
  }
}

/** RFC 7662 answer for an API key: its owner acts as the client; other callers need the introspect scope. */
async function introspectApiKey(
  token: string,
  caller: ClientRecord,
  deps: IssuerDeps,
): Promise<Record<string, unknown>> {
  const valid = await deps.apiKeys.verify(token);
  const allowed =
    valid !== undefined && (valid.key.owner === caller.id || caller.scopes.includes(INTROSPECT_SCOPE));
  deps.metrics.introspections.inc({ active: String(allowed) });
  if (!allowed || !valid) return { active: false };
  const { key, validUntil } = valid;
  return {
    active: true,
    token_type: 'api_key',
    iss: deps.issuer,
    sub: `apikey:${key.id}`,
    client_id: key.owner,
    jti: key.id,
    iat: key.createdAt,
    ...(validUntil !== null && { exp: validUntil }),
    ...(key.scopes.length > 0 && { scope: key.scopes.join(' ') }),
  };
}
