import type { JwtPayload } from '@gatehouse/core';

/** RFC 8693 §4.1 `act`: who acts for the subject, with earlier actors nested inside. */
export interface ActorClaim {
  sub: string;
  client_id?: string;
  act?: ActorClaim;
}

/** Who a request to this service is from, as the verified token says. */
export interface ServiceIdentity {
  /** The user (or the calling client, for a client's own token). */
  readonly sub: string;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  /** The OAuth client the subject's token was issued to. */
  readonly clientId: string | undefined;
  /** The login session (refresh family) the token descends from. */
  readonly sid: string | undefined;
  /**
   * The delegation chain, current actor first: `['shop-orders']` when orders called this
   * service for the user; empty when the token came straight from the gateway.
   */
  readonly actors: readonly string[];
  readonly act: ActorClaim | undefined;
  /** Every verified claim. */
  readonly claims: Readonly<JwtPayload>;
  /** The verified token itself: the subject token when calling on as this user. */
  readonly token: string;
  /** The caller's X-Request-ID and W3C trace context, carried on to downstream calls. */
  readonly requestId: string | undefined;
  readonly traceparent: string | undefined;
}

/** The identity a verified token's claims describe. */
export function identityOf(
  token: string,
  claims: JwtPayload,
  context: { requestId?: string | undefined; traceparent?: string | undefined } = {},
): ServiceIdentity {
  const scope = typeof claims.scope === 'string' ? claims.scope : '';
  const act = isActor(claims.act) ? claims.act : undefined;
  const actors: string[] = [];
  for (let a = act; a !== undefined; a = a.act) actors.push(a.client_id ?? a.sub);
  return {
    sub: String(claims.sub ?? ''),
    scopes: scope === '' ? [] : scope.split(' '),
    roles: Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [],
    clientId: typeof claims.client_id === 'string' ? claims.client_id : undefined,
    sid: typeof claims.sid === 'string' ? claims.sid : undefined,
    actors,
    act,
    claims,
    token,
    requestId: context.requestId,
    traceparent: context.traceparent,
  };
}

function isActor(value: unknown): value is ActorClaim {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.sub === 'string' && (v.act === undefined || isActor(v.act));
}
