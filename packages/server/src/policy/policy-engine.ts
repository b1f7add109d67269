import { type Context, cedar, cedarMessage, type EntityJson, type TypeAndId } from './cedar.js';
import { DecisionCache, type DecisionQuestion } from './decision-cache.js';
import { type InProcessDecision, InProcessPolicies } from './evaluator/in-process-policies.js';
import { policyError } from './policy-errors.js';
import { entityMayMatch, lineage, plainUid, uidKey } from './policy-scope.js';
import type { CompiledPolicySet } from './policy-set.js';

/** One Cedar question: who (principal) may do what (action) to which resource, in which context. */
export interface CedarRequest {
  principal: TypeAndId;
  action: TypeAndId;
  resource: TypeAndId;
  context: Context;
  /** The principal's and resource's entities (with parents), validated against the schema. */
  entities: EntityJson[];
}

/** Cedar's answer with its reasons. */
export interface PolicyDecision {
  decision: 'allow' | 'deny';
  /** Determining policies: the permits that allowed, or the forbids that denied (none: default deny). */
  policies: string[];
  /** Policies that failed to evaluate (`id: message`); Cedar skips them. */
  errors: string[];
  /** Policy-set version that decided. */
  version: number;
  /** Evaluation time in microseconds (0 for a cached answer). */
  latencyUs: number;
  cached: boolean;
  /** Who evaluated it: the policy set compiled to JavaScript, Cedar (cedar-wasm), or nothing (an unknown subject). */
  evaluator: 'in-process' | 'cedar' | 'none';
}

let engines = 0;

/** Preparsed slices of the policy set kept per engine (Cedar keeps each under a name). */
const MAX_SLICES = 256;

/**
 * Evaluates requests against one loaded policy set, in process. Cedar validates every set; the
 * set is then also compiled to JavaScript ({@link InProcessPolicies}), which decides every
 * request it can vouch for (a well-formed request that evaluates without errors) with Cedar's
 * semantics, because each call into cedar-wasm costs tens of microseconds before any policy is
 * evaluated. The rest goes to Cedar: the policy set and schema are parsed once per version
 * (Cedar keeps them preparsed under names unique to this engine), and each request gets the
 * slice of the set whose scopes can apply to it (by principal and resource type and lineage,
 * and action), preparsed once per distinct slice, since Cedar's cost grows with every policy it
 * is given. An optional cache answers repeated questions.
 *
 * @example
 * ```ts
 * const engine = new PolicyEngine({ cacheSize: 10_000 });
 * engine.load(3, compilePolicySources(sources));
 * const { decision, policies } = engine.evaluate(request);
 * ```
 */
export class PolicyEngine {
  readonly #name = `gatehouse-engine-${++engines}`;
  readonly #cache: DecisionCache<PolicyDecision>;
  #version = -1;
  #set: CompiledPolicySet | undefined;
  #inProcess: InProcessPolicies | undefined;
  #inProcessGap: string | undefined;
  readonly #useInProcess: boolean;
  #ids: string[] = [];
  /** Slice (its policy ids, joined) → name of its preparsed set; oldest first. */
  readonly #slices = new Map<string, string>();
  #sliceNames = 0;
  #sliceHits = 0;
  #sliceMisses = 0;

  /**
   * `cacheSize`: decisions kept (0: none). `inProcess` (default true): decide what it can with
   * the policy set compiled to JavaScript, leaving the rest to Cedar; false asks Cedar always.
   */
  constructor(options: { cacheSize?: number; inProcess?: boolean } = {}) {
    this.#cache = new DecisionCache(options.cacheSize ?? 0);
    this.#useInProcess = options.inProcess ?? true;
  }

  /** Why the loaded set is decided by Cedar alone (a construct the in-process evaluator lacks), if it is. */
  get inProcessGap(): string | undefined {
    return this.#inProcessGap;
  }

  /** Requests the in-process evaluator failed on unexpectedly (a bug there; Cedar decided them). */
  get inProcessFailures(): number {
    return this.#inProcess?.unexpectedFailures ?? 0;
  }

  /** Version of the loaded policy set; -1 before the first load. */
  get version(): number {
    return this.#version;
  }

  /** The loaded policy set, if any. */
  get policySet(): CompiledPolicySet | undefined {
    return this.#set;
  }

