import { bearerChallenge, GatehouseError } from '@gatehouse/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ActiveTokens } from '../issuer/active-tokens.js';

/** A refused bearer credential; carries the `WWW-Authenticate` challenge to send. */
export class BearerAuthError extends GatehouseError {
  readonly challenge: string;
  constructor(status: 400 | 401 | 403, detail: string, challenge: string) {
    super(
      status === 400 ? 'ERR_REQUEST_INVALID' : status === 401 ? 'ERR_AUTH_REQUIRED' : 'ERR_FORBIDDEN',
      detail,
      { status },
    );
    this.challenge = challenge;
  }
}

/** Makes a plugin answer its bearer refusals with their `WWW-Authenticate` challenge. */
export function sendBearerChallenges(app: FastifyInstance): void {
  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof BearerAuthError) reply.header('www-authenticate', error.challenge);
    throw error;
  });
}

/**
 * Authenticates a Gatehouse access token sent as `Authorization: Bearer` and requires one of
 * `scopes`, held by both the token and (still) its client; returns the client's id.
 */
export async function requireBearerScope(
  request: FastifyRequest,
  deps: { active: ActiveTokens; issuer: string },
  scopes: readonly string[],
  realm: string,
): Promise<string> {
  const header = request.headers.authorization;
  if (header === undefined) {
    throw new BearerAuthError(401, 'a bearer access token is required', bearerChallenge({ realm }));
  }
  const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  if (!match?.[1]) {
    // RFC 6750 §3.1: a malformed request is invalid_request, answered 400.
    throw new BearerAuthError(
      400,
      'the Authorization header must be "Bearer <token>"',
      bearerChallenge({ realm, error: 'invalid_request', description: 'malformed Authorization header' }),
    );
  }
  const live = await deps.active.check(match[1]);
  if (!live) {
    throw new BearerAuthError(
      401,
      'the access token is invalid, expired or revoked',
      bearerChallenge({ realm, error: 'invalid_token', description: 'the access token is invalid' }),
    );
  }
  const audiences = Array.isArray(live.claims.aud) ? live.claims.aud : [live.claims.aud];
  if (!audiences.includes(deps.issuer)) {
    throw new BearerAuthError(
      401,
      'the access token is not meant for this issuer',
      bearerChallenge({ realm, error: 'invalid_token', description: 'wrong audience' }),
    );
  }
  // Both the token and its client must still carry the scope: removing it from the client ends access at once.
  const held = (live.claims.scope ?? '').split(' ');
  if (!scopes.some((s) => held.includes(s) && live.client.scopes.includes(s))) {
    const needed = scopes.join(' ');
    throw new BearerAuthError(
      403,
      `the access token lacks scope ${scopes.join(' or ')}`,
      bearerChallenge({ realm, error: 'insufficient_scope', description: 'scope required', scope: needed }),
    );
  }
  return live.client.id;
}
