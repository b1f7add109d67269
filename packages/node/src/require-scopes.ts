import { bearerChallenge } from '@gatehouse/core';
import { AccessError } from './errors.js';
import type { ServiceIdentity } from './identity.js';

/**
 * Throws a 403 `insufficient_scope` {@link AccessError} (naming the scopes needed) unless the
 * identity holds every one of `scopes`.
 */
export function assertScopes(identity: ServiceIdentity, scopes: readonly string[]): void {
  const held = new Set(identity.scopes);
  const missing = scopes.filter((s) => !held.has(s));
  if (missing.length === 0) return;
  throw new AccessError(
    'ERR_FORBIDDEN',
    403,
    `this needs the scope ${missing.join(' ')}`,
    bearerChallenge({
      error: 'insufficient_scope',
      description: 'the token lacks a required scope',
      scope: scopes.join(' '),
    }),
  );
}
