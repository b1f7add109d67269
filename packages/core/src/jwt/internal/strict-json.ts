/**
 * JSON.parse with the ambiguities removed. JSON.parse silently keeps the last of duplicate
 * members, so `{"sub":"alice","sub":"admin"}` means different things to different parsers; and a
 * member named `__proto__`, `constructor` or `prototype` is a prototype-pollution primer for any
 * consumer that later merges the object. Both are refused.
 */

/** Deeper nesting than this is refused rather than walked; no legitimate claim set comes near it. */
const MAX_DEPTH = 64;

/** Why {@link parseStrictJson} refused its input. */
export class StrictJsonError extends SyntaxError {
  override name = 'StrictJsonError';
}

/**
 * Parses JSON text and refuses duplicate members, forbidden member names and deep nesting.
 *
 * Duplicates are found by counting: once JSON.parse has accepted the text, every string literal
 * followed by `:` is one member name, so fewer members in the parsed tree than names in the text
 * means some were collapsed. No second parser: string literals are skipped with indexOf, which is
 * several times faster than a character loop on the hot path.
 */
export function parseStrictJson(text: string): unknown {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null) return value;
  if (countMembers(value, 0) !== countNames(text)) throw new StrictJsonError('duplicate member');
  return value;
}

/** Member names in JSON text already accepted by JSON.parse (so quotes only delimit strings). */
function countNames(text: string): number {
  let names = 0;
  for (let open = text.indexOf('"'); open >= 0; ) {
    let close = text.indexOf('"', open + 1);
    while (close > 0 && isEscaped(text, close)) close = text.indexOf('"', close + 1);
    if (close < 0) break; // unreachable for text JSON.parse accepted; guards against looping
    let next = close + 1;
    let code = text.charCodeAt(next);
    while (code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09) code = text.charCodeAt(++next);
    if (code === 0x3a) names++;
    open = text.indexOf('"', next);
  }
  return names;
}

/** True when the quote at `at` is preceded by an odd number of backslashes. */
function isEscaped(text: string, at: number): boolean {
  let backslashes = 0;
  while (text.charCodeAt(at - 1 - backslashes) === 0x5c) backslashes++;
  return (backslashes & 1) === 1;
}

function countMembers(value: object, depth: number): number {
  if (depth > MAX_DEPTH) throw new StrictJsonError('nesting too deep');
  let members = 0;
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) {
      if (typeof item === 'object' && item !== null) members += countMembers(item, depth + 1);
    }
    return members;
  }
  const record = value as Record<string, unknown>;
  for (const name of Object.keys(record)) {
    // No JOSE header, claim set or JWKS has any business carrying these, at any depth.
    if (name === '__proto__' || name === 'constructor' || name === 'prototype') {
      throw new StrictJsonError(`forbidden member "${name}"`);
    }
    members++;
    const item = record[name];
    if (typeof item === 'object' && item !== null) members += countMembers(item, depth + 1);
  }
  return members;
}

/** True for a JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
