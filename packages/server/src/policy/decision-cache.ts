import { randomInt } from 'node:crypto';
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

/** Questions sharing one hash kept at most (a collision flood cannot grow a chain further). */
const MAX_CHAIN = 8;
/** Nesting deeper than this is not cached (the walk is recursive). */
const MAX_DEPTH = 32;

interface Entry<V> {
  /** A private copy: the caller's objects may change after the answer is stored. */
  readonly question: DecisionQuestion;
  value: V;
  readonly next: Entry<V> | undefined;
}

/**
 * A bounded map of recent decisions of one policy-set version (the engine clears it when it
 * loads another), keyed by the question itself: a 32-bit hash of its whole structure (seeded per
 * cache) finds the candidates, and a comparison with the stored copy decides, so two different
 * questions never share an answer. Both walks allocate nothing and read the parts the engine
 * builds (uids, versions, the context of `cedarContext`) by name, which is several times cheaper
 * than building a key string and hashing that, or walking every object generically
 * (`npm run bench:policy`). Eviction drops the oldest tenth of the hashes at once
 * ({@link makeRoom}).
 *
 * Values compare as JSON does: strings, numbers (`===`), booleans, null, arrays in order, and
 * plain objects by their own fields in any order. Anything else (class instances, functions,
 * bigints, nesting beyond 32 levels) makes a question uncacheable rather than risk a false hit.
 */
export class DecisionCache<V> {
  readonly #buckets = new Map<number, Entry<V>>();
  readonly #limit: number;
  readonly #seed = randomInt(0x7fffffff);

  /** `limit` hashes kept, a question each bar collisions (0 disables caching). */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /**
   * The question's hash, or undefined when caching is off or the question is uncacheable. A
   * caller that looks up and then stores one question passes it to both, so it is walked once.
   */
  hash(question: DecisionQuestion): number | undefined {
    return this.#limit === 0 ? undefined : hashOrUndefined(question, this.#seed);
  }

  get(question: DecisionQuestion, hash = this.hash(question)): V | undefined {
    if (hash === undefined) return undefined;
    for (let e = this.#buckets.get(hash); e !== undefined; e = e.next) {
      if (sameQuestion(e.question, question, hash)) return e.value;
    }
    return undefined;
  }

