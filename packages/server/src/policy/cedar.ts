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

/** Cedar's own error sentences (with its hint when it has one), joined for a problem `detail`. */
export function cedarMessage(errors: readonly DetailedError[]): string {
  return errors.map((e) => (e.help ? `${e.message} (${e.help})` : e.message)).join('; ');
}
