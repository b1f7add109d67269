import { AccessError } from './errors.js';
import type { GatehouseEndpoint } from './gatehouse-endpoint.js';
import type { ServiceIdentity } from './identity.js';

/** An OpenID AuthZEN evaluation request (subject, action, resource, context). */
export interface EvaluationRequest {
  subject: { type: string; id: string; properties?: Record<string, unknown> };
  action: { name: string; properties?: Record<string, unknown> };
  resource: { type: string; id: string; properties?: Record<string, unknown> };
  context?: Record<string, unknown>;
}

/** The decision, with the PDP's reasons (determining policy ids, errors) in `context`. */
export interface EvaluationAnswer {
  decision: boolean;
  context?: Record<string, unknown>;
}

/**
 * Something that decides: the central PDP over HTTP ({@link RemotePolicies}), or the same
 * policy set evaluated in this process (`LocalPolicies` of `@gatehouse/server`, kept fresh over
 * the bus) — both answer AuthZEN evaluations.
 */
export interface PolicyDecider {
  evaluate(request: EvaluationRequest): Promise<EvaluationAnswer>;
}

/** Options of {@link RemotePolicies}. */
export interface RemotePoliciesOptions extends Pick<GatehouseEndpoint, 'url' | 'fetch'> {
  /** A token with scope `gatehouse:authz` (see ServiceClient.tokenFor); asked per call, so it may renew. */
  token: () => Promise<string> | string;
  timeoutMs?: number;
}

/** The Gatehouse PDP's AuthZEN evaluation API (`POST /access/v1/evaluation`). */
export class RemotePolicies implements PolicyDecider {
  readonly #options: RemotePoliciesOptions;

  constructor(options: RemotePoliciesOptions) {
    this.#options = options;
  }

  async evaluate(request: EvaluationRequest): Promise<EvaluationAnswer> {
    let res: Response;
    try {
      res = await (this.#options.fetch ?? fetch)(
        `${this.#options.url.replace(/\/$/, '')}/access/v1/evaluation`,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${await this.#options.token()}`,
          },
          body: JSON.stringify(request),
          signal: AbortSignal.timeout(this.#options.timeoutMs ?? 2000),
        },
      );
    } catch (err) {
      throw new AccessError(
        'ERR_POLICY_UNAVAILABLE',
        503,
        'the policy decision point cannot be reached',
        undefined,
        err,
      );
    }
    const body = (await res.json().catch(() => ({}))) as Partial<EvaluationAnswer> & { detail?: string };
    if (res.status !== 200 || typeof body.decision !== 'boolean') {
      throw new AccessError(
        'ERR_POLICY_UNAVAILABLE',
        503,
        `the policy decision point answered ${res.status}${body.detail ? `: ${body.detail}` : ''}`,
      );
    }
    return { decision: body.decision, ...(body.context && { context: body.context }) };
  }
}

/**
 * The in-process evaluator (`LocalPolicies` of `@gatehouse/server`: the central policy set,
 * pulled and kept fresh over the bus) as a {@link PolicyDecider}.
 *
 * @example
 * ```ts
 * const local = new LocalPolicies({ url, token: () => calls.tokenFor({ scope: ['gatehouse:authz'] }), bus });
 * await local.start();
 * await authorize(localDecider(local), who, 'place', { type: 'Order', id: 'new', properties: { sku, quantity } });
 * ```
 */
export function localDecider(local: {
  evaluate(request: EvaluationRequest): Promise<{ decision: 'allow' | 'deny'; policies: readonly string[] }>;
}): PolicyDecider {
  return {
    async evaluate(request) {
      const answer = await local.evaluate(request);
      return { decision: answer.decision === 'allow', context: { policies: answer.policies } };
    },
  };
}

/** The AuthZEN subject of a verified identity: the user, or the client acting for itself. */
export function subjectOf(identity: ServiceIdentity): EvaluationRequest['subject'] {
  // The properties each kind has (a described user has roles, a client scopes); the central
  // PDP reads users and clients from its store and ignores them, LocalPolicies decides with them.
  const isClient = identity.clientId !== undefined && identity.sub === identity.clientId;
  return isClient
    ? { type: 'client', id: identity.sub, properties: { scopes: [...identity.scopes] } }
    : { type: 'user', id: identity.sub, properties: { roles: [...identity.roles] } };
}

/**
 * Asks `decider` whether `identity` may do `action` on `resource`; a deny is a 403
 * {@link AccessError} naming the action (default deny: no permit is a deny too).
 *
 * @example
 * ```ts
 * await authorize(policies, who, 'write', { type: 'Document', id: order.id, properties: { owner: who.sub } });
 * ```
 */
export async function authorize(
  decider: PolicyDecider,
  identity: ServiceIdentity,
  action: string,
  resource: EvaluationRequest['resource'],
  context?: Record<string, unknown>,
): Promise<EvaluationAnswer> {
  const answer = await decider.evaluate({
    subject: subjectOf(identity),
    action: { name: action },
    resource,
    ...(context && { context }),
  });
  if (!answer.decision) {
    throw new AccessError(
      'ERR_FORBIDDEN',
      403,
      `denied by policy: ${action} on ${resource.type} ${resource.id}`,
    );
  }
  return answer;
}
