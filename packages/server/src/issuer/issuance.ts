import type { Bus } from '@gatehouse/core';
import type { AuditLog } from '../audit/audit-log.js';
import type { Metrics } from '../observability/metrics.js';
import type { AccessTokens, IssuedToken, IssueInput } from './access-tokens.js';

/** Published for every access token minted, whatever the grant. */
export const TOKEN_ISSUED_TOPIC = 'token.issued';

/** What a grant asks to mint, and how to describe it in the audit log. */
export interface IssueRequest extends IssueInput {
  /** Grant type, the metric label and the audit detail (a closed set: the supported grants). */
  grantType: string;
  /** Who acted, as the audit log spells it (`client:<id>`, `user:<id>`). */
  actor: string;
  /** Further audit details: ids and reasons only, never a token or secret. */
  details?: Record<string, unknown>;
}

/**
 * The one way a token leaves the issuer: minted, then its audit entry made durable, then counted
 * and announced. Every grant and the browser login go through here, so none can forget a step.
 */
export class TokenIssuance {
  readonly #tokens: AccessTokens;
  readonly #audit: AuditLog;
  readonly #metrics: Metrics;
  readonly #bus: Bus;

  constructor(deps: { tokens: AccessTokens; audit: AuditLog; metrics: Metrics; bus: Bus }) {
    this.#tokens = deps.tokens;
    this.#audit = deps.audit;
    this.#metrics = deps.metrics;
    this.#bus = deps.bus;
  }

  async issue(request: IssueRequest): Promise<IssuedToken> {
    const issued = await this.#tokens.issue(request);
    const { claims } = issued;
    // Durable before the token leaves: an issued token always has its audit entry.
    await this.#audit.record({
      actor: request.actor,
      action: 'token.issued',
      target: claims.jti,
      details: {
        grant_type: request.grantType,
        client_id: claims.client_id,
        sub: claims.sub,
        scope: claims.scope ?? '',
        aud: request.audience,
        format: issued.format,
        ...request.details,
      },
    });
    this.#metrics.tokensIssued.inc({ grant_type: request.grantType });
    // Not awaited: the bus is an accelerator, and a slow broker must not slow the token endpoint.
    this.#bus
      .publish(TOKEN_ISSUED_TOPIC, {
        jti: claims.jti,
        sub: claims.sub,
        client_id: claims.client_id,
        grant_type: request.grantType,
        exp: claims.exp,
        ...(claims.sid !== undefined && { sid: claims.sid }),
      })
      .catch(() => undefined);
    return issued;
  }
}

/** JSON schema of {@link tokenResponse}: lets Fastify serialize it without generic JSON.stringify. */
export const tokenResponseSchema = {
  type: 'object',
  properties: {
    access_token: { type: 'string' },
    token_type: { type: 'string' },
    expires_in: { type: 'integer' },
    scope: { type: 'string' },
    refresh_token: { type: 'string' },
    issued_token_type: { type: 'string' },
  },
  required: ['access_token', 'token_type', 'expires_in'],
} as const;

/** RFC 6749 §5.1 body for an issued token (plus RFC 8693 / refresh members when given). */
export function tokenResponse(
  issued: IssuedToken,
  extra: { refresh_token?: string; issued_token_type?: string } = {},
): Record<string, unknown> {
  const response: Record<string, unknown> = {
    access_token: issued.token,
    token_type: 'Bearer',
    expires_in: issued.expiresIn,
  };
  if (issued.claims.scope) response.scope = issued.claims.scope;
  if (extra.refresh_token !== undefined) response.refresh_token = extra.refresh_token;
  if (extra.issued_token_type !== undefined) response.issued_token_type = extra.issued_token_type;
  return response;
}
