import { type ClientRecord, TOKEN_EXCHANGE_GRANT } from '@gatehouse/core';
import type { FormBody } from '../http/form-body.js';
import { OAuthError } from '../http/oauth-error.js';
import type { ActorClaim } from './access-tokens.js';
import type { ActiveToken, ActiveTokens } from './active-tokens.js';
import { parseScope } from './client-credentials-grant.js';
import type { IssueRequest } from './issuance.js';

/** RFC 8693 §3 token type identifiers we accept as subject and actor tokens. */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const INPUT_TOKEN_TYPES = new Set([ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE]);

export interface TokenExchangeOptions {
  /** Longest lifetime of an exchanged token, seconds. */
  maxLifetime: number;
  /** Most actors an `act` claim may nest. */
  maxDepth: number;
}

/**
 * RFC 8693 token exchange as governed delegation: the authenticated client (the actor) trades a
 * user's access token (the subject) for a token addressed to a downstream service. Checks read in
 * order: the client may exchange → token types → the subject token is live and was sent to this
 * actor → the actor token, if any, is the client's own → delegation depth → audience → scope.
 * Issued scope = requested ∩ subject's ∩ what the actor may delegate; lifetime ≤ min(subject's
 * remaining, maxLifetime). Errors are RFC 8693 §2.2.2's: `invalid_request` for a bad or
 * unacceptable token, `invalid_target` for an audience, `invalid_scope` for a scope.
 */
export async function tokenExchangeGrant(
  body: FormBody,
  client: ClientRecord,
  active: ActiveTokens,
  options: TokenExchangeOptions,
): Promise<IssueRequest> {
  const rule = client.mayAct;
  if (!client.grantTypes.includes(TOKEN_EXCHANGE_GRANT) || rule === null) {
    throw new OAuthError('unauthorized_client', 'the client may not exchange tokens (no may_act rule)');
  }
  const requestedType = body.get('requested_token_type');
  if (requestedType !== undefined && requestedType !== ACCESS_TOKEN_TYPE) {
    throw new OAuthError('invalid_request', 'only access tokens can be requested');
  }
  const subjectToken = body.require('subject_token');
  assertTokenType(body.require('subject_token_type'), 'subject_token_type');
  const actorToken = body.get('actor_token');
  const actorType = body.get('actor_token_type');
  if ((actorToken === undefined) !== (actorType === undefined)) {
    throw new OAuthError('invalid_request', 'actor_token and actor_token_type go together');
  }

  // A service may exchange the internal token the gateway sent it (aud = the service's name):
  // that is how a user's identity travels on past the first hop.
  const subject = await active.check(subjectToken, 'fail_closed', { acceptInternal: true });
  if (!subject)
    throw new OAuthError('invalid_request', 'subject_token is not an active token of this issuer');
  if ((subject.claims as { src_iss?: unknown }).src_iss !== undefined) {
    throw new OAuthError('invalid_request', "subject_token vouches for another identity provider's user");
  }
  const subjectAud = audiencesOf(subject);
  if (!subjectAud.some((aud) => rule.subjectAudiences.includes(aud))) {
    throw new OAuthError('invalid_request', 'subject_token was not addressed to this client (may_act)');
  }

  let actor: ActorClaim = { sub: client.id, client_id: client.id };
  if (actorToken !== undefined) {
    assertTokenType(actorType as string, 'actor_token_type');
    const presented = await active.check(actorToken);
    if (!presented)
      throw new OAuthError('invalid_request', 'actor_token is not an active token of this issuer');
    // The client's own token (client_credentials: sub = client_id, no act): a token the client
    // got by exchange names a user, and would let it claim that user as the actor.
    const own = presented.claims;
    if (own.client_id !== client.id || own.sub !== client.id || own.act !== undefined) {
      throw new OAuthError('invalid_request', "actor_token must be the authenticated client's own token");
    }
    actor = { sub: own.sub, client_id: client.id };
  }
  const prior = subject.claims.act;
  if (depthOf(prior) + 1 > options.maxDepth) {
    throw new OAuthError('invalid_request', `the delegation chain would exceed ${options.maxDepth} actors`);
  }
  if (prior) actor.act = prior;

  const audience = exchangeAudience(body, client);
  const scope = delegatedScope(body, subject, rule.scopes);
  return {
    client,
    sub: subject.claims.sub,
    scope,
    audience,
    ttl: options.maxLifetime,
    notAfter: subject.claims.exp,
    extra: {
      act: actor,
      ...(subject.claims.sid !== undefined && { sid: subject.claims.sid }),
      ...(subject.claims.roles !== undefined && { roles: subject.claims.roles }),
      ...(subject.claims.groups !== undefined && { groups: subject.claims.groups }),
    },
    grantType: TOKEN_EXCHANGE_GRANT,
    actor: `client:${client.id}`,
    details: { subject_jti: subject.claims.jti, subject_client_id: subject.client.id, actor: actor.sub },
  };
}

function assertTokenType(type: string, name: string): void {
  if (!INPUT_TOKEN_TYPES.has(type)) {
    throw new OAuthError('invalid_request', `${name} must be ${ACCESS_TOKEN_TYPE} or ${JWT_TOKEN_TYPE}`);
  }
}

function audiencesOf(token: ActiveToken): string[] {
  const { aud } = token.claims;
  return typeof aud === 'string' ? [aud] : aud;
}

function depthOf(act: ActorClaim | undefined): number {
  let depth = 0;
  for (let a = act; a; a = a.act) depth++;
  return depth;
}

/** `audience` and `resource` together; each must be one of the client's `resources` (absolute URIs). */
function exchangeAudience(body: FormBody, client: ClientRecord): string[] {
  const targets = [...body.getAll('audience'), ...body.getAll('resource')];
  if (targets.length === 0) {
    throw new OAuthError('invalid_target', 'name the service the new token is for (audience or resource)');
  }
  const allowed = new Set(client.resources);
  for (const target of targets) {
    if (!allowed.has(target))
      throw new OAuthError('invalid_target', 'the requested audience is not allowed for this client');
  }
  return [...new Set(targets)];
}

/** requested ∩ subject's ∩ delegable, refusing (not silently dropping) anything wider. */
function delegatedScope(body: FormBody, subject: ActiveToken, delegable: readonly string[]): string[] {
  const subjectScopes = new Set(subject.claims.scope?.split(' ') ?? []);
  const permitted = delegable.filter((s) => subjectScopes.has(s));
  const requested = body.get('scope');
  if (requested === undefined) {
    if (permitted.length === 0)
      throw new OAuthError('invalid_scope', 'nothing in the subject token may be delegated');
    return permitted;
  }
  const parts = parseScope(requested);
  const denied = parts.find((p) => !permitted.includes(p));
  if (denied !== undefined) {
    throw new OAuthError(
      'invalid_scope',
      `scope ${denied} is not in the subject token or may not be delegated`,
    );
  }
  return parts;
}
