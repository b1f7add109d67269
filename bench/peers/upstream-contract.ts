/** What bench/peers/upstream.ts answers, shared with the harness that checks it (no side effects). */

/** The body of every answer but the diagnostic one. */
export const UPSTREAM_BODY = '{"ok":true,"from":"bench-upstream"}';

/** GET here answers the request headers the upstream received, as JSON. */
export const UPSTREAM_HEADERS_PATH = '/api/__headers';
