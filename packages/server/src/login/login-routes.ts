import { GatehouseError, RandomIds, type RefreshFamilyRecord } from '@gatehouse/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/audit-log.js';
import type { Metrics } from '../observability/metrics.js';
import { tokenResponse, tokenResponseSchema } from '../issuer/issuance.js';
import { CLIENT_BINDING, csrfBinding, csrfMatches } from '../sessions/refresh-families.js';
import type { RefreshRefusal, SessionTokens, UserSessions } from '../sessions/user-sessions.js';
import type { Clock } from '@gatehouse/core';
import type { UserDirectory } from '../users/user-directory.js';
import { usernameKey } from '../users/user-directory.js';
import { type CookieOptions, clearedCookies, readCookie, REFRESH_COOKIE, sessionCookies } from './cookies.js';
import type { LoginThrottle } from './login-throttle.js';

export interface LoginRouteDeps {
  sessions: UserSessions;
  users: UserDirectory;
  throttle: LoginThrottle;
  audit: AuditLog;
  clock: Clock;
  metrics: Metrics;
  /** Exact origins (`scheme://host:port`) allowed to call these endpoints. */
  allowedOrigins: readonly string[];
  cookies: CookieOptions;
}

const CSRF_HEADER = 'x-csrf-token';

const loginBody = {
  type: 'object',
  properties: {
    // No control characters (NUL would reach the database): a malformed name, not a wrong one.
    username: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[^\\u0000-\\u001f\\u007f]+$' },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
    delivery: {
      type: 'string',
      enum: ['cookie', 'body'],
      description:
        'cookie (default): refresh token in an HttpOnly cookie, for browsers; body: in the JSON answer, for native apps, refreshed at /oauth2/token',
    },
  },
  required: ['username', 'password'],
  additionalProperties: false,
} as const;

/** The token response plus the CSRF token the page must send back. */
const sessionResponse = {
  ...tokenResponseSchema,
  properties: { ...tokenResponseSchema.properties, csrf_token: { type: 'string' } },
} as const;

/** A request body that may be empty or `{}`: refresh and logout carry everything in cookies and headers. */
const emptyBody = { type: 'object', additionalProperties: false, maxProperties: 0 } as const;

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

/**
 * First-party login for single-page apps (and native apps with `delivery: body`):
 * `POST /auth/login`, `/auth/refresh`, `/auth/logout`. Each handler reads in request order:
 * origin → throttle / cookie → CSRF → the session machinery → cookies and answer.
 */
