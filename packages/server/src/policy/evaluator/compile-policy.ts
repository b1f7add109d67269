/**
 * Compiles one Cedar policy, in Cedar's JSON form (what `policyToJson` returns), into a JavaScript
 * function of a checked request. Cedar's semantics are kept for every expression it compiles:
 * the scope first, then `when`/`unless` in order with `&&`/`||` short-circuiting, structural
 * equality, `in` over the entities' transitive parents. Where Cedar would raise an evaluation
 * error (a missing attribute or tag, a wrong operand type, an overflow) the function defers to
 * Cedar, which reports it exactly. A construct it does not know makes compilation fail, and the
 * engine then leaves the whole policy set to Cedar.
 */
import type { CheckedRequest, SchemaModel } from './request-check.js';
import {
  defer,
  EntityValue,
  IpValue,
  parseIpv4,
  RecordValue,
  SetValue,
  setHas,
  type Value,
  valuesEqual,
} from './values.js';

/** A compiled expression. */
type Expr = (request: EvaluationScope) => Value;

/** A checked request plus the memo of entity ancestors computed while evaluating it. */
export interface EvaluationScope extends CheckedRequest {
  ancestorMemo: Map<string, ReadonlySet<string>>;
  /** The schema's actions (their groups are their ancestors). */
  actions: SchemaModel['actions'];
}

/** A compiled policy: whether it is satisfied by a request. */
export interface CompiledPolicy {
  id: string;
  effect: 'permit' | 'forbid';
  satisfied: (request: EvaluationScope) => boolean;
}

/** Raised at compile time for constructs the evaluator does not model. */
export class UnsupportedPolicy extends Error {}

function unsupported(what: string): never {
  throw new UnsupportedPolicy(what);
}

const EMPTY: ReadonlySet<string> = new Set();

/** Keys of every ancestor of an entity: its parents, theirs, and so on (Cedar's transitive closure). */
function ancestorsOf(request: EvaluationScope, entity: EntityValue): ReadonlySet<string> {
  const known = request.ancestorMemo.get(entity.key);
  if (known !== undefined) return known;
  const action = request.actions.get(entity.key);
  if (action !== undefined) return action.ancestors;
  // Written out (not the shared ancestorKeys): this runs per request on the decision path.
  const found = new Set<string>();
  const stack = [entity.key];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    for (const parent of request.entities.get(next)?.parents ?? []) {
      if (found.has(parent.key)) continue;
      found.add(parent.key);
      stack.push(parent.key);
    }
  }
  const result = found.size === 0 ? EMPTY : found;
  request.ancestorMemo.set(entity.key, result);
  return result;
}

/** Cedar's `in` between an entity and one entity key: itself or an ancestor. */
function isIn(request: EvaluationScope, entity: EntityValue, key: string): boolean {
  return entity.key === key || ancestorsOf(request, entity).has(key);
}

function entityIn(request: EvaluationScope, entity: EntityValue, target: Value): boolean {
  if (target instanceof EntityValue) return isIn(request, entity, target.key);
  if (target instanceof SetValue) {
    for (const item of target.items) {
      if (!(item instanceof EntityValue)) return defer();
      if (isIn(request, entity, item.key)) return true;
    }
    return false;
  }
  return defer();
}

const asBool = (v: Value): boolean => (typeof v === 'boolean' ? v : defer());
const asLong = (v: Value): number => (typeof v === 'number' ? v : defer());
const asString = (v: Value): string => (typeof v === 'string' ? v : defer());
const asSet = (v: Value): SetValue => (v instanceof SetValue ? v : defer());
const asEntity = (v: Value): EntityValue => (v instanceof EntityValue ? v : defer());
const asIp = (v: Value): IpValue => (v instanceof IpValue ? v : defer());
/** Integer results must stay exact; beyond 2^53 Cedar (64-bit) decides, overflow included. */
const exact = (n: number): number => (Number.isSafeInteger(n) ? n : defer());

