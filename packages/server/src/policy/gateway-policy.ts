import { GatehouseError } from '@gatehouse/core';
import type { PolicyAnswer, PolicyHook, PolicyQuestion } from '../gateway/pipeline/authorize.js';
import type { EntityJson } from './cedar.js';
import { tokenEntities, uid } from './entities.js';
import type { PolicyPoint } from './policy-point.js';
import { cedarContext } from './request-context.js';

/**
 * The gateway's policy hook: the same policy set as the decision API, evaluated in process.
 * The principal is what the token says (roles, groups, scopes: no store lookup on the data
 * path), the resource is the route's mapping (default `Route::"<route id>"`), the context is
 * the time and, when the gateway passes it, the client address.
 */
export class GatewayPolicy implements PolicyHook {
  readonly #point: PolicyPoint;
  readonly #now: () => number;

  constructor(deps: { point: PolicyPoint; nowMs: () => number }) {
    this.#point = deps.point;
    this.#now = deps.nowMs;
  }

  async decide(question: PolicyQuestion): Promise<PolicyAnswer> {
    const mapping = question.route.policy;
    if (!mapping) return { allowed: true };
    const { identity } = question;
    const groups = Array.isArray(identity.claims.groups)
      ? identity.claims.groups.filter((g): g is string => typeof g === 'string')
      : [];
    const subject = tokenEntities({
      sub: identity.sub,
      clientId: identity.clientId,
      scopes: identity.scopes,
      roles: identity.roles,
      groups,
    });
    const resource = uid(mapping.resource_type, mapping.resource_id ?? question.routeId);
    const context = cedarContext(
      question.ip === undefined ? {} : { ip: question.ip },
      this.#now(),
      this.#point.zones,
    );
    const action = uid('Action', mapping.action);
    const resourceEntity: EntityJson = {
      uid: resource,
      // A Route carries what the request asked for; other resource types come bare.
      attrs:
        mapping.resource_type === 'Route'
          ? { method: question.method, path: question.path, service: question.route.upstream.service }
          : {},
      parents: [],
    };
    try {
      const decision = this.#point.decide(
        {
          principal: subject.principal,
          action,
          resource,
          context,
          entities: [...subject.entities, resourceEntity],
        },
        {
          principal: subject.principal,
          version: subject.version,
          action: action.id,
          resources: [resourceEntity],
          context,
        },
        'gateway',
      );
      return decision.decision === 'allow'
        ? { allowed: true }
        : { allowed: false, reason: 'policy_denied', policies: decision.policies };
    } catch (error) {
      // A request the schema does not admit (a route mapped to an unknown action) is a deny,
      // never a pass: fail closed.
      if (error instanceof GatehouseError) return { allowed: false, reason: 'policy_error', policies: [] };
      throw error;
    }
  }
}
