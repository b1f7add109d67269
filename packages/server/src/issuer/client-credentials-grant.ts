import { type ClientRecord, isResourceIndicator } from '@gatehouse/core';
import type { FormBody } from '../http/form-body.js';
import { OAuthError } from '../http/oauth-error.js';

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** Scopes that grant power over Gatehouse itself: given only when asked for by name. */
const PRIVILEGED_SCOPE_PREFIX = 'gatehouse:';

/**
 * Parses `scope` (RFC 6749 §3.3) and checks it against what the client may have. An absent
 * scope means the client's scopes minus the privileged `gatehouse:*` ones, so a bare request
 * never yields an admin token.
 */
export function grantedScopes(body: FormBody, client: ClientRecord): string[] {
  const requested = body.get('scope');
  if (requested === undefined) return client.scopes.filter((s) => !s.startsWith(PRIVILEGED_SCOPE_PREFIX));
  const parts = parseScope(requested);
  const allowed = new Set(client.scopes);
  const denied = parts.filter((p) => !allowed.has(p));
  if (denied.length > 0) {
    // Scope tokens exclude " and \ (checked above), so echoing one keeps error_description in RFC 6749's charset.
    throw new OAuthError('invalid_scope', `the client may not request scope ${denied[0]}`);
  }
  return parts;
}

/** Splits an RFC 6749 §3.3 `scope` value into distinct scope tokens; `invalid_scope` when malformed. */
export function parseScope(value: string): string[] {
  const parts = value.split(' ');
  if (parts.some((p) => !SCOPE_TOKEN.test(p))) {
    throw new OAuthError('invalid_scope', 'scope must be space-separated scope tokens');
  }
  return [...new Set(parts)];
}

/**
 * RFC 8707 resource indicators: each must be an absolute URI without a fragment and allowed for
 * the client. Without one, the audience is the client's default, else the issuer itself.
 */
export function grantedAudience(body: FormBody, client: ClientRecord, issuer: string): string[] {
  const resources = body.getAll('resource');
  if (resources.length === 0) return [client.defaultAudience ?? issuer];
  const allowed = new Set(client.resources);
  for (const resource of resources) {
    if (!isResourceIndicator(resource)) {
      throw new OAuthError('invalid_target', 'resource must be an absolute URI without a fragment');
    }
    if (!allowed.has(resource)) {
      throw new OAuthError('invalid_target', 'the requested resource is not allowed for this client');
    }
  }
  return [...new Set(resources)];
}
