import { makeRoom } from '../internal/bounded-map.js';
import type { Context, EntityJson, TypeAndId } from './cedar.js';

/**
 * A bounded map of recent decisions of one policy-set version (the engine clears it when it
 * loads another). Keys carry the entities' versions, so a changed user simply stops matching
 * old entries. Eviction drops the oldest tenth at once ({@link makeRoom}).
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
 * The cache key of a question: principal, its entities' version, action, resource entities and
 * context. Every part is self-delimiting (strings length-prefixed, objects as JSON, numbers
 * fenced by letters), so two different questions never share a key, whatever characters ids
 * hold. The context the PDP builds (`cedarContext`: time, mfa, network, risk, device) is written
 * field by field; any other shape falls back to JSON. Several times cheaper than `JSON.stringify`
 * of the whole question, which was most of a cached decision's time.
 */
export function decisionKey(
  principal: TypeAndId,
  version: string,
  action: string,
  resources: EntityJson | readonly EntityJson[],
  context: Context,
): string {
  let key = part(principal.type) + part(principal.id) + part(version) + part(action);
  for (const r of Array.isArray(resources)
    ? (resources as readonly EntityJson[])
    : [resources as EntityJson]) {
    const uid = '__entity' in r.uid ? r.uid.__entity : r.uid;
    key += part(uid.type) + part(uid.id) + json(r.attrs) + json(r.parents);
  }
  return key + contextKey(context);
}

/** A string as `<length>:<text>`: unambiguous without escaping anything. */
function part(text: string): string {
  return `${text.length}:${text}`;
}

/** An attribute object or parent list as JSON, the empty ones (the usual case) spelled directly. */
function json(value: unknown): string {
  if (value === undefined || value === null) return 'n';
  if (Array.isArray(value) && value.length === 0) return '[]';
  if (typeof value === 'object' && Object.keys(value).length === 0) return '{}';
  return JSON.stringify(value);
}

const CONTEXT_FIELDS = new Set(['time', 'mfa', 'network', 'risk', 'device']);

function contextKey(context: Context): string {
  const c = context as {
    time?: { hour: number; minute: number; weekday: number };
    mfa?: number;
    network?: { ip: { __extn: { arg: string } }; zone: string };
    risk?: number;
    device?: Record<string, unknown>;
  };
  for (const name in context) if (!CONTEXT_FIELDS.has(name)) return `J${JSON.stringify(context)}`;
  const { time, network } = c;
  const notNumber = (v: unknown) => v !== undefined && typeof v !== 'number';
  if (
    (time !== undefined &&
      (typeof time.hour !== 'number' ||
        typeof time.minute !== 'number' ||
        typeof time.weekday !== 'number')) ||
    notNumber(c.mfa) ||
    notNumber(c.risk)
  ) {
    return `J${JSON.stringify(context)}`;
  }
  // Only the shape cedarContext builds takes the fast path; anything else is keyed by its JSON.
  if (
    network !== undefined &&
    (typeof network.ip?.__extn?.arg !== 'string' ||
      (network.ip.__extn as { fn?: unknown }).fn !== 'ip' ||
      typeof network.zone !== 'string')
  ) {
    return `J${JSON.stringify(context)}`;
  }
  return (
    `T${time === undefined ? '-' : `${time.hour},${time.minute},${time.weekday}`}` +
    `M${c.mfa ?? '-'}` +
    `N${network === undefined ? '-' : part(network.ip.__extn.arg) + part(network.zone)}` +
    `R${c.risk ?? '-'}` +
    `D${c.device === undefined ? '-' : JSON.stringify(c.device)}`
  );
}
