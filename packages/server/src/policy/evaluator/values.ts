/**
 * Cedar values as the in-process evaluator holds them. Booleans, Longs (safe integers only) and
 * strings are JavaScript primitives; entities, sets, records and IP addresses are small classes,
 * so a record is never mistaken for an entity reference.
 */

/**
 * Thrown wherever the in-process evaluator is not certain to answer exactly as Cedar would: an
 * evaluation error (Cedar skips that policy and reports it), a value it does not model, a request
 * its schema check does not accept. The engine then asks Cedar itself, which answers with its own
 * decision, diagnostics and messages. One instance: deferring is control flow, not a failure.
 */
export class DeferToCedar extends Error {
  static readonly instance = new DeferToCedar('the in-process evaluator defers to Cedar');
}

/** Gives up on this request: Cedar decides it. */
export function defer(): never {
  throw DeferToCedar.instance;
}

/** An entity reference. `key` (type and id, NUL-separated: Cedar names cannot hold NUL) identifies it. */
export class EntityValue {
  readonly key: string;
  constructor(
    readonly type: string,
    readonly id: string,
  ) {
    this.key = `${type}\u0000${id}`;
  }
}

/** A Cedar set: members unordered, duplicates irrelevant. */
export class SetValue {
  constructor(readonly items: readonly Value[]) {}
}

/** A Cedar record. */
export class RecordValue {
  constructor(readonly fields: ReadonlyMap<string, Value>) {}
}

/** An IPv4 address or range (`ip("10.0.0.0/8")`); IPv6 is left to Cedar. */
export class IpValue {
  constructor(
    /** Address as an unsigned 32-bit number. */
    readonly address: number,
    /** Prefix length, 32 for a single address. */
    readonly prefix: number,
  ) {}
}

export type Value = boolean | number | string | EntityValue | SetValue | RecordValue | IpValue;

const IPV4_OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(
  `^${IPV4_OCTET}\\.${IPV4_OCTET}\\.${IPV4_OCTET}\\.${IPV4_OCTET}(?:/(3[0-2]|[12]?[0-9]))?$`,
);

/**
 * An `ip(...)` argument in the plain dotted IPv4 form (optionally `/prefix`) that Cedar accepts
 * too; anything else (IPv6, leading zeros, spaces) returns undefined and is left to Cedar.
 */
export function parseIpv4(text: string): IpValue | undefined {
  const m = IPV4.exec(text);
  if (m === null) return undefined;
  const address = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
  return new IpValue(address, m[5] === undefined ? 32 : Number(m[5]));
}

/** Cedar's `==`: structural, false across types. IP values are compared by Cedar. */
export function valuesEqual(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  if (a instanceof EntityValue) return b instanceof EntityValue && a.key === b.key;
  if (a instanceof SetValue) {
    if (!(b instanceof SetValue)) return false;
    return a.items.every((x) => setHas(b, x)) && b.items.every((x) => setHas(a, x));
  }
  if (a instanceof RecordValue) {
    if (!(b instanceof RecordValue) || a.fields.size !== b.fields.size) return false;
    for (const [name, value] of a.fields) {
      const other = b.fields.get(name);
      if (other === undefined || !valuesEqual(value, other)) return false;
    }
    return true;
  }
  if (a instanceof IpValue || b instanceof IpValue) defer();
  return false;
}

/** Set membership with Cedar's equality. */
export function setHas(set: SetValue, value: Value): boolean {
  for (const item of set.items) if (valuesEqual(item, value)) return true;
  return false;
}
