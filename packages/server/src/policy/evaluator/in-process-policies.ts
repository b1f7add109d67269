/**
 * A validated policy set compiled to JavaScript: the engine's fast path. Every call into
 * cedar-wasm costs tens of microseconds before Cedar looks at a single policy (measured in
 * `npm run bench:policy`: an empty policy set, no entities, no context), so the common case —
 * a well-formed request that evaluates without errors — is decided here, in Cedar's semantics:
 * default deny, any satisfied `forbid` wins, the determining policies as reasons. Anything else
 * (an evaluation error, a value or request it cannot vouch for) goes to Cedar, which stays the
 * authority: it validates every policy set on write, and answers whatever is deferred.
 */
import type { Context, EntityJson, TypeAndId } from '../cedar.js';
import {
  type CompiledPolicy,
  compilePolicy,
  type EvaluationScope,
  UnsupportedPolicy,
} from './compile-policy.js';
import { checkRequest, type SchemaModel } from './request-check.js';
import { schemaModel } from './schema-model.js';
import { DeferToCedar } from './values.js';

/** An answer with Cedar's decision, determining policies (sorted) and errors, and who gave it. */
export interface InProcessDecision {
  decision: 'allow' | 'deny';
  /** Determining policy ids, sorted. */
  policies: string[];
  /** Policies that failed to evaluate (`id: message`); always none in process (errors defer). */
  errors: string[];
  evaluator: 'in-process' | 'cedar';
}

function answer(decision: 'allow' | 'deny', policies: string[]): InProcessDecision {
  return { decision, policies, errors: [], evaluator: 'in-process' };
}

export class InProcessPolicies {
  readonly #model: SchemaModel;
  readonly #policies: readonly CompiledPolicy[];
  #unexpected = 0;

  private constructor(model: SchemaModel, policies: CompiledPolicy[]) {
    this.#model = model;
    this.#policies = policies;
  }

  /**
   * Compiles a policy set (Cedar's JSON forms, by policy id) with its schema (Cedar's JSON with
   * resolved types); the reason when the evaluator does not model something in them.
   */
  static compile(
    schema: Record<string, unknown>,
    forms: Readonly<Record<string, Record<string, unknown>>>,
  ): InProcessPolicies | { unsupported: string } {
    try {
      const model = schemaModel(schema as Parameters<typeof schemaModel>[0]);
      const policies = Object.entries(forms)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([id, form]) => compilePolicy(id, form));
      return new InProcessPolicies(model, policies);
    } catch (error) {
      if (error instanceof UnsupportedPolicy) return { unsupported: error.message };
      throw error;
    }
  }

  /** Decides a request, or returns undefined: then Cedar must. */
  decide(request: {
    principal: TypeAndId;
    action: TypeAndId;
    resource: TypeAndId;
    context: Context;
    entities: readonly EntityJson[];
  }): InProcessDecision | undefined {
    try {
      const scope: EvaluationScope = {
        ...checkRequest(request, this.#model),
        ancestorMemo: new Map(),
        actions: this.#model.actions,
      };
      const permits: string[] = [];
      const forbids: string[] = [];
      // Every policy is evaluated, as Cedar does: an error in any of them defers the whole
      // request, so Cedar can report it.
      for (const policy of this.#policies) {
        if (policy.satisfied(scope)) (policy.effect === 'forbid' ? forbids : permits).push(policy.id);
      }
      if (forbids.length > 0) return answer('deny', forbids);
      return permits.length > 0 ? answer('allow', permits) : answer('deny', []);
    } catch (error) {
      // Deferring is the evaluator's way out; anything else thrown here would be a bug in it,
      // and Cedar, the authority, still answers correctly.
      if (!(error instanceof DeferToCedar)) this.#unexpected++;
      return undefined;
    }
  }

  /** Requests deferred because the evaluator itself failed (a bug; Cedar answered them). */
  get unexpectedFailures(): number {
    return this.#unexpected;
  }
}