  set(question: DecisionQuestion, value: V, hash = this.hash(question)): void {
    if (hash === undefined) return;
    const head = this.#buckets.get(hash);
    let chain = 0;
    for (let e = head; e !== undefined; e = e.next, chain++) {
      if (sameQuestion(e.question, question, hash)) {
        e.value = value;
        return;
      }
    }
    if (chain >= MAX_CHAIN) return;
    if (head === undefined) makeRoom(this.#buckets, this.#limit);
    this.#buckets.set(hash, { question: copyQuestion(question), value, next: head });
  }

  clear(): void {
    this.#buckets.clear();
  }

  /** Questions held. */
  get size(): number {
    let n = 0;
    for (const head of this.#buckets.values()) {
      for (let e: Entry<V> | undefined = head; e !== undefined; e = e.next) n++;
    }
    return n;
  }
}

/**
 * A private copy of a question that was hashed (so it is plain data throughout). Written out:
 * `structuredClone` cost about 8 µs more per stored question (a miss), half an uncached decision.
 */
function copyQuestion(q: DecisionQuestion): DecisionQuestion {
  return {
    principal: { type: q.principal.type, id: q.principal.id },
    version: q.version,
    action: q.action,
    resources: copyValue(q.resources) as EntityJson[],
    context: copyValue(q.context) as Context,
  };
}

function copyValue(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(copyValue);
  const copy: Record<string, unknown> = {};
  for (const name in value) copy[name] = copyValue((value as Record<string, unknown>)[name]);
  return copy;
}

/** Thrown inside the walk for a value the cache does not compare. */
const UNCACHEABLE = Symbol('uncacheable');

function hashOrUndefined(question: DecisionQuestion, seed: number): number | undefined {
  try {
    return hashQuestion(seed, question);
  } catch (error) {
    if (error === UNCACHEABLE) return undefined;
    throw error;
  }
}

// FNV-1a, 32-bit, over UTF-16 code units: quick, and a collision only costs a comparison.
const PRIME = 0x01000193;

function mix(h: number, n: number): number {
  return Math.imul(h ^ n, PRIME);
}

function hashText(h: number, text: string): number {
  let x = mix(h, text.length);
  for (let i = 0; i < text.length; i++) x = Math.imul(x ^ text.charCodeAt(i), PRIME);
  return x;
}

function hashNumber(h: number, n: number): number {
  return (n | 0) === n ? mix(mix(h, 2), n) : hashText(mix(h, 3), String(n));
}

/**
 * The question's hash. Its lowest bit tells how the context was hashed (1: the shape
 * `cedarContext` builds, read field by field; 0: generically), so questions in one chain share
 * the form and {@link sameQuestion} knows which comparison applies.
 */
function hashQuestion(seed: number, q: DecisionQuestion): number {
  let h = hashText(hashText(seed, q.principal.type), q.principal.id);
  h = hashText(hashText(h, q.version), q.action);
  h = mix(h, q.resources.length);
  for (const entity of q.resources) h = hashEntity(h, entity);
  return isBuiltContext(q.context) ? hashBuiltContext(h, q.context) | 1 : hashValue(h, q.context, 0) & ~1;
}

/** An entity as the engine builds one: its uid (either form), attributes, parents and tags. */
function hashEntity(h: number, entity: EntityJson): number {
  const uid = plainUid(entity.uid);
  let x = hashText(hashText(h, uid.type), uid.id);
  x = hashValue(x, entity.attrs, 0);
  x = hashValue(x, entity.parents, 0);
  return hashValue(x, (entity as { tags?: unknown }).tags, 0);
}

function sameEntity(a: EntityJson, b: EntityJson): boolean {
  const x = plainUid(a.uid);
  const y = plainUid(b.uid);
  return (
    x.type === y.type &&
    x.id === y.id &&
    sameValue(a.attrs, b.attrs) &&
    sameValue(a.parents, b.parents) &&
    sameValue((a as { tags?: unknown }).tags, (b as { tags?: unknown }).tags)
  );
}

/** The context `cedarContext` builds, as the fields it may hold. */
interface BuiltContext {
  time?: { hour: number; minute: number; weekday: number };
  mfa?: number;
  network?: { ip: { __extn: { fn: 'ip'; arg: string } }; zone: string };
  risk?: number;
  device?: unknown;
}

const BUILT_FIELDS = ['time', 'mfa', 'network', 'risk', 'device'] as const;

function fieldCount(value: object): number {
  let n = 0;
  for (const _ in value) n++;
  return n;
}

/** Whether the context has exactly the shape `cedarContext` builds (nothing more in any part). */
function isBuiltContext(context: Context): context is Context & BuiltContext {
  for (const name in context) {
    if (name !== 'time' && name !== 'mfa' && name !== 'network' && name !== 'risk' && name !== 'device') {
      return false;
    }
  }
  const c = context as {
    time?: { hour?: unknown; minute?: unknown; weekday?: unknown };
    mfa?: unknown;
    network?: { ip?: { __extn?: { fn?: unknown; arg?: unknown } }; zone?: unknown };
    risk?: unknown;
  };
  const { time, network } = c;
  if (
    time !== undefined &&
    (typeof time !== 'object' ||
      time === null ||
      typeof time.hour !== 'number' ||
      typeof time.minute !== 'number' ||
      typeof time.weekday !== 'number' ||
      fieldCount(time) !== 3)
  ) {
    return false;
  }
  if (
    (c.mfa !== undefined && typeof c.mfa !== 'number') ||
    (c.risk !== undefined && typeof c.risk !== 'number')
  ) {
    return false;
  }
  if (network === undefined) return true;
  if (typeof network !== 'object' || network === null || typeof network.zone !== 'string') return false;
  const ip = network.ip;
  if (typeof ip !== 'object' || ip === null) return false;
  const extn = ip.__extn;
  return (
    typeof extn === 'object' &&
    extn !== null &&
    extn.fn === 'ip' &&
    typeof extn.arg === 'string' &&
    fieldCount(network) === 2 &&
    fieldCount(ip) === 1 &&
    fieldCount(extn) === 2
  );
}

function hashBuiltContext(h: number, c: BuiltContext): number {
  const { time, network } = c;
  let x = time === undefined ? mix(h, 6) : mix(mix(mix(mix(h, 10), time.hour), time.minute), time.weekday);
  x = c.mfa === undefined ? mix(x, 6) : hashNumber(x, c.mfa);
  x = network === undefined ? mix(x, 6) : hashText(hashText(x, network.ip.__extn.arg), network.zone);
  x = c.risk === undefined ? mix(x, 6) : hashNumber(x, c.risk);
  return hashValue(x, c.device, 0);
}

/** Both contexts have the built shape (their hashes say so). */
function sameBuiltContext(a: BuiltContext, b: BuiltContext): boolean {
  const at = a.time;
  const bt = b.time;
  const an = a.network;
  const bn = b.network;
  if (
    (at === undefined
      ? bt !== undefined
      : bt === undefined || at.hour !== bt.hour || at.minute !== bt.minute || at.weekday !== bt.weekday) ||
    a.mfa !== b.mfa ||
    a.risk !== b.risk ||
    (an === undefined
      ? bn !== undefined
      : bn === undefined || an.zone !== bn.zone || an.ip.__extn.arg !== bn.ip.__extn.arg) ||
    !sameValue(a.device, b.device)
  ) {
    return false;
  }
  // A field present as undefined is not the same as one left out.
  for (const name of BUILT_FIELDS) {
    if (a[name] === undefined && name in a !== name in b) return false;
  }
  return true;
}

function sameQuestion(stored: DecisionQuestion, q: DecisionQuestion, hash: number): boolean {
  if (
    stored.principal.id !== q.principal.id ||
    stored.principal.type !== q.principal.type ||
    stored.version !== q.version ||
    stored.action !== q.action ||
    stored.resources.length !== q.resources.length
  ) {
    return false;
  }
  for (let i = 0; i < q.resources.length; i++) {
    if (!sameEntity(stored.resources[i] as EntityJson, q.resources[i] as EntityJson)) return false;
  }
  return (hash & 1) === 1
    ? sameBuiltContext(stored.context as BuiltContext, q.context as BuiltContext)
    : sameValue(stored.context, q.context);
}

/** Any value, tagged by kind so `"1"` and `1`, `[]` and `{}` differ; fields summed, so their order does not matter. */
function hashValue(h: number, value: unknown, depth: number): number {
  switch (typeof value) {
    case 'string':
      return hashText(mix(h, 1), value);
    case 'number':
      return hashNumber(h, value);
    case 'boolean':
      return mix(h, value ? 4 : 5);
    case 'undefined':
      return mix(h, 6);
    case 'object': {
      if (value === null) return mix(h, 7);
      if (depth >= MAX_DEPTH) throw UNCACHEABLE;
      if (Array.isArray(value)) {
        let x = mix(mix(h, 8), value.length);
        for (const item of value) x = hashValue(x, item, depth + 1);
        return x;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw UNCACHEABLE;
      let fields = 0;
      let sum = 0;
      for (const name in value) {
        // Each field from the object's own starting point: the sum is the same in any order.
        sum = (sum + hashValue(hashText(h, name), (value as Record<string, unknown>)[name], depth + 1)) | 0;
        fields++;
      }
      return mix(mix(mix(h, 9), fields), sum);
    }
    default:
      throw UNCACHEABLE;
  }
}

/** `stored` is a copy made by {@link copyQuestion} (plain data); `value` was hashed, so it is plain too. */
function sameValue(stored: unknown, value: unknown): boolean {
  if (stored === value) return true;
  if (typeof stored !== 'object' || typeof value !== 'object' || stored === null || value === null)
    return false;
  if (Array.isArray(stored)) {
    if (!Array.isArray(value) || value.length !== stored.length) return false;
    for (let i = 0; i < stored.length; i++) if (!sameValue(stored[i], value[i])) return false;
    return true;
  }
  if (Array.isArray(value)) return false;
  let fields = 0;
  for (const name in stored) {
    if (
      !Object.hasOwn(value, name) ||
      !sameValue((stored as Record<string, unknown>)[name], (value as Record<string, unknown>)[name])
    ) {
      return false;
    }
    fields++;
  }
  for (const _ in value) fields--;
  return fields === 0;
}
