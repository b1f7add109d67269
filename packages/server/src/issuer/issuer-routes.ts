import type { ClientRecord } from '@gatehouse/core';
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
import { grantedAudience, grantedScopes } from './client-credentials-grant.js';
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
}

/**
 * Scope that lets a client (a resource server) introspect tokens issued to other clients.
 * Without it a client may introspect only its own tokens (RFC 7662 §4: limit who may ask).
 */
export const INTROSPECT_SCOPE = 'gatehouse:introspect';

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

/** RFC 6749 §5.1 success body; a schema lets Fastify serialize it without generic JSON.stringify. */
const tokenResponseSchema = {
  type: 'object',
  properties: {
    access_token: { type: 'string' },
    token_type: { type: 'string' },
    expires_in: { type: 'integer' },
    scope: { type: 'string' },
  },
  required: ['access_token', 'token_type', 'expires_in'],
} as const;

/** The form body, or `invalid_request` when the request was not form-encoded. */
function formOf(request: FastifyRequest): FormBody {
  if (request.body instanceof FormBody) {
    request.body.assertNoRepeats();
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
      const body = formOf(request);
      const grantType = body.require('grant_type');
      const { client } = await authenticate(request, body, deps);
      if (grantType !== 'client_credentials') {
        throw new OAuthError(
          'unsupported_grant_type',
          'this grant_type is not supported; use client_credentials',
        );
      }
      if (!client.grantTypes.includes('client_credentials')) {
        throw new OAuthError('unauthorized_client', 'the client may not use the client_credentials grant');
      }
      const scope = grantedScopes(body, client);
      const audience = grantedAudience(body, client, deps.issuer);
      const issued = await deps.tokens.issue({ client, sub: client.id, scope, audience });
      // Durable before the token leaves: an issued token always has its audit entry.
      await deps.audit.record({
        actor: `client:${client.id}`,
        action: 'token.issued',
        target: issued.claims.jti,
        details: {
          grant_type: 'client_credentials',
          scope: issued.claims.scope ?? '',
          aud: audience,
          format: issued.format,
        },
      });
      deps.metrics.tokensIssued.inc({ grant_type: 'client_credentials' });
      // debug, not info: at thousands of tokens a second a line each would be the log's bulk.
      request.log.debug(
        { client_id: client.id, jti: issued.claims.jti, format: issued.format },
        'access token issued',
      );
      const response: Record<string, unknown> = {
        access_token: issued.token,
        token_type: 'Bearer',
        expires_in: issued.expiresIn,
      };
      if (issued.claims.scope) response.scope = issued.claims.scope;
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

  app.post('/oauth2/revoke', async (request, reply) => {
    const body = formOf(request);
    const { client } = await authenticate(request, body, deps);
    const token = body.require('token');
    const claims = await deps.tokens.read(token);
    // RFC 7009 §2.2: unknown or foreign tokens still get 200, so revocation is no token oracle.
    let outcome = 'unknown';
    if (claims && claims.client_id === client.id) {
      await deps.revocations.revoke(claims.jti, claims.exp);
      await deps.audit.record({ actor: `client:${client.id}`, action: 'token.revoked', target: claims.jti });
      outcome = 'revoked';
      request.log.info({ client_id: client.id, jti: claims.jti }, 'token revoked');
    } else if (claims) {
      outcome = 'not_owner';
    }
    deps.metrics.revocations.inc({ outcome });
    return reply.headers(NO_STORE).send();
  });
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
