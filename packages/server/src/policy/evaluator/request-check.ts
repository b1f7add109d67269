/**
 * The schema check of a request for the in-process evaluator: what Cedar's `validateRequest`
 * and schema-based entity parsing check (declared entity types and actions, the action's
 * principal and resource types, attribute, tag and context types, parent types), turning the
 * JSON into evaluator values on the way. It only ever accepts: whatever it does not recognise as
 * certainly valid is deferred to Cedar, which then either rejects the request with its own
 * message or decides it.
 */
import type { EntityJson, TypeAndId } from '../cedar.js';
import { defer, EntityValue, parseIpv4, RecordValue, SetValue, type Value } from './values.js';

/** A schema type with names resolved. */
export type SchemaType =
  | { kind: 'string' | 'long' | 'bool' | 'ipaddr' }
  | { kind: 'set'; element: SchemaType }
  | {
      kind: 'record';
      attributes: ReadonlyMap<string, { type: SchemaType; required: boolean }>;
      open: boolean;
    }
  | { kind: 'entity'; name: string };

export interface EntityTypeShape {
  attributes: SchemaType & { kind: 'record' };
  tags: SchemaType | undefined;
  memberOf: ReadonlySet<string>;
}

export interface ActionShape {
  principals: ReadonlySet<string>;
  resources: ReadonlySet<string>;
  context: SchemaType & { kind: 'record' };
  /** Keys of the action groups it is in, transitively. */
  ancestors: ReadonlySet<string>;
}

/** What the evaluator needs of a schema. */
export interface SchemaModel {
  entityTypes: ReadonlyMap<string, EntityTypeShape>;
  /** By action entity key (`Ns::Action` NUL id). */
  actions: ReadonlyMap<string, ActionShape>;
}

/** An entity of a checked request. */
export interface CheckedEntity {
  attributes: RecordValue;
  tags: ReadonlyMap<string, Value> | undefined;
  parents: readonly EntityValue[];
}

/** A request that passed the check, as evaluator values. */
export interface CheckedRequest {
  principal: EntityValue;
  action: EntityValue;
  resource: EntityValue;
  context: RecordValue;
  entities: ReadonlyMap<string, CheckedEntity>;
}

/** Text Cedar can take: a lone UTF-16 surrogate cannot cross into Cedar (its JSON refuses it). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function text(value: unknown): string {
  return typeof value === 'string' && !LONE_SURROGATE.test(value) ? value : defer();
}

/** A plain JSON object (not an array, a Date or any other class instance). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function uidOf(json: unknown): EntityValue {
  if (!isPlainObject(json)) return defer();
  const inner = '__entity' in json ? json.__entity : json;
  if (!isPlainObject(inner)) return defer();
  return new EntityValue(text(inner.type), text(inner.id));
}

/** A JSON value of the expected type as an evaluator value; anything else defers. */
export function checkedValue(json: unknown, type: SchemaType, model: SchemaModel): Value {
  switch (type.kind) {
    case 'string':
      return text(json);
    case 'bool':
      return typeof json === 'boolean' ? json : defer();
    case 'long':
      return typeof json === 'number' && Number.isSafeInteger(json) ? json : defer();
    case 'ipaddr': {
      // `{ "__extn": { "fn": "ip", "arg": "<IPv4>" } }` (Cedar ignores other fields inside it);
      // any other spelling is Cedar's to judge.
      if (!isPlainObject(json) || Object.keys(json).length !== 1) return defer();
      const extn = json.__extn;
      if (!isPlainObject(extn) || extn.fn !== 'ip' || typeof extn.arg !== 'string') return defer();
      return parseIpv4(extn.arg) ?? defer();
    }
    case 'set':
      if (!Array.isArray(json)) return defer();
      return new SetValue(json.map((item) => checkedValue(item, type.element, model)));
    case 'record':
      return recordOf(json, type, model);
    case 'entity': {
      // Only the explicit `__entity` escape: the implicit form is Cedar's to interpret.
      if (typeof json !== 'object' || json === null || !('__entity' in json)) return defer();
      const ref = uidOf(json);
      return ref.type === type.name && model.entityTypes.has(ref.type) ? ref : defer();
    }
  }
}

function recordOf(json: unknown, type: SchemaType & { kind: 'record' }, model: SchemaModel): RecordValue {
  if (type.open || !isPlainObject(json) || '__entity' in json || '__extn' in json) return defer();
  const fields = new Map<string, Value>();
  for (const name in json) {
    const declared = type.attributes.get(name);
    if (declared === undefined) return defer();
    fields.set(name, checkedValue((json as Record<string, unknown>)[name], declared.type, model));
  }
  for (const [name, declared] of type.attributes) if (declared.required && !fields.has(name)) defer();
  return new RecordValue(fields);
}

function checkedEntity(json: EntityJson, model: SchemaModel): [EntityValue, CheckedEntity] {
  if (!isPlainObject(json)) return defer();
  const ref = uidOf(json.uid);
  const shape = model.entityTypes.get(ref.type) ?? defer();
  // Cedar requires both fields (null or absent is an error there).
  const rawParents: unknown = json.parents;
  if (!Array.isArray(rawParents)) return defer();
  const parents = rawParents.map((p: unknown) => {
    const parent = uidOf(p);
    return shape.memberOf.has(parent.type) ? parent : defer();
  });
  const attributes = recordOf(json.attrs, shape.attributes, model);
  const rawTags: unknown = (json as { tags?: unknown }).tags;
  let tags: Map<string, Value> | undefined;
  if (rawTags !== undefined) {
    if (!isPlainObject(rawTags)) return defer();
    const names = Object.keys(rawTags);
    if (names.length > 0) {
      const tagType = shape.tags ?? defer();
      tags = new Map(names.map((n) => [text(n), checkedValue(rawTags[n], tagType, model)]));
    }
  }
  return [ref, { attributes, tags, parents }];
}

/**
 * Checks a request against the schema model and converts it.
 *
 * @throws DeferToCedar whenever it cannot vouch for the request.
 */
export function checkRequest(
  request: {
    principal: TypeAndId;
    action: TypeAndId;
    resource: TypeAndId;
    context: unknown;
    entities: readonly EntityJson[];
  },
  model: SchemaModel,
): CheckedRequest {
  const principal = uidOf(request.principal);
  const action = uidOf(request.action);
  const resource = uidOf(request.resource);
  const shape = model.actions.get(action.key) ?? defer();
  if (!shape.principals.has(principal.type) || !shape.resources.has(resource.type)) defer();
  const context = recordOf(request.context, shape.context, model);
  const entities = new Map<string, CheckedEntity>();
  for (const json of request.entities) {
    const [ref, entity] = checkedEntity(json, model);
    // Duplicates, and action entities (Cedar takes those from the schema), are Cedar's to judge.
    if (entities.has(ref.key) || model.actions.has(ref.key)) defer();
    entities.set(ref.key, entity);
  }
  if (hasCycle(entities)) defer();
  return { principal, action, resource, context, entities };
}

/** Cedar refuses an entity hierarchy with a cycle (its transitive closure fails). */
function hasCycle(entities: ReadonlyMap<string, CheckedEntity>): boolean {
  const done = new Set<string>();
  const onPath = new Set<string>();
  const visit = (key: string): boolean => {
    if (onPath.has(key)) return true;
    if (done.has(key)) return false;
    onPath.add(key);
    for (const parent of entities.get(key)?.parents ?? []) if (visit(parent.key)) return true;
    onPath.delete(key);
    done.add(key);
    return false;
  };
  for (const key of entities.keys()) if (visit(key)) return true;
  return false;
}
