/**
 * The two cookies of a browser session. The refresh token lives in an HttpOnly cookie that only
 * the auth endpoints receive; the CSRF token in a readable one, so a reloaded page can send it
 * back as `X-CSRF-Token` (double submit; the server also holds its digest on the family).
 */
export const REFRESH_COOKIE = 'gh_refresh';
export const CSRF_COOKIE = 'gh_csrf';
/** Path the refresh cookie is sent to: the auth endpoints and nothing else. */
export const AUTH_PATH = '/auth';

export interface CookieOptions {
  secure: boolean;
}

/** Reads one cookie from a `Cookie` header; undefined when absent, empty or sent twice. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header || header.length > 8192) return undefined;
  let found: string | undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    // Two cookies of one name (one planted by a sibling subdomain): trust neither.
    if (found !== undefined) return undefined;
    found = part.slice(eq + 1).trim();
  }
  return found === '' ? undefined : found;
}

function cookie(
  name: string,
  value: string,
  path: string,
  maxAge: number,
  httpOnly: boolean,
  o: CookieOptions,
) {
  return [
    `${name}=${value}`,
    `Path=${path}`,
    `Max-Age=${Math.max(0, Math.floor(maxAge))}`,
    httpOnly ? 'HttpOnly' : undefined,
    o.secure ? 'Secure' : undefined,
    'SameSite=Strict',
  ]
    .filter((p) => p !== undefined)
    .join('; ');
}

/** `Set-Cookie` values that hand a session to the browser for `maxAge` seconds. */
export function sessionCookies(refreshToken: string, csrfToken: string, maxAge: number, o: CookieOptions) {
  return [
    cookie(REFRESH_COOKIE, refreshToken, AUTH_PATH, maxAge, true, o),
    cookie(CSRF_COOKIE, csrfToken, '/', maxAge, false, o),
  ];
}

/** `Set-Cookie` values that remove both session cookies. */
export function clearedCookies(o: CookieOptions): string[] {
  return [cookie(REFRESH_COOKIE, '', AUTH_PATH, 0, true, o), cookie(CSRF_COOKIE, '', '/', 0, false, o)];
}
