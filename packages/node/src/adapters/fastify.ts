/**
 * Fastify: an onRequest hook that verifies, a preHandler that checks scopes, and the identity
 * as `request.gatehouse` (declared with `decorateRequest`, as Fastify wants).
 *
 * @example
 * ```ts
 * registerGatehouse(app, verifier);
 * app.post('/orders', { preHandler: requireScopes('orders:write') }, async (request) => request.gatehouse?.sub);
 * ```
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AccessError } from '../errors.js';
import type { ServiceIdentity } from '../identity.js';
import { assertScopes } from '../require-scopes.js';
import type { ServiceVerifier } from '../service-verifier.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by {@link registerGatehouse} once the request's token is verified. */
    gatehouse: ServiceIdentity | null;
  }
}

/** Verifies every request of this Fastify context (and its children). */
export function registerGatehouse(app: FastifyInstance, verifier: ServiceVerifier): void {
  app.decorateRequest('gatehouse', null);
  app.addHook('onRequest', async (request, reply) => {
    try {
      request.gatehouse = await verifier.verifyRequest(request.headers);
    } catch (err) {
      return refuse(reply, err);
    }
  });
}

/** A preHandler: 403 `insufficient_scope` unless the identity holds every scope. */
export function requireScopes(...scopes: string[]) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      if (!request.gatehouse) throw new AccessError('ERR_AUTH_REQUIRED', 401, 'no verified identity');
      assertScopes(request.gatehouse, scopes);
    } catch (err) {
      return refuse(reply, err);
    }
  };
}

function refuse(reply: FastifyReply, err: unknown): FastifyReply {
  if (!(err instanceof AccessError)) throw err;
  if (err.challenge !== undefined) reply.header('www-authenticate', err.challenge);
  if (err.status === 503) reply.header('retry-after', '1');
  return reply
    .code(err.status)
    .type('application/problem+json')
    .header('cache-control', 'no-store')
    .send(err.toProblem());
}
