import type { ClientRecord } from '@gatehouse/core';
import type { AuditLog } from '../audit/audit-log.js';
import type { FormBody } from '../http/form-body.js';
import { OAuthError } from '../http/oauth-error.js';
import type { RefreshRefusal, UserSessions } from '../sessions/user-sessions.js';
import { parseScope } from './client-credentials-grant.js';
import { tokenResponse } from './issuance.js';

const REFUSALS: Record<Exclude<RefreshRefusal, 'invalid_scope'>, string> = {
  unknown: 'the refresh token is not valid',
  wrong_binding:
    'the refresh token was not issued to this client, or belongs to a browser session (refreshed at /auth/refresh)',
  // Not reached here (the token endpoint sends no CSRF token); listed so every refusal has words.
  csrf: 'the refresh token belongs to a browser session',
  revoked: 'the refresh token has been revoked',
  expired: 'the refresh token has expired',
  reused: 'the refresh token was already used; its whole family has been revoked',
};

/**
 * RFC 6749 §6 refresh at the token endpoint, on the same family machinery as the browser's
 * /auth/refresh: rotation on every use (the new refresh token is in the answer), reuse detection,
 * the grace window for parallel requests. `scope` may narrow, never widen (`invalid_scope`,
 * checked before anything rotates).
 */
export async function refreshTokenGrant(
  body: FormBody,
  client: ClientRecord,
  sessions: UserSessions,
  audit: AuditLog,
): Promise<Record<string, unknown>> {
  const presented = body.require('refresh_token');
  const scope = body.get('scope');
  const result = await sessions.refresh(
    presented,
    { clientId: client.id },
    'refresh_token',
    scope === undefined ? undefined : parseScope(scope),
  );
  if ('refused' in result) {
    if (result.refused !== 'reused') {
      await audit.record({
        actor: `client:${client.id}`,
        action: 'refresh.refused',
        outcome: 'failure',
        details: { reason: result.refused },
      });
    }
    if (result.refused === 'invalid_scope') {
      throw new OAuthError('invalid_scope', 'scope must not exceed what the refresh token was granted');
    }
    throw new OAuthError('invalid_grant', REFUSALS[result.refused]);
  }
  return tokenResponse(result.issued, { refresh_token: result.refreshToken });
}