/** A literal from Cedar's JSON value form. */
function literal(json: unknown): Value {
  switch (typeof json) {
    case 'boolean':
    case 'string':
      return json;
    case 'number':
      return Number.isSafeInteger(json) ? json : unsupported('a Long beyond 2^53');
    case 'object': {
      if (json === null) return unsupported('null');
      if (Array.isArray(json)) return new SetValue(json.map(literal));
      if ('__entity' in json) {
        const { type, id } = (json as { __entity: { type?: unknown; id?: unknown } }).__entity;
        if (typeof type !== 'string' || typeof id !== 'string') return unsupported('an entity literal');
        return new EntityValue(type, id);
      }
      if ('__extn' in json) return unsupported('an extension literal');
      return new RecordValue(new Map(Object.entries(json).map(([k, v]) => [k, literal(v)])));
    }
    default:
      return unsupported(`a ${typeof json} literal`);
  }
}

function entityData(request: EvaluationScope, value: Value) {
  // A missing entity has no attributes or tags: Cedar raises (or answers) there; let it.
  return request.entities.get(asEntity(value).key) ?? defer();
}

/** `like` with `*` wildcards (Cedar's pattern: literal runs and wildcards), whole-string match. */
function likeMatcher(pattern: readonly unknown[]): (text: string) => boolean {
  const parts: (string | null)[] = pattern.map((p) => {
    if (p === 'Wildcard') return null;
    if (typeof p === 'object' && p !== null && typeof (p as { Literal?: unknown }).Literal === 'string') {
      return (p as { Literal: string }).Literal;
    }
    return unsupported('a like pattern element');
  });
  const chars: (string | null)[] = [];
  for (const part of parts) {
    if (part === null) chars.push(null);
    else for (const c of part) chars.push(c);
  }
  // Iterative wildcard matching, backtracking to the last star.
  return (text) => {
    const input = [...text];
    let p = 0;
    let t = 0;
    let star = -1;
    let mark = 0;
    while (t < input.length) {
      if (p < chars.length && chars[p] !== null && chars[p] === input[t]) {
        p++;
        t++;
      } else if (p < chars.length && chars[p] === null) {
        star = p++;
        mark = t;
      } else if (star !== -1) {
        p = star + 1;
        t = ++mark;
      } else {
        return false;
      }
    }
    while (p < chars.length && chars[p] === null) p++;
    return p === chars.length;
  };
}

type Binary = (a: Value, b: Value) => Value;

const BINARY: Record<string, Binary> = {
  '==': (a, b) => valuesEqual(a, b),
  '!=': (a, b) => !valuesEqual(a, b),
  '<': (a, b) => asLong(a) < asLong(b),
  '<=': (a, b) => asLong(a) <= asLong(b),
  '>': (a, b) => asLong(a) > asLong(b),
  '>=': (a, b) => asLong(a) >= asLong(b),
  '+': (a, b) => exact(asLong(a) + asLong(b)),
  '-': (a, b) => exact(asLong(a) - asLong(b)),
  '*': (a, b) => exact(asLong(a) * asLong(b)),
  contains: (a, b) => setHas(asSet(a), b),
  containsAll: (a, b) => {
    const set = asSet(a);
    return asSet(b).items.every((x) => setHas(set, x));
  },
  containsAny: (a, b) => {
    const set = asSet(a);
    return asSet(b).items.some((x) => setHas(set, x));
  },
};

function ipRange(range: IpValue): { network: number; mask: number } {
  const mask = range.prefix === 0 ? 0 : (0xffffffff << (32 - range.prefix)) >>> 0;
  // A range written with host bits set (`10.1.2.3/8`) is left to Cedar.
  if ((range.address & mask) >>> 0 !== range.address) defer();
  return { network: range.address, mask };
}

