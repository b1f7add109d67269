import type { ClientRecord, UserRecord } from '@gatehouse/core';
import type { EntityJson, TypeAndId } from './cedar.js';
import { NAMESPACE } from './policy-set.js';

/** `Gatehouse::<type>` with an id. */
export function uid(type: string, id: string): TypeAndId {
  return { type: `${NAMESPACE}::${type}`, id };
}

/** What the PDP knows of a subject: its entities (principal first) and a version for the cache key. */
export interface SubjectEntities {
  principal: TypeAndId;
  entities: EntityJson[];
  /** Changes whenever any attribute, role or group changes. */
  version: string;
}

/** Tags are strings in the schema: numbers and booleans are written out as text. */
function tags(attributes: Readonly<Record<string, string | number | boolean>>): Record<string, string> {
  return Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, String(v)]));
}

/** The parents of a user: `Role::"…"` for each role, `Group::"…"` for each group. */
function memberships(roles: readonly string[], groups: readonly string[]): TypeAndId[] {
  return [...roles.map((r) => uid('Role', r)), ...groups.map((g) => uid('Group', g))];
}

/**
 * A user of the user store as a Cedar principal: roles and groups are parents, attributes are
 * string tags.
 */
export function userEntities(user: UserRecord): SubjectEntities {
  const principal = uid('User', user.id);
  return {
    principal,
    entities: [
      {
        uid: principal,
        attrs: { username: user.username, disabled: user.disabled },
        parents: memberships(user.roles, user.groups),
        tags: tags(user.attributes),
      },
    ],
    version: `u${user.updatedAt}`,
  };
}

/** A registered client as a Cedar principal, with its scopes. */
export function clientEntities(client: ClientRecord): SubjectEntities {
  const principal = uid('Client', client.id);
  return {
    principal,
    entities: [{ uid: principal, attrs: { scopes: client.scopes }, parents: [] }],
    version: `c${client.updatedAt}`,
  };
}

/**
 * A principal described by what its token says (the gateway: no store lookup on the hot path):
 * a client for client-credentials tokens and API keys, a user otherwise.
 */
export function tokenEntities(token: {
  sub: string;
  clientId: string | undefined;
  scopes: readonly string[];
  roles: readonly string[];
  groups: readonly string[];
}): SubjectEntities {
  if (token.clientId !== undefined && (token.sub === token.clientId || token.sub.startsWith('apikey:'))) {
    const principal = uid('Client', token.clientId);
    return {
      principal,
      entities: [{ uid: principal, attrs: { scopes: [...token.scopes] }, parents: [] }],
      version: `t${JSON.stringify(token.scopes)}`,
    };
  }
  const principal = uid('User', token.sub);
  return {
    principal,
    entities: [
      { uid: principal, attrs: { disabled: false }, parents: memberships(token.roles, token.groups) },
    ],
    // JSON, not joined: roles ["a b"] and ["a", "b"] are different parents.
    version: `t${JSON.stringify([token.roles, token.groups])}`,
  };
}
