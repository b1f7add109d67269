/**
 * Express middleware. The identity is put on `res.locals.gatehouse` (Express's place for
 * request-scoped values; nothing is patched onto Express itself).
 *
 * @example
 * ```ts
 * app.use(gatehouse(verifier));
 * app.post('/reserve', requireScopes('inventory:reserve'), (req, res) => {
 *   res.json({ for: identityOf(res).sub });
 * });
 * ```
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AccessError } from '../errors.js';
import type { ServiceIdentity } from '../identity.js';
import { assertScopes } from '../require-scopes.js';
import type { ServiceVerifier } from '../service-verifier.js';
import { sendAccessError } from './node-http.js';

/** What the middleware needs of Express's response (structural: no dependency on Express types). */
export interface ExpressResponseLike extends ServerResponse {
  locals: Record<string, unknown>;
}
type Next = (err?: unknown) => void;

/** Verifies every request; refusals are answered here, other failures go to `next(err)`. */
export function gatehouse(verifier: ServiceVerifier) {
  return (req: IncomingMessage, res: ExpressResponseLike, next: Next): void => {
    verifier.verifyRequest(req.headers).then(
      (identity) => {
        res.locals.gatehouse = identity;
        next();
      },
      (err: unknown) => {
        if (!sendAccessError(res, err)) next(err);
      },
    );
  };
}

/** 403 `insufficient_scope` unless the verified identity holds every scope. */
export function requireScopes(...scopes: string[]) {
  return (_req: IncomingMessage, res: ExpressResponseLike, next: Next): void => {
    try {
      assertScopes(identityOf(res), scopes);
      next();
    } catch (err) {
      if (!sendAccessError(res, err)) next(err);
    }
  };
}

/** The identity {@link gatehouse} verified for this request. */
export function identityOf(res: ExpressResponseLike): ServiceIdentity {
  const identity = res.locals.gatehouse as ServiceIdentity | undefined;
  if (!identity)
    throw new AccessError(
      'ERR_AUTH_REQUIRED',
      401,
      'no verified identity (is the gatehouse middleware in front?)',
    );
  return identity;
}
