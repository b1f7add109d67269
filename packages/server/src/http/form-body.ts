import { OAuthError } from './oauth-error.js';

/**
 * A parsed `application/x-www-form-urlencoded` body that remembers repeated names, because
 * RFC 6749 §3.1 forbids sending a parameter more than once and we must say so.
 */
export class FormBody {
  readonly #values = new Map<string, string[]>();

  constructor(text: string) {
    if (/%(?![0-9A-Fa-f]{2})/.test(text)) {
      throw new OAuthError('invalid_request', 'the request body has a malformed percent-encoding');
    }
    for (const [name, value] of new URLSearchParams(text)) {
      const list = this.#values.get(name);
      if (list) list.push(value);
      else this.#values.set(name, [value]);
    }
  }

  /**
   * RFC 6749 §3.1: no parameter may appear twice, except those a later RFC lets repeat
   * (RFC 8707 `resource`). Checked once for the whole body, before anything reads it.
   */
  assertNoRepeats(repeatable: readonly string[] = ['resource']): void {
    for (const [name, list] of this.#values) {
      if (list.length > 1 && !repeatable.includes(name)) {
        throw new OAuthError('invalid_request', `parameter ${printable(name)} must not be repeated`);
      }
    }
  }

  /** The single value of `name`; undefined when absent; `invalid_request` when repeated. */
  get(name: string): string | undefined {
    const list = this.#values.get(name);
    if (!list) return undefined;
    if (list.length > 1)
      throw new OAuthError('invalid_request', `parameter ${printable(name)} must not be repeated`);
    return list[0] === '' ? undefined : list[0];
  }

  /** Every value of a parameter that may legitimately repeat (RFC 8707 `resource`). */
  getAll(name: string): string[] {
    return (this.#values.get(name) ?? []).filter((v) => v !== '');
  }

  /** Like {@link get} but `invalid_request` when absent. */
  require(name: string): string {
    const value = this.get(name);
    if (value === undefined)
      throw new OAuthError('invalid_request', `parameter ${printable(name)} is required`);
    return value;
  }

  has(name: string): boolean {
    return this.#values.has(name);
  }
}

/** A parameter name as it may appear in error_description (RFC 6749 §5.2 charset, no quote or backslash). */
function printable(name: string): string {
  return /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(name) ? name : '(unprintable name)';
}
