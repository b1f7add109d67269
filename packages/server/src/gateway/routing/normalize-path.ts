/**
 * Strict request-target normalization for the gateway. A path that two parsers could read two
 * ways is refused, never guessed at: the gateway and the upstream must agree on which route a
 * request is for, or a protected route can be reached through an unprotected one
 * (`/public/../admin`, `/public/%2e%2e/admin`, `/public%2fadmin`, `\admin`, `//admin`).
 */

/** Why a request target was refused; the closed set used in errors and metrics. */
export type PathRejection =
  | 'not_origin_form'
  | 'control_character'
  | 'backslash'
  | 'bad_percent_encoding'
  | 'encoded_delimiter'
  | 'dot_segment'
  | 'empty_segment'
  | 'too_long';

export type NormalizedPath =
  | {
      ok: true;
      /** The path with percent-escapes decoded, for matching. */
      path: string;
      /** The path exactly as sent, for forwarding. */
      rawPath: string;
      /** The query string without `?`, or '' when none. */
      query: string;
    }
  | { ok: false; reason: PathRejection };

const MAX_TARGET_LENGTH = 8192;
/** Escapes that would change the path's structure once an upstream decodes them. */
const ENCODED_DELIMITER = /%(2[eEfF]|5[cC]|00|25)/;
const PERCENT_TRIPLET = /%(?![0-9A-Fa-f]{2})/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Normalizes an origin-form request target (`/path?query`).
 *
 * @example
 * ```ts
 * normalizeRequestTarget('/orders/42?x=1'); // { ok: true, path: '/orders/42', rawPath: '/orders/42', query: 'x=1' }
 * normalizeRequestTarget('/public/%2e%2e/admin'); // { ok: false, reason: 'encoded_delimiter' }
 * ```
 */
export function normalizeRequestTarget(target: string): NormalizedPath {
  if (target.length > MAX_TARGET_LENGTH) return { ok: false, reason: 'too_long' };
  if (!target.startsWith('/') || target.includes('#')) return { ok: false, reason: 'not_origin_form' };
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q + 1);
  if (CONTROL.test(target)) return { ok: false, reason: 'control_character' };
  if (rawPath.includes('\\')) return { ok: false, reason: 'backslash' };
  let path = rawPath;
  // Without an escape there is nothing to decode (the common case: no regexes, no decoding).
  if (rawPath.includes('%')) {
    if (PERCENT_TRIPLET.test(rawPath)) return { ok: false, reason: 'bad_percent_encoding' };
    if (ENCODED_DELIMITER.test(rawPath)) return { ok: false, reason: 'encoded_delimiter' };
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      // Not UTF-8 once decoded.
      return { ok: false, reason: 'bad_percent_encoding' };
    }
    if (CONTROL.test(path)) return { ok: false, reason: 'control_character' };
  }
  const problem = segmentProblem(path);
  if (problem !== undefined) return { ok: false, reason: problem };
  return { ok: true, path, rawPath, query };
}

/** A `.` or `..` segment, or an empty one anywhere but last (a trailing slash is fine; `//` is not). */
function segmentProblem(path: string): PathRejection | undefined {
  let start = 1;
  for (;;) {
    const end = path.indexOf('/', start);
    const length = (end < 0 ? path.length : end) - start;
    if (
      (length === 1 && path.charCodeAt(start) === 46) ||
      (length === 2 && path.charCodeAt(start) === 46 && path.charCodeAt(start + 1) === 46)
    ) {
      return 'dot_segment';
    }
    if (end < 0) return undefined;
    if (length === 0) return 'empty_segment';
    start = end + 1;
  }
}

/**
 * True when `path` is `prefix` or lies below it segment-wise (`/orders` covers `/orders` and
 * `/orders/42`, not `/ordersX`). Case-sensitive, as paths are.
 */
export function pathHasPrefix(path: string, prefix: string): boolean {
  if (prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path[prefix.length] === '/' || prefix.endsWith('/');
}
