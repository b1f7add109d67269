import type { Context, EntityJson, TypeAndId } from './cedar.js';

/**
 * A bounded map of recent decisions. Keys carry the policy-set version and the entities'
 * versions, so a new version simply stops matching old entries; nothing has to be flushed.
 * Eviction drops the oldest tenth at once (cheap under steady churn).
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
    if (this.#entries.size >= this.#limit) {
      let evict = Math.max(1, Math.ceil(this.#limit / 10));
      for (const old of this.#entries.keys()) {
        this.#entries.delete(old);
        if (--evict <= 0) break;
      }
    }
    this.#entries.set(key, value);
  }

  get size(): number {
    return this.#entries.size;
  }
}

/**
 * The cache key of a question: principal, its entities' version, action, resource entities and
 * context. Every part is self-delimiting (strings and objects as JSON, numbers fenced), so two
 * different questions never share a key, whatever characters ids hold. The context the PDP builds
 * (`cedarContext`: time, mfa, network, risk, device) is written field by field; any other shape
 * falls back to JSON. About 3× cheaper than `JSON.stringify` of the whole question, which was most
 * of a cached decision's time.
 */
export function decisionKey(
  principal: TypeAndId,
  version: string,
  action: string,
  resources: EntityJson | readonly EntityJson[],
  context: Context,
): string {
  const q = JSON.stringify;
  let key = q(principal.type) + q(principal.id) + q(version) + q(action);
  for (const r of Array.isArray(resources)
    ? (resources as readonly EntityJson[])
    : [resources as EntityJson]) {
    key += `${q(r.uid)}${q(r.attrs ?? null)}${q(r.parents ?? null)}`;
  }
  return key + contextKey(context);
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
  if (time !== undefined && (typeof time.hour !== 'number' || typeof time.minute !== 'number')) {
    return `J${JSON.stringify(context)}`;
  }
  if (network !== undefined && typeof network.ip?.__extn?.arg !== 'string')
    return `J${JSON.stringify(context)}`;
  return (
    `T${time === undefined ? '-' : `${time.hour},${time.minute},${time.weekday}`}` +
    `M${c.mfa ?? '-'}` +
    `N${network === undefined ? '-' : JSON.stringify(network.ip.__extn.arg) + JSON.stringify(network.zone)}` +
    `R${c.risk ?? '-'}` +
    `D${c.device === undefined ? '-' : JSON.stringify(c.device)}`
  );
}