/** Extension functions over IPv4 values; any other is unsupported. */
const EXTENSION: Record<string, { arity: number; call: (args: Value[]) => Value }> = {
  ip: { arity: 1, call: ([text]) => parseIpv4(asString(text as Value)) ?? defer() },
  isIpv4: { arity: 1, call: ([v]) => asIp(v as Value) instanceof IpValue },
  // Only IPv4 values exist here (IPv6 ones are left to Cedar).
  isIpv6: { arity: 1, call: ([v]) => !(asIp(v as Value) instanceof IpValue) },
  isLoopback: {
    arity: 1,
    call: ([v]) => {
      const ip = asIp(v as Value);
      return ip.prefix === 32 ? ip.address >>> 24 === 127 : defer();
    },
  },
  isMulticast: {
    arity: 1,
    call: ([v]) => {
      const ip = asIp(v as Value);
      return ip.prefix === 32 ? ip.address >>> 28 === 0xe : defer();
    },
  },
  isInRange: {
    arity: 2,
    call: ([v, r]) => {
      const ip = asIp(v as Value);
      if (ip.prefix !== 32) return defer();
      const { network, mask } = ipRange(asIp(r as Value));
      return (ip.address & mask) >>> 0 === network;
    },
  },
};

function compileExpr(json: unknown): Expr {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return unsupported('an expression');
  const keys = Object.keys(json);
  if (keys.length !== 1) return unsupported('an expression');
  const op = keys[0] as string;
  const body = (json as Record<string, unknown>)[op] as Record<string, unknown>;
  switch (op) {
    case 'Value': {
      const value = literal(body);
      return () => value;
    }
    case 'Var':
      switch (body as unknown) {
        case 'principal':
          return (r) => r.principal;
        case 'action':
          return (r) => r.action;
        case 'resource':
          return (r) => r.resource;
        case 'context':
          return (r) => r.context;
        default:
          return unsupported('a variable');
      }
    case '!': {
      const arg = compileExpr(body.arg);
      return (r) => !asBool(arg(r));
    }
    case 'neg': {
      const arg = compileExpr(body.arg);
      return (r) => exact(0 - asLong(arg(r)));
    }
    case '&&': {
      const left = compileExpr(body.left);
      const right = compileExpr(body.right);
      return (r) => asBool(left(r)) && asBool(right(r));
    }
    case '||': {
      const left = compileExpr(body.left);
      const right = compileExpr(body.right);
      return (r) => asBool(left(r)) || asBool(right(r));
    }
    case 'in': {
      const left = compileExpr(body.left);
      const right = compileExpr(body.right);
      return (r) => entityIn(r, asEntity(left(r)), right(r));
    }
    case '.': {
      const left = compileExpr(body.left);
      const attr = body.attr as string;
      return (r) => {
        const v = left(r);
        const fields = v instanceof RecordValue ? v.fields : entityData(r, v).attributes.fields;
        return fields.get(attr) ?? defer();
      };
    }
    case 'has': {
      const left = compileExpr(body.left);
      const attr = body.attr as string;
      return (r) => {
        const v = left(r);
        return (v instanceof RecordValue ? v.fields : entityData(r, v).attributes.fields).has(attr);
      };
    }
    case 'hasTag': {
      const left = compileExpr(body.left);
      const right = compileExpr(body.right);
      return (r) => {
        const data = entityData(r, left(r));
        const name = asString(right(r));
        return data.tags?.has(name) ?? false;
      };
    }
    case 'getTag': {
      const left = compileExpr(body.left);
      const right = compileExpr(body.right);
      return (r) => entityData(r, left(r)).tags?.get(asString(right(r))) ?? defer();
    }
    case 'isEmpty': {
      const arg = compileExpr(body.arg);
      return (r) => asSet(arg(r)).items.length === 0;
    }
    case 'like': {
      const left = compileExpr(body.left);
      const matches = likeMatcher(Array.isArray(body.pattern) ? body.pattern : unsupported('a like pattern'));
      return (r) => matches(asString(left(r)));
    }
    case 'is': {
      const left = compileExpr(body.left);
      const type = body.entity_type as string;
      const within = body.in === undefined ? undefined : compileExpr(body.in);
      return (r) => {
        const entity = asEntity(left(r));
        return entity.type === type && (within === undefined || entityIn(r, entity, within(r)));
      };
    }
    case 'if-then-else': {
      const test = compileExpr(body.if);
      const then = compileExpr(body.then);
      const otherwise = compileExpr(body.else);
      return (r) => (asBool(test(r)) ? then(r) : otherwise(r));
    }
    case 'Set': {
      const items = (Array.isArray(body) ? body : unsupported('a set')).map(compileExpr);
      return (r) => new SetValue(items.map((item) => item(r)));
    }
    case 'Record': {
      const fields = Object.entries(body).map(([k, v]) => [k, compileExpr(v)] as const);
      return (r) => new RecordValue(new Map(fields.map(([k, f]) => [k, f(r)])));
    }
    default: {
      const binary = BINARY[op];
      if (binary !== undefined) {
        const left = compileExpr(body.left);
        const right = compileExpr(body.right);
        return (r) => binary(left(r), right(r));
      }
      const extension = EXTENSION[op];
      if (extension !== undefined && Array.isArray(body) && body.length === extension.arity) {
        const args = (body as unknown[]).map(compileExpr);
        return (r) => extension.call(args.map((a) => a(r)));
      }
      return unsupported(`the operator ${op}`);
    }
  }
}

