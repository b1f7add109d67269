/**
 * The one door to Cedar. The package's `nodejs` build loads its WebAssembly synchronously at
 * import (the default `esm` build needs a bundler), so every module imports Cedar from here.
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { DetailedError } from '@cedar-policy/cedar-wasm/nodejs';

export type {
  AuthorizationAnswer,
  CedarValueJson,
  Context,
  DetailedError,
  EntityJson,
  EntityUidJson,
  TypeAndId,
} from '@cedar-policy/cedar-wasm/nodejs';
export { cedar };

/**
 * Cedar's own error sentences, with where (line:column in `text`, when given) and Cedar's hint,
 * joined for a problem `detail`.
 */
export function cedarMessage(errors: readonly DetailedError[], text?: string): string {
  return errors
    .map((e) => {
      const where = e.sourceLocations?.[0];
      let sentence = e.message;
      if (where && text !== undefined) {
        const before = text.slice(0, where.start).split('\n');
        sentence += ` at line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
      }
      if (where?.label) sentence += `: ${where.label}`;
      return e.help ? `${sentence} (${e.help})` : sentence;
    })
    .join('; ');
}
