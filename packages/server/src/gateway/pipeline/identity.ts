import type { IncomingHttpHeaders } from 'node:http';
import type { ActorClaim } from '../../issuer/access-tokens.js';

/** Which authenticator accepted a request. */
export type CredentialKind = 'jwt' | 'api_key' | 'opaque' | 'anonymous';

/** Who a request is from, as an authenticator established it. */
export interface Identity {
  credential: CredentialKind;
  /** Who vouches for the credential: this Gatehouse's issuer, or another IdP's (remote jwt/opaque). */
  issuer?: string | undefined;
  sub: string;
  clientId: string | undefined;
  scopes: readonly string[];
  roles: readonly string[];
  /** Verified claims of the credential (rate limits may key on one). */
  claims: Readonly<Record<string, unknown>>;
  act?: ActorClaim | undefined;
  sid?: string | undefined;
  /** The API key's id, for `api_key` credentials. */
  apiKeyId?: string | undefined;
}

/** Why a credential was refused: the closed set used in metrics, audit and error descriptions. */
export type AuthRejection =
  | 'malformed'
  | 'invalid_signature'
  | 'expired'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'wrong_type'
  | 'revoked'
  | 'unknown_key'
  | 'inactive'
  | 'issuer_unavailable';

/** An authenticator's answer: it accepts, refuses, or the request carries nothing it handles. */
export type AuthOutcome =
  | { status: 'accepted'; identity: Identity }
  | { status: 'rejected'; reason: AuthRejection; description: string }
  | { status: 'not_responsible' };

export const NOT_RESPONSIBLE: AuthOutcome = { status: 'not_responsible' };

/** The RFC 6750 bearer token of a request, if it sent exactly one well-formed one. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const value = headers.authorization;
  if (value === undefined || value.length > 16_384) return undefined;
  const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(value);
  return match?.[1];
}

/** True when the request carries any credential at all (the anonymous authenticator steps back). */
export function hasCredentials(headers: IncomingHttpHeaders): boolean {
  return headers.authorization !== undefined || headers['x-api-key'] !== undefined;
}