interface JsonScope {
  op: string;
  entity?: { type: string; id: string };
  entities?: { type: string; id: string }[];
  entity_type?: string;
  in?: { entity?: { type: string; id: string } };
}

function ref(json: { type: string; id: string } | undefined): EntityValue {
  if (json === undefined || typeof json.type !== 'string' || typeof json.id !== 'string') {
    return unsupported('a scope entity');
  }
  return new EntityValue(json.type, json.id);
}

/** A principal, action or resource constraint (these never raise errors in Cedar). */
function compileScope(
  json: JsonScope,
  pick: (r: EvaluationScope) => EntityValue,
): (r: EvaluationScope) => boolean {
  switch (json.op) {
    case 'All':
      return () => true;
    case '==': {
      const key = ref(json.entity).key;
      return (r) => pick(r).key === key;
    }
    case 'in': {
      if (json.entities !== undefined) {
        const keys = json.entities.map((e) => ref(e).key);
        return (r) => {
          const e = pick(r);
          return keys.some((k) => isIn(r, e, k));
        };
      }
      const key = ref(json.entity).key;
      return (r) => {
        const e = pick(r);
        return isIn(r, e, key);
      };
    }
    case 'is': {
      const type = json.entity_type ?? unsupported('an is scope');
      if (json.in === undefined) return (r) => pick(r).type === type;
      const key = ref(json.in.entity).key;
      return (r) => {
        const e = pick(r);
        return e.type === type && isIn(r, e, key);
      };
    }
    default:
      return unsupported(`the scope ${json.op}`);
  }
}

/**
 * Compiles a policy from Cedar's JSON form.
 *
 * @throws UnsupportedPolicy for templates (slots), unknown operators and extension types other
 *   than IPv4 `ipaddr`.
 */
export function compilePolicy(id: string, json: Record<string, unknown>): CompiledPolicy {
  const effect = json.effect;
  if (effect !== 'permit' && effect !== 'forbid') return unsupported('an effect');
  const principal = compileScope(json.principal as JsonScope, (r) => r.principal);
  const action = compileScope(json.action as JsonScope, (r) => r.action);
  const resource = compileScope(json.resource as JsonScope, (r) => r.resource);
  const conditions = ((json.conditions as { kind: string; body: unknown }[] | undefined) ?? []).map((c) => {
    const body = compileExpr(c.body);
    if (c.kind === 'when') return (r: EvaluationScope) => asBool(body(r));
    if (c.kind === 'unless') return (r: EvaluationScope) => !asBool(body(r));
    return unsupported('a condition kind');
  });
  return {
    id,
    effect,
    satisfied: (r) => {
      if (!principal(r) || !action(r) || !resource(r)) return false;
      for (const condition of conditions) if (!condition(r)) return false;
      return true;
    },
  };
}
