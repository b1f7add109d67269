import { makeRoom } from '../internal/bounded-map.js';
import type { Context, EntityJson, TypeAndId } from './cedar.js';
import { plainUid } from './policy-scope.js';

/**
 * What identifies a question for the decision cache: the principal and its entities' version
 * (which changes whenever a role, group or attribute does), the action, the resource entities as
 * described and the context. The principal's entities are not part of it: their version stands
 * for them.
 */
export interface DecisionQuestion {
  principal: TypeAndId;
  version: string;
  action: string;
  resources: readonly EntityJson[];
  context: Context;
}

/**
 * A bounded map of recent decisions of one policy-set version (the engine clears it when it
 * loads another), keyed by {@link decisionKey}. Eviction drops the oldest tenth at once
 * ({@link makeRoom}).
 */
export class DecisionCache<V> {
  readonly #entries = new Map<string, V>();
  readonly #limit: number;

  /** `limit` 0 disables caching. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  get(key: string): V | undefined {
    return this.#entries.get(key);
  }

  set(key: string, value: V): void {
    if (this.#limit === 0) return;
    makeRoom(this.#entries, this.#limit);
    this.#entries.set(key, value);
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}

/**
 * The cache key of a question. Every part is self-delimiting (strings length-prefixed, numbers
 * terminated, records and lists bracketed), so two different questions never share a key,
 * whatever characters ids hold. Written by hand and kept short (the Gatehouse namespace
 * abbreviated, the context `cedarContext` builds written field by field without names): building
 * and hashing the key is most of a cached decision's time (`npm run bench:policy`), and
 * `JSON.stringify` of the question costs several times more.
 */
export function decisionKey(q: DecisionQuestion): string {
  let key = `${typePart(q.principal.type)}${part(q.principal.id)}${part(q.version)}${part(q.action)}R${q.resources.length};`;
  for (const r of q.resources) key += resourceKey(r);
  return key + contextKey(q.context);
}

function resourceKey(r: EntityJson): string {
  const uid = plainUid(r.uid);
  const { tags } = r as { tags?: unknown };
  return (
    typePart(uid.type) +
    part(uid.id) +
    valueKey(r.attrs) +
    valueKey(r.parents) +
    (tags === undefined ? '' : `T${valueKey(tags)}`)
  );
}

/** A string as `<length>:<text>`: unambiguous without escaping anything. */
function part(text: string): string {
  return `${text.length}:${text}`;
}

/** An entity type, the Gatehouse namespace shortened to `~` (other types written in full). */
function typePart(type: string): string {
  return type.startsWith('Gatehouse::') ? `~${part(type.slice(11))}` : part(type);
}

/** Any JSON-like value: `s<len>:<text>`, `n<number>;`, `t`/`f`, `z` (null), `[…]`, `{<len>:<name><value>…}`. */
function valueKey(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return `s${value.length}:${value}`;
    case 'number':
      return `n${value};`;
    case 'boolean':
      return value ? 't' : 'f';
    case 'object': {
      if (value === null) return 'z';
      if (Array.isArray(value)) {
        let out = '[';
        for (const item of value) out += valueKey(item);
        return `${out}]`;
      }
      let out = '{';
      for (const name in value) out += part(name) + valueKey((value as Record<string, unknown>)[name]);
      return `${out}}`;
    }
    default:
      return 'u';
  }
}

function fieldCount(value: object): number {
  let n = 0;
  for (const _ in value) n++;
  return n;
}

/**
 * The context: the shape `cedarContext` builds field by field (`C…`), anything else generically
 * (`G…`), so the two never meet.
 */
function contextKey(context: Context): string {
  let fields = 0;
  for (const name in context) {
    switch (name) {
      case 'time':
      case 'mfa':
      case 'network':
      case 'risk':
      case 'device':
        fields++;
        break;
      default:
        return `G${valueKey(context)}`;
    }
  }
  const c = context as {
    time?: { hour?: unknown; minute?: unknown; weekday?: unknown };
    mfa?: unknown;
    network?: { ip?: { __extn?: { fn?: unknown; arg?: unknown } }; zone?: unknown };
    risk?: unknown;
    device?: unknown;
  };
  const { time, network } = c;
  const extn = network?.ip?.__extn;
  if (
    (time !== undefined &&
      (typeof time.hour !== 'number' ||
        typeof time.minute !== 'number' ||
        typeof time.weekday !== 'number' ||
        fieldCount(time) !== 3)) ||
    (c.mfa !== undefined && typeof c.mfa !== 'number') ||
    (c.risk !== undefined && typeof c.risk !== 'number') ||
    (network !== undefined &&
      (extn === undefined ||
        extn.fn !== 'ip' ||
        typeof extn.arg !== 'string' ||
        typeof network.zone !== 'string' ||
        fieldCount(network) !== 2 ||
        fieldCount(network.ip as object) !== 1 ||
        fieldCount(extn) !== 2))
  ) {
    return `G${valueKey(context)}`;
  }
  return (
    `C${fields};` +
    (time === undefined ? '-' : `${time.hour},${time.minute},${time.weekday};`) +
    (c.mfa === undefined ? '-' : `${c.mfa};`) +
    (network === undefined ? '-' : part(extn?.arg as string) + part(network.zone as string)) +
    (c.risk === undefined ? '-' : `${c.risk};`) +
    (c.device === undefined ? '-' : valueKey(c.device))
  );
}
