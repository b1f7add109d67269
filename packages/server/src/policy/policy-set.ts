import { createHash } from 'node:crypto';
import { cedar, cedarMessage } from './cedar.js';
import { policyError } from './policy-errors.js';
import { type PolicyScope, scopeOf } from './policy-scope.js';

/** The namespace every Gatehouse entity type and action lives in. */
export const NAMESPACE = 'Gatehouse';

/**
 * A policy set as authors write it: one Cedar schema and policy sources by name (a file name
 * such as `admins.cedar`). This is what is stored, versioned and served to SDKs.
 */
export interface PolicySources {
  schema: string;
  policies: Record<string, string>;
}

/** A validated policy set, ready for the engine. */
export interface CompiledPolicySet {
  sources: PolicySources;
  /** Policy id → Cedar text of that one policy. */
  policies: Record<string, string>;
  /** Entity type names declared in the Gatehouse namespace (without it), e.g. `User`. */
  entityTypes: ReadonlySet<string>;
  /** Action ids declared in the Gatehouse namespace. */
  actions: ReadonlySet<string>;
  /** Policy id → its scope, so the engine hands Cedar only the policies that can apply. */
  scopes: Record<string, PolicyScope>;
  /** Policy id → Cedar's JSON form of it (what the in-process evaluator compiles). */
  forms: Record<string, Record<string, unknown>>;
  /** `sha256:<hex>` of the canonical sources: equal sources, equal digest. */
  digest: string;
}

const MAX_SOURCES = 1000;
const SOURCE_NAME = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Parses and validates a policy set with Cedar's validator (strict mode) against its schema.
 * Policy ids come from an `@id("…")` annotation, else `<source>#<n>` (1-based).
 *
 * @throws GatehouseError `ERR_POLICY_SCHEMA_INVALID` (the schema does not parse) or
 *   `ERR_POLICY_INVALID` (a policy does not parse or breaks the schema), with Cedar's message.
 * @example
 * ```ts
 * const set = compilePolicySources({ schema, policies: { 'base.cedar': 'permit(principal, action, resource);' } });
 * ```
 */
export function compilePolicySources(sources: PolicySources): CompiledPolicySet {
  const names = Object.keys(sources.policies).sort();
  if (names.length > MAX_SOURCES) {
    throw policyError('ERR_POLICY_INVALID', `at most ${MAX_SOURCES} policy sources are allowed`);
  }
  const schemaJson = cedar.schemaToJson(sources.schema);
  if (schemaJson.type === 'failure') {
    throw policyError(
      'ERR_POLICY_SCHEMA_INVALID',
      `schema: ${cedarMessage(schemaJson.errors, sources.schema)}`,
    );
  }
  const namespace = (schemaJson.json as Record<string, { entityTypes?: object; actions?: object }>)[
    NAMESPACE
  ];
  if (!namespace) {
    throw policyError('ERR_POLICY_SCHEMA_INVALID', `schema: it must declare namespace ${NAMESPACE}`);
  }

  // Action groups in any namespace make `action in …` scopes unsliceable by id.
  const actionGroups = Object.values(schemaJson.json as Record<string, { actions?: object }>).some((ns) =>
    Object.values(ns.actions ?? {}).some((a: { memberOf?: unknown[] }) => (a.memberOf?.length ?? 0) > 0),
  );
  const policies: Record<string, string> = {};
  const scopes: Record<string, PolicyScope> = {};
  const forms: Record<string, Record<string, unknown>> = {};
  const origin = new Map<string, string>();
  for (const name of names) {
    if (!SOURCE_NAME.test(name)) {
      throw policyError(
        'ERR_POLICY_INVALID',
        `source name "${name.slice(0, 64)}" must be 1–128 of A–Z a–z 0–9 . _ -`,
      );
    }
    const text = sources.policies[name] ?? '';
    const parts = cedar.policySetTextToParts(text);
    if (parts.type === 'failure')
      throw policyError('ERR_POLICY_INVALID', `${name}: ${cedarMessage(parts.errors, text)}`);
    if (parts.policy_templates.length > 0) {
      throw policyError(
        'ERR_POLICY_INVALID',
        `${name}: policy templates are not supported; write static policies`,
      );
    }
    parts.policies.forEach((policy, index) => {
      const json = cedar.policyToJson(policy);
      if (json.type === 'failure')
        throw policyError('ERR_POLICY_INVALID', `${name}: ${cedarMessage(json.errors, policy)}`);
      const annotated = json.json.annotations?.id;
      const id = typeof annotated === 'string' && annotated.length > 0 ? annotated : `${name}#${index + 1}`;
      const first = origin.get(id);
      if (first !== undefined) {
        throw policyError('ERR_POLICY_INVALID', `${name}: policy id "${id}" is already used in ${first}`);
      }
      origin.set(id, name);
      policies[id] = policy;
      scopes[id] = scopeOf(json.json, actionGroups);
      forms[id] = json.json as unknown as Record<string, unknown>;
    });
  }

  const answer = cedar.validate({
    schema: sources.schema,
    policies: { staticPolicies: policies },
    validationSettings: { mode: 'strict' },
  });
  if (answer.type === 'failure') throw policyError('ERR_POLICY_INVALID', cedarMessage(answer.errors));
  if (answer.validationErrors.length > 0) {
    const detail = answer.validationErrors
      .map((e) => `${origin.get(e.policyId) ?? '?'}: ${cedarMessage([e.error], policies[e.policyId])}`)
      .join('; ');
    throw policyError('ERR_POLICY_INVALID', detail);
  }
  return {
    sources,
    policies,
    entityTypes: new Set(Object.keys(namespace.entityTypes ?? {})),
    actions: new Set(Object.keys(namespace.actions ?? {})),
    scopes,
    forms,
    digest: policyDigest(sources),
  };
}

/** `sha256:<hex>` over the schema and the sources in name order. */
export function policyDigest(sources: PolicySources): string {
  const canonical = JSON.stringify([
    sources.schema,
    Object.keys(sources.policies)
      .sort()
      .map((name) => [name, sources.policies[name]]),
  ]);
  return `sha256:${createHash('sha256').update(canonical).digest('hex')}`;
}
