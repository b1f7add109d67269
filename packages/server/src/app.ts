import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { adminRoutes } from './admin/admin-routes.js';
import { handleError, handleNotFound } from './http/error-handler.js';
import { FormBody } from './http/form-body.js';
import { issuerRoutes } from './issuer/issuer-routes.js';
import { AUTH_PATH } from './login/cookies.js';
import { loginRoutes } from './login/login-routes.js';
import { operationsRoutes } from './observability/operations-routes.js';
import { policyRoutes } from './policy/policy-routes.js';
import type { Runtime } from './runtime.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Builds the HTTP app over a runtime without listening, so tests can `inject()` or listen on
 * port 0. Plugins are encapsulated; nothing global is touched.
 */
export async function buildApp(runtime: Runtime): Promise<FastifyInstance> {
  const { config, metrics } = runtime;
  const app = Fastify({
    loggerInstance: runtime.logger as FastifyBaseLogger,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    bodyLimit: config.server.body_limit_bytes,
    // X-Forwarded-For only from configured proxies: anyone else could pick their own address.
    trustProxy: config.server.trusted_proxies.length > 0 ? config.server.trusted_proxies : false,
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    keepAliveTimeout: 5_000,
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    // Per-request lines are written by our onResponse hook (rejections only), keeping the hot path quiet.
    logController: new LogController({ disableRequestLogging: true }),
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: true,
        allowUnionTypes: true,
      },
    },
  });

  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => {
      try {
        done(null, new FormBody(body as string));
      } catch (err) {
        done(err as Error, undefined);
      }
    },
  );

  // Callback-style hooks: Fastify runs them without allocating a promise per request.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    metrics.httpRequestDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
    if (reply.statusCode >= 400) {
      request.log.info(
        { method: request.method, route: request.routeOptions.url, status: reply.statusCode },
        'request rejected',
      );
    }
    done();
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);

  await app.register(operationsRoutes, runtime);
  await app.register(issuerRoutes, {
    issuer: config.issuer,
    clients: runtime.clients,
    keys: runtime.keys,
    tokens: runtime.tokens,
    active: runtime.active,
    revocations: runtime.revocations,
    metrics,
    audit: runtime.audit,
    apiKeys: runtime.apiKeys,
    issuance: runtime.issuance,
    sessions: runtime.sessions,
    exchange: {
      maxLifetime: config.token_exchange.max_lifetime,
      maxDepth: config.token_exchange.max_delegation_depth,
    },
  });
  await app.register(loginRoutes, {
    prefix: AUTH_PATH,
    sessions: runtime.sessions,
    users: runtime.users,
    throttle: runtime.loginThrottle,
    audit: runtime.audit,
    clock: runtime.clock,
    metrics,
    allowedOrigins: config.login.allowed_origins,
    cookies: { secure: config.login.cookie_secure },
  });
  await app.register(policyRoutes, {
    issuer: config.issuer,
    point: runtime.policy,
    active: runtime.active,
    audit: runtime.audit,
  });
  await app.register(adminRoutes, {
    prefix: '/admin/v1',
    issuer: config.issuer,
    clients: runtime.clients,
    keys: runtime.keys,
    tokens: runtime.tokens,
    active: runtime.active,
    revocations: runtime.revocations,
    audit: runtime.audit,
    users: runtime.users,
    families: runtime.families,
    apiKeys: runtime.apiKeys,
    maxTokenExpiry: () =>
      Math.floor(runtime.clock.nowMs() / 1000) +
      config.tokens.max_access_token_ttl +
      config.tokens.clock_skew,
  });
  return app;
}