export async function loginRoutes(app: FastifyInstance, deps: LoginRouteDeps): Promise<void> {
  const ids = new RandomIds();
  const allowed = new Set(deps.allowedOrigins);

  // These endpoints speak JSON only (the token endpoint's form parser does not apply here), and
  // a bodiless POST with a JSON content type is fine.
  app.removeContentTypeParser('application/x-www-form-urlencoded');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = (body as string).trim();
    if (text === '') return done(null, {});
    try {
      done(null, JSON.parse(text));
    } catch {
      done(
        new GatehouseError('ERR_REQUEST_INVALID', 'the body is not valid JSON', { status: 400 }),
        undefined,
      );
    }
  });

  // A POST without a body (refresh, logout) validates as an empty object.
  app.addHook('preValidation', (request, _reply, done) => {
    if (request.body === undefined || request.body === null) request.body = {};
    done();
  });

  // CORS for allowed origins only: an SPA on a sibling origin of the same site can log in.
  app.addHook('onRequest', (request, reply, done) => {
    const origin = request.headers.origin;
    if (origin !== undefined && allowed.has(origin)) {
      reply.header('access-control-allow-origin', origin);
      reply.header('access-control-allow-credentials', 'true');
      reply.header('vary', 'Origin');
    }
    done();
  });
  app.options('/*', (request, reply) => {
    if (request.headers.origin === undefined || !allowed.has(request.headers.origin)) {
      return reply.code(403).header('content-type', 'application/problem+json').send(originProblem());
    }
    return reply
      .code(204)
      .header('access-control-allow-methods', 'POST')
      .header('access-control-allow-headers', `content-type, ${CSRF_HEADER}`)
      .header('access-control-max-age', '600')
      .send();
  });

  /** Browsers send Origin on every POST; a native app sends none and may only use body delivery. */
  const assertOrigin = (request: FastifyRequest, required: boolean) => {
    const origin = request.headers.origin;
    if (origin === undefined ? required : !allowed.has(origin)) throw originError();
  };

  const sendSession = (reply: FastifyReply, tokens: SessionTokens, csrfToken: string) => {
    const maxAge = tokens.family.expiresAt - Math.floor(deps.clock.nowMs() / 1000);
    reply.header('set-cookie', sessionCookies(tokens.refreshToken, csrfToken, maxAge, deps.cookies));
    return reply.headers(NO_STORE).send({ ...tokenResponse(tokens.issued), csrf_token: csrfToken });
  };

  app.post(
    '/login',
    { schema: { body: loginBody, response: { 200: sessionResponse } } },
    async (request, reply) => {
      const {
        username,
        password,
        delivery = 'cookie',
      } = request.body as {
        username: string;
        password: string;
        delivery?: 'cookie' | 'body';
      };
      assertOrigin(request, delivery === 'cookie');
      const keys = deps.throttle.keysFor(usernameKey(username), request.ip);
      const locked = await deps.throttle.reserve(keys);
      if (locked > 0) {
        deps.metrics.logins.inc({ outcome: 'throttled' });
        await deps.audit.record({
          actor: 'anonymous',
          action: 'login.throttled',
          outcome: 'failure',
          details: { ip: request.ip },
        });
        throw throttledError(reply, locked);
      }
      const user = await deps.users.authenticate(username, password);
      if (!user) {
        const lockedNow = await deps.throttle.fail(keys);
        deps.metrics.logins.inc({ outcome: 'failure' });
        await deps.audit.record({
          actor: 'anonymous',
          action: 'login.failed',
          outcome: 'failure',
          details: { ip: request.ip, locked_for: lockedNow },
        });
        throw new GatehouseError('ERR_LOGIN_FAILED', 'the username or password is wrong', { status: 401 });
      }
      await deps.throttle.succeed(keys);
      deps.metrics.logins.inc({ outcome: 'success' });
      const csrfToken = ids.next(32);
      const tokens = await deps.sessions.start(
        user,
        delivery === 'cookie' ? csrfBinding(csrfToken) : CLIENT_BINDING,
      );
      await deps.audit.record({
        actor: `user:${user.id}`,
        action: 'login.succeeded',
        target: user.id,
        details: { ip: request.ip, family_id: tokens.family.id, delivery },
      });
      if (delivery === 'body') {
        return reply
          .headers(NO_STORE)
          .send(tokenResponse(tokens.issued, { refresh_token: tokens.refreshToken }));
      }
      return sendSession(reply, tokens, csrfToken);
    },
  );

  app.post(
    '/refresh',
    { schema: { body: emptyBody, response: { 200: sessionResponse } } },
    async (request, reply) => {
      assertOrigin(request, true);
      const presented = readCookie(request.headers.cookie, REFRESH_COOKIE);
      if (presented === undefined) throw refreshError('no refresh cookie was sent; log in again');
      const csrfToken = headerValue(request, CSRF_HEADER);
      if (csrfToken === undefined) throw csrfError('the X-CSRF-Token header is missing');
      const result = await deps.sessions.refresh(
        presented,
        { clientId: deps.sessions.client.id, csrfToken },
        'refresh_token',
      );
      if ('refused' in result) {
        await auditRefusal(deps.audit, result.refused, request.ip);
        throw refusalError(reply, result.refused, deps.cookies);
      }
      return sendSession(reply, result, csrfToken);
    },
  );

  app.post('/logout', { schema: { body: emptyBody } }, async (request, reply) => {
    assertOrigin(request, true);
    const presented = readCookie(request.headers.cookie, REFRESH_COOKIE);
    const family: RefreshFamilyRecord | undefined =
      presented === undefined ? undefined : await deps.sessions.familyOf(presented);
    // A logout must come from the page that holds the session, or anyone could end it.
    if (family && !csrfMatches(family.binding, headerValue(request, CSRF_HEADER))) {
      throw csrfError('the X-CSRF-Token header does not match this session');
    }
    if (family && presented !== undefined) await deps.sessions.logout(presented);
    return reply.code(204).header('set-cookie', clearedCookies(deps.cookies)).headers(NO_STORE).send();
  });
}

function headerValue(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function originProblem() {
  return {
    type: 'urn:gatehouse:error:ERR_ORIGIN_NOT_ALLOWED',
    title: 'Forbidden',
    status: 403,
    code: 'ERR_ORIGIN_NOT_ALLOWED',
    detail: 'this origin may not call the login endpoints',
  };
}

function originError(): GatehouseError {
  return new GatehouseError('ERR_ORIGIN_NOT_ALLOWED', 'this origin may not call the login endpoints', {
    status: 403,
  });
}

function csrfError(message: string): GatehouseError {
  return new GatehouseError('ERR_CSRF_INVALID', message, { status: 403 });
}

function refreshError(message: string): GatehouseError {
  return new GatehouseError('ERR_REFRESH_INVALID', message, { status: 401 });
}

function throttledError(reply: FastifyReply, seconds: number): GatehouseError {
  reply.header('retry-after', String(seconds));
  return new GatehouseError('ERR_LOGIN_THROTTLED', `too many failed logins; try again in ${seconds} s`, {
    status: 429,
  });
}

/** The answer for each refusal; cookies are cleared whenever the session cannot go on. */
function refusalError(reply: FastifyReply, refused: RefreshRefusal, cookies: CookieOptions): GatehouseError {
  if (refused === 'csrf') return csrfError('the X-CSRF-Token header does not match this session');
  reply.header('set-cookie', clearedCookies(cookies));
  switch (refused) {
    case 'reused':
      return new GatehouseError(
        'ERR_REFRESH_REUSED',
        'this refresh token was already used; the session has been ended, log in again',
        { status: 401 },
      );
    case 'expired':
      return refreshError('the session has expired; log in again');
    case 'revoked':
      return refreshError('the session has ended; log in again');
    default:
      return refreshError('the refresh token is not valid; log in again');
  }
}

async function auditRefusal(audit: AuditLog, refused: RefreshRefusal, ip: string): Promise<void> {
  // Reuse is audited where it is detected, with the family it ended.
  if (refused === 'reused') return;
  await audit.record({
    actor: 'anonymous',
    action: 'refresh.refused',
    outcome: 'failure',
    details: { reason: refused, ip },
  });
}
