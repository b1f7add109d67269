import { GatehouseError } from '@gatehouse/core';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from './oauth-error.js';
import { problem } from './problem.js';

/** Fastify's own request-level errors, mapped to what a caller can act on. */
const FASTIFY_CODES: Record<string, { status: number; code: string; detail: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    code: 'ERR_BODY_TOO_LARGE',
    detail: 'the request body is too large',
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'ERR_MEDIA_TYPE_UNSUPPORTED',
    detail: 'the request content type is not supported here',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    code: 'ERR_REQUEST_INVALID',
    detail: 'the content length is wrong',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'ERR_REQUEST_INVALID', detail: 'the JSON body is empty' },
  FST_ERR_CTP_INVALID_JSON_BODY: {
    status: 400,
    code: 'ERR_REQUEST_INVALID',
    detail: 'the body is not valid JSON',
  },
  FST_ERR_CTP_EMPTY_TYPE: {
    status: 415,
    code: 'ERR_MEDIA_TYPE_UNSUPPORTED',
    detail: 'the content type is empty',
  },
  FST_ERR_CTP_INVALID_TYPE: {
    status: 415,
    code: 'ERR_MEDIA_TYPE_UNSUPPORTED',
    detail: 'the content type is invalid',
  },
};

const OAUTH_PATH = /^\/oauth2\//;

/**
 * One error handler for the app. OAuth endpoints answer RFC 6749 §5.2 JSON; everything else
 * answers RFC 9457 problem+json. Client mistakes are 4xx with a stable code and a sentence;
 * anything unexpected is a generic 500 that reveals nothing and is logged in full.
 */
export function handleError(
  error: FastifyError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const oauth = OAUTH_PATH.test(request.url);
  if (error instanceof OAuthError) {
    if (error.wwwAuthenticate) reply.header('www-authenticate', error.wwwAuthenticate);
    return reply.code(error.status).header('cache-control', 'no-store').send(error.toJSON());
  }
  const fastifyError = error as FastifyError;
  const known = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (
    known ||
    (fastifyError.statusCode !== undefined &&
      fastifyError.statusCode < 500 &&
      !(error instanceof GatehouseError))
  ) {
    const status = known?.status ?? fastifyError.statusCode ?? 400;
    if (oauth) {
      // RFC 6749 has no code for transport problems: they are all malformed requests.
      return reply
        .code(status === 415 ? 400 : status)
        .header('cache-control', 'no-store')
        .send({ error: 'invalid_request', error_description: known?.detail ?? 'the request is malformed' });
    }
    if (fastifyError.validation) {
      return sendProblem(
        reply,
        problem(400, 'ERR_REQUEST_INVALID', 'the request does not match the expected schema', {
          errors: fastifyError.validation.map((v) => ({
            path: v.instancePath || (v.params as { missingProperty?: string }).missingProperty || '(body)',
            message: v.message ?? 'invalid',
          })),
        }),
      );
    }
    return sendProblem(
      reply,
      problem(status, known?.code ?? 'ERR_REQUEST_INVALID', known?.detail ?? 'the request is malformed'),
    );
  }
  if (error instanceof GatehouseError && error.status < 500) {
    return sendProblem(reply, problem(error.status, error.code, error.message));
  }
  request.log.error({ err: error }, 'unhandled error');
  const status = error instanceof GatehouseError && error.status === 503 ? 503 : 500;
  if (oauth) {
    return reply
      .code(status)
      .header('cache-control', 'no-store')
      .send({ error: 'server_error', error_description: 'internal error' });
  }
  return sendProblem(
    reply,
    problem(status, status === 503 ? 'ERR_STORE_UNAVAILABLE' : 'ERR_INTERNAL', 'internal error'),
  );
}

function sendProblem(reply: FastifyReply, body: ReturnType<typeof problem>): FastifyReply {
  return reply.code(body.status).header('content-type', 'application/problem+json').send(body);
}

/** 404 for unknown routes, in the same format as other errors. */
export function handleNotFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (OAUTH_PATH.test(request.url)) {
    return reply.code(404).send({ error: 'invalid_request', error_description: 'no such endpoint' });
  }
  return sendProblem(
    reply,
    problem(
      404,
      'ERR_ROUTE_NOT_FOUND',
      `no route for ${request.method} ${request.url.split('?')[0]?.slice(0, 200)}`,
    ),
  );
}
