/**
 * Plain node:http: verify, then answer refusals as Gatehouse does (problem+json, RFC 6750
 * challenge).
 *
 * @example
 * ```ts
 * createServer(async (req, res) => {
 *   try {
 *     const who = await verifier.verifyRequest(req.headers);
 *     assertScopes(who, ['payments:charge']);
 *     res.end(JSON.stringify({ charged: who.sub }));
 *   } catch (err) {
 *     if (!sendAccessError(res, err)) throw err;
 *   }
 * });
 * ```
 */
import type { ServerResponse } from 'node:http';
import { AccessError } from '../errors.js';

/** Writes an {@link AccessError} as its 401/403/503 answer; false (nothing written) for any other error. */
export function sendAccessError(res: ServerResponse, err: unknown): boolean {
  if (!(err instanceof AccessError)) return false;
  if (res.headersSent) {
    res.destroy();
    return true;
  }
  const body = JSON.stringify(err.toProblem());
  res.writeHead(err.status, {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...(err.challenge !== undefined && { 'www-authenticate': err.challenge }),
    ...(err.status === 503 && { 'retry-after': '1' }),
  });
  res.end(body);
  return true;
}

export { assertScopes } from '../require-scopes.js';
