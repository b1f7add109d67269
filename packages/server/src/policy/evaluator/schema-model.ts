/**
 * The schema as the in-process evaluator needs it, built from Cedar's JSON schema with type names
 * resolved (`schemaToJsonWithResolvedTypes`). Schemas using what the evaluator does not model
 * (enumerated entity types, extension types other than `ipaddr`) are unsupported: the engine then
 * leaves every decision to Cedar.
 */
import { ancestorKeys } from '../hierarchy.js';
import { UnsupportedPolicy } from './compile-policy.js';
import type { ActionShape, EntityTypeShape, SchemaModel, SchemaType } from './request-check.js';
import { EntityValue } from './values.js';

interface JsonType {
  type?: string;
  name?: string;
  element?: JsonType;
  attributes?: Record<string, JsonType & { required?: boolean }>;
  additionalAttributes?: boolean;
}

interface JsonNamespace {
  commonTypes?: Record<string, JsonType>;
  entityTypes?: Record<
    string,
    { memberOfTypes?: string[]; shape?: JsonType; tags?: JsonType; enum?: unknown }
  >;
  actions?: Record<
    string,
    {
      memberOf?: { id: string; type?: string }[];
      appliesTo?: { principalTypes?: string[]; resourceTypes?: string[]; context?: JsonType } | null;
      attributes?: unknown;
    }
  >;
}

const BUILT_IN = new Set([
  'String',
  'Long',
  'Bool',
  'Boolean',
  'ipaddr',
  'decimal',
  'datetime',
  'duration',
  'Set',
  'Record',
  'Entity',
  'Extension',
  'EntityOrCommon',
]);

const qualify = (ns: string, name: string) => (ns === '' || name.includes('::') ? name : `${ns}::${name}`);

/** @throws UnsupportedPolicy for a schema the evaluator does not model. */
export function schemaModel(json: Record<string, JsonNamespace>): SchemaModel {
  // One namespace only: name resolution across namespaces (the empty one shadowing, actions of
  // another namespace) is Cedar's to do.
  if (Object.keys(json).length !== 1) throw new UnsupportedPolicy('more than one namespace');
  const common = new Map<string, JsonType>();
  const entityJson = new Map<string, NonNullable<JsonNamespace['entityTypes']>[string]>();
  for (const [ns, space] of Object.entries(json)) {
    for (const name of [...Object.keys(space.commonTypes ?? {}), ...Object.keys(space.entityTypes ?? {})]) {
      // A declaration named like a built-in type shadows it in Cedar.
      if (BUILT_IN.has(name)) throw new UnsupportedPolicy(`a type named ${name}`);
    }
    for (const [name, type] of Object.entries(space.commonTypes ?? {})) common.set(qualify(ns, name), type);
    for (const [name, type] of Object.entries(space.entityTypes ?? {})) {
      if (type.enum !== undefined) throw new UnsupportedPolicy('enumerated entity types');
      entityJson.set(qualify(ns, name), type);
    }
  }

  const resolving = new Set<string>();
  const named = (ns: string, name: string): SchemaType => {
    const bare = name.startsWith('__cedar::') ? name.slice('__cedar::'.length) : name;
    switch (bare) {
      case 'String':
        return { kind: 'string' };
      case 'Long':
        return { kind: 'long' };
      case 'Bool':
      case 'Boolean':
        return { kind: 'bool' };
      case 'ipaddr':
        return { kind: 'ipaddr' };
    }
    for (const candidate of [qualify(ns, name), name]) {
      const commonType = common.get(candidate);
      if (commonType !== undefined) {
        if (resolving.has(candidate)) throw new UnsupportedPolicy('a recursive type');
        resolving.add(candidate);
        const resolved = typeOf(ns, commonType);
        resolving.delete(candidate);
        return resolved;
      }
      if (entityJson.has(candidate)) return { kind: 'entity', name: candidate };
    }
    throw new UnsupportedPolicy(`the type ${name}`);
  };
  const typeOf = (ns: string, t: JsonType): SchemaType => {
    switch (t.type) {
      case 'Set':
        return { kind: 'set', element: typeOf(ns, t.element ?? {}) };
      case 'Record':
        return {
          kind: 'record',
          open: t.additionalAttributes === true,
          attributes: new Map(
            Object.entries(t.attributes ?? {}).map(([k, a]) => [
              k,
              { type: typeOf(ns, a), required: a.required !== false },
            ]),
          ),
        };
      case 'Entity':
      case 'EntityOrCommon':
      case 'Extension':
        return named(ns, t.name ?? '');
      case undefined:
        throw new UnsupportedPolicy('a type without a name');
      default:
        return named(ns, t.type);
    }
  };
  const record = (ns: string, t: JsonType | undefined): SchemaType & { kind: 'record' } => {
    const type =
      t === undefined ? { kind: 'record' as const, open: false, attributes: new Map() } : typeOf(ns, t);
    if (type.kind !== 'record') throw new UnsupportedPolicy('a shape or context that is not a record');
    return type;
  };

  const entityTypes = new Map<string, EntityTypeShape>();
  for (const [ns, space] of Object.entries(json)) {
    for (const [name, type] of Object.entries(space.entityTypes ?? {})) {
      entityTypes.set(qualify(ns, name), {
        attributes: record(ns, type.shape),
        tags: type.tags === undefined ? undefined : typeOf(ns, type.tags),
        memberOf: new Set((type.memberOfTypes ?? []).map((m) => qualify(ns, m))),
      });
    }
  }

  const parents = new Map<string, string[]>();
  const actions = new Map<string, Omit<ActionShape, 'ancestors'>>();
  for (const [ns, space] of Object.entries(json)) {
    const actionType = qualify(ns, 'Action');
    for (const [id, action] of Object.entries(space.actions ?? {})) {
      if (action.attributes !== undefined) throw new UnsupportedPolicy('action attributes');
      const key = new EntityValue(actionType, id).key;
      parents.set(
        key,
        (action.memberOf ?? []).map((m) => {
          // Groups among this namespace's actions only; one named by another type is Cedar's.
          if (m.type !== undefined && m.type !== actionType)
            throw new UnsupportedPolicy('an action group elsewhere');
          return new EntityValue(actionType, m.id).key;
        }),
      );
      const applies = action.appliesTo;
      actions.set(key, {
        principals: new Set((applies?.principalTypes ?? []).map((t) => qualify(ns, t))),
        resources: new Set((applies?.resourceTypes ?? []).map((t) => qualify(ns, t))),
        context: record(ns, applies?.context),
      });
    }
  }
  return {
    entityTypes,
    actions: new Map(
      [...actions].map(([key, shape]) => [
        key,
        { ...shape, ancestors: ancestorKeys(key, (k) => parents.get(k)) },
      ]),
    ),
  };
}
