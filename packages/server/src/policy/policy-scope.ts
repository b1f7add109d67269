import type { EntityJson, TypeAndId } from './cedar.js';
import { ancestorKeys } from './hierarchy.js';

/**
 * A policy's scope (its `principal`, `action` and `resource` constraints), kept so the engine
 * hands Cedar only the policies that can apply to a request. A policy whose scope excludes a
 * request is never satisfied and never evaluates its conditions (Cedar checks the scope first),
 * so leaving it out changes neither the decision nor its reasons nor its errors; it only saves
 * Cedar the work, which grows with every policy it is given.
 */
export interface PolicyScope {
  principal: EntityScope;
  action: ActionScope;
  resource: EntityScope;
}

/** `principal` / `resource` constraint: any, `== uid`, `in uid`, `is Type`, `is Type in uid`. */
export type EntityScope =
  | { op: 'all' }
  | { op: 'eq'; uid: string }
  | { op: 'in'; uid: string }
  | { op: 'is'; type: string; in?: string };

/** `action` constraint: any, or one of these action uids (`==` or `in [...]` without action groups). */
export type ActionScope = { op: 'all' } | { op: 'ids'; ids: ReadonlySet<string> };

/** `Gatehouse::User::"alice"`. */
export function uidKey(uid: { type: string; id: string }): string {
  return `${uid.type}::${JSON.stringify(uid.id)}`;
}

interface JsonEntityScope {
  op: string;
  entity?: TypeAndId;
  entity_type?: string;
  in?: { entity?: TypeAndId };
  entities?: TypeAndId[];
}

/** The scope of a policy from Cedar's JSON form; anything unfamiliar counts as "any". */
export function scopeOf(
  json: { principal: unknown; action: unknown; resource: unknown },
  actionGroups: boolean,
): PolicyScope {
  return {
    principal: entityScope(json.principal as JsonEntityScope),
    action: actionScope(json.action as JsonEntityScope, actionGroups),
    resource: entityScope(json.resource as JsonEntityScope),
  };
}

function entityScope(c: JsonEntityScope): EntityScope {
  if (c.op === '==' && c.entity) return { op: 'eq', uid: uidKey(c.entity) };
  if (c.op === 'in' && c.entity) return { op: 'in', uid: uidKey(c.entity) };
  if (c.op === 'is' && c.entity_type) {
    return c.in?.entity
      ? { op: 'is', type: c.entity_type, in: uidKey(c.in.entity) }
      : { op: 'is', type: c.entity_type };
  }
  return { op: 'all' };
}

function actionScope(c: JsonEntityScope, actionGroups: boolean): ActionScope {
  if (c.op === '==' && c.entity) return { op: 'ids', ids: new Set([uidKey(c.entity)]) };
  // With action groups, `in` also reaches the group's members: keep such policies for every action.
  if (!actionGroups && c.op === 'in' && c.entity) return { op: 'ids', ids: new Set([uidKey(c.entity)]) };
  if (!actionGroups && c.op === 'in' && c.entities)
    return { op: 'ids', ids: new Set(c.entities.map(uidKey)) };
  return { op: 'all' };
}

/** An entity with the uids it is `in`: itself and its ancestors as far as the request's entities tell. */
export function lineage(uid: TypeAndId, entities: readonly EntityJson[]): Set<string> {
  const parents = new Map<string, string[]>();
  for (const e of entities)
    parents.set(
      uidKey(plainUid(e.uid)),
      e.parents.map((p) => uidKey(plainUid(p))),
    );
  const own = uidKey(uid);
  return ancestorKeys(own, (key) => parents.get(key)).add(own);
}

/** A uid in Cedar's plain form, whichever form it came in. */
export function plainUid(uid: TypeAndId | { __entity: TypeAndId }): TypeAndId {
  return '__entity' in uid ? uid.__entity : uid;
}

/** Whether an entity constraint can hold for an entity of `type` whose lineage is `within`. */
export function entityMayMatch(
  scope: EntityScope,
  type: string,
  self: string,
  within: ReadonlySet<string>,
): boolean {
  switch (scope.op) {
    case 'all':
      return true;
    case 'eq':
      return scope.uid === self;
    case 'in':
      return within.has(scope.uid);
    case 'is':
      return scope.type === type && (scope.in === undefined || within.has(scope.in));
  }
}
