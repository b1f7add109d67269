import type { MaybePromise } from '../../internal/maybe-async.js';
import type { RouteConfig } from '@gatehouse/core';
import type { Identity } from './identity.js';

/**
 * Why an authorizer denied; the closed set used in metrics and audit entries. `policy_denied`:
 * the policy decision point said no; `policy_error`: the request could not be evaluated (it
 * does not fit the policy schema), which denies too.
 */
export type DenyReason = 'insufficient_scope' | 'missing_role' | 'policy_denied' | 'policy_error';

export type AuthorizeOutcome =
  | { allowed: true }
  | { allowed: false; reason: DenyReason; scope?: string; policies?: readonly string[] };

/** What the policy hook is asked: who, on which route (with its policy mapping), how. */
export interface PolicyQuestion {
  identity: Identity;
  route: RouteConfig;
  routeId: string;
  method: string;
  path: string;
  /** The client address, when the gateway hands it over. */
  ip?: string | undefined;
}

/** The policy hook's answer; a deny names its reason and the determining policies. */
export type PolicyAnswer =
  | { allowed: true }
  | { allowed: false; reason: 'policy_denied' | 'policy_error'; policies: readonly string[] };

/**
 * A policy decision point the route may consult after its own checks (the Cedar PDP, see
 * policy/gateway-policy.ts). Undefined means no policy is configured; a route without a
 * `policy` mapping is not asked about.
 */
export interface PolicyHook {
  decide(question: PolicyQuestion): Promise<PolicyAnswer>;
}

/**
 * The route's authorizers in order: every required scope, then at least one required role, then
 * the policy hook. Scope failures name the scopes needed (RFC 6750 §3.1 `scope`).
 */
export function authorize(
  route: RouteConfig,
  identity: Identity,
  request: { method: string; path: string; ip?: string },
  policy?: PolicyHook,
): MaybePromise<AuthorizeOutcome> {
  const { scopes, roles } = route.authorize;
  // A handful of scopes each side: a scan beats building a Set on every request.
  if (scopes.some((s) => !identity.scopes.includes(s))) {
    return { allowed: false, reason: 'insufficient_scope', scope: scopes.join(' ') };
  }
  if (roles.length > 0 && !roles.some((r) => identity.roles.includes(r))) {
    return { allowed: false, reason: 'missing_role' };
  }
  // Only the policy engine is asked asynchronously; scopes and roles answer at once.
  if (policy && route.policy) {
    return policy
      .decide({ identity, route, routeId: route.id, ...request })
      .then((answer) =>
        answer.allowed ? ALLOWED : { allowed: false, reason: answer.reason, policies: answer.policies },
      );
  }
  return ALLOWED;
}

const ALLOWED: AuthorizeOutcome = Object.freeze({ allowed: true });
