import type { RouteConfig } from '@gatehouse/core';
import type { Identity } from './identity.js';

/** Why an authorizer denied; the closed set used in metrics and audit entries. */
export type DenyReason = 'insufficient_scope' | 'missing_role' | 'policy_denied';

export type AuthorizeOutcome = { allowed: true } | { allowed: false; reason: DenyReason; scope?: string };

/**
 * A policy decision point the route may consult after its own checks (the policy issue connects
 * the Cedar PDP here). Undefined means no policy is configured.
 */
export interface PolicyHook {
  decide(input: { identity: Identity; routeId: string; method: string; path: string }): Promise<boolean>;
}

/**
 * The route's authorizers in order: every required scope, then at least one required role, then
 * the policy hook. Scope failures name the scopes needed (RFC 6750 §3.1 `scope`).
 */
export async function authorize(
  route: RouteConfig,
  identity: Identity,
  request: { method: string; path: string },
  policy?: PolicyHook,
): Promise<AuthorizeOutcome> {
  const { scopes, roles } = route.authorize;
  const held = new Set(identity.scopes);
  if (scopes.some((s) => !held.has(s))) {
    return { allowed: false, reason: 'insufficient_scope', scope: scopes.join(' ') };
  }
  if (roles.length > 0 && !roles.some((r) => identity.roles.includes(r))) {
    return { allowed: false, reason: 'missing_role' };
  }
  if (policy && !(await policy.decide({ identity, routeId: route.id, ...request }))) {
    return { allowed: false, reason: 'policy_denied' };
  }
  return { allowed: true };
}