  /** Replaces the policy set (already validated by {@link compilePolicySources}). */
  load(version: number, set: CompiledPolicySet): void {
    const schema = cedar.preparseSchema(this.#name, set.sources.schema);
    if (schema.type === 'failure')
      throw policyError('ERR_POLICY_SCHEMA_INVALID', cedarMessage(schema.errors));
    const parsed = cedar.preparsePolicySet(this.#name, { staticPolicies: set.policies });
    if (parsed.type === 'failure') throw policyError('ERR_POLICY_INVALID', cedarMessage(parsed.errors));
    let inProcess: InProcessPolicies | undefined;
    let gap: string | undefined = 'disabled';
    if (this.#useInProcess) {
      const resolved = cedar.schemaToJsonWithResolvedTypes(set.sources.schema);
      const compiled =
        resolved.type === 'success'
          ? InProcessPolicies.compile(resolved.json as unknown as Record<string, unknown>, set.forms)
          : { unsupported: 'the schema' };
      if (compiled instanceof InProcessPolicies) {
        inProcess = compiled;
        gap = undefined;
      } else {
        gap = compiled.unsupported;
      }
    }
    this.#set = set;
    this.#inProcess = inProcess;
    this.#inProcessGap = gap;
    this.#ids = Object.keys(set.policies);
    // Names are reused: a slice of the old version is parsed again under its name when needed.
    this.#sliceNames = 0;
    this.#sliceHits = 0;
    this.#sliceMisses = 0;
    this.#slices.clear();
    this.#cache.clear();
    this.#version = version;
  }

  /** Name of the preparsed slice of the policy set that can apply to `request`. */
  #sliceFor(request: CedarRequest, set: CompiledPolicySet): string {
    // Slices pay off when few recur (roles, groups, types). When they keep changing (policies
    // naming single users, say), parsing slices would cost more than it saves: use the whole set.
    if (this.#sliceMisses > 64 && this.#sliceMisses * 10 > this.#sliceHits) return this.#name;
    // Requests may name entities in either of Cedar's uid forms.
    const principalUid = plainUid(request.principal);
    const resourceUid = plainUid(request.resource);
    const principal = uidKey(principalUid);
    const resource = uidKey(resourceUid);
    const action = uidKey(plainUid(request.action));
    const principalIn = lineage(principalUid, request.entities);
    const resourceIn = lineage(resourceUid, request.entities);
    const ids: string[] = [];
    for (const id of this.#ids) {
      const scope = set.scopes[id];
      if (
        scope === undefined ||
        (entityMayMatch(scope.principal, principalUid.type, principal, principalIn) &&
          (scope.action.op === 'all' || scope.action.ids.has(action)) &&
          entityMayMatch(scope.resource, resourceUid.type, resource, resourceIn))
      ) {
        ids.push(id);
      }
    }
    const key = ids.join('\n');
    const known = this.#slices.get(key);
    if (known !== undefined) {
      this.#sliceHits++;
      return known;
    }
    this.#sliceMisses++;
    let name: string;
    const oldest = this.#slices.size >= MAX_SLICES ? this.#slices.entries().next().value : undefined;
    if (oldest !== undefined) {
      this.#slices.delete(oldest[0]);
      name = oldest[1];
    } else {
      name = `${this.#name}-slice-${++this.#sliceNames}`;
    }
    const slice: Record<string, string> = {};
    for (const id of ids) slice[id] = set.policies[id] as string;
    const parsed = cedar.preparsePolicySet(name, { staticPolicies: slice });
    if (parsed.type === 'failure') throw policyError('ERR_POLICY_INVALID', cedarMessage(parsed.errors));
    this.#slices.set(key, name);
    return name;
  }

  /**
   * Decides one request. With `question` (what identifies it: principal and its entities'
   * version, action, resources, context) a repeated question is answered from the cache (which
   * holds the current policy-set version's decisions only).
   *
   * @throws GatehouseError `ERR_POLICY_REQUEST_INVALID` when the request does not fit the
   *   schema (unknown entity type or action, wrong attribute or context types).
   * @throws GatehouseError `ERR_POLICY_UNAVAILABLE` before any policy set is loaded.
   */
  evaluate(request: CedarRequest, question?: DecisionQuestion): PolicyDecision {
    if (this.#set === undefined) throw policyError('ERR_POLICY_UNAVAILABLE', 'no policy set is loaded yet');
    const hash = question === undefined ? undefined : this.#cache.hash(question);
    if (question !== undefined && hash !== undefined) {
      const hit = this.#cache.get(question, hash);
      if (hit !== undefined) return hit;
    }
    const started = process.hrtime.bigint();
    const { decision, policies, errors, evaluator } =
      this.#inProcess?.decide(request) ?? this.#askCedar(request, this.#set);
    const result: PolicyDecision = {
      decision,
      policies,
      errors,
      evaluator,
      version: this.#version,
      latencyUs: Number(process.hrtime.bigint() - started) / 1000,
      cached: false,
    };
    if (question !== undefined && hash !== undefined)
      this.#cache.set(question, { ...result, latencyUs: 0, cached: true }, hash);
    return result;
  }

  /** Cedar's answer on the slice of the set that can apply. */
  #askCedar(request: CedarRequest, set: CompiledPolicySet): InProcessDecision {
    let answer: ReturnType<typeof cedar.statefulIsAuthorized>;
    try {
      answer = cedar.statefulIsAuthorized({
        principal: request.principal,
        action: request.action,
        resource: request.resource,
        context: request.context,
        entities: request.entities,
        preparsedPolicySetId: this.#sliceFor(request, set),
        preparsedSchemaName: this.#name,
        validateRequest: true,
      });
    } catch (error) {
      // cedar-wasm throws (rather than answering a failure) on input it cannot even decode,
      // such as text with a lone UTF-16 surrogate: still the caller's bad request.
      throw policyError(
        'ERR_POLICY_REQUEST_INVALID',
        `Cedar cannot read this request: ${(error as Error).message ?? String(error)}`,
      );
    }
    if (answer.type === 'failure')
      throw policyError('ERR_POLICY_REQUEST_INVALID', cedarMessage(answer.errors));
    const { decision, diagnostics } = answer.response;
    return {
      decision,
      policies: [...diagnostics.reason].sort(),
      errors: diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`),
      evaluator: 'cedar',
    };
  }
}
