import { createServer, type IncomingMessage, type Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Clock, type ErrorCode, GatehouseError, type RouteConfig } from '@gatehouse/core';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import type { ResolvedConfig } from '../config/load-config.js';
import type { Metrics } from '../observability/metrics.js';
import { andThen, type MaybePromise } from '../internal/maybe-async.js';
import { ClientAddress } from './client-address.js';
import { challengeFor, scopeChallenge, sendProblem } from './gateway-errors.js';
import { GatewaySeries, gatewayMetrics } from './gateway-metrics.js';
import {
  type Authenticator,
  type AuthenticatorDeps,
  authenticate,
  buildAuthenticators,
  type RouteAuthContext,
} from './pipeline/authenticate.js';
import { type AuthorizeOutcome, authorize, type PolicyHook } from './pipeline/authorize.js';
import { type CircuitState, Upstream, type UpstreamHeaders } from './pipeline/forward.js';
import type { AuthOutcome, CredentialKind, Identity } from './pipeline/identity.js';
import {
  HOP_BY_HOP,
  type InternalToken,
  type InternalTokens,
  internalHeaderNames,
  requestIdOf,
  stripInternalHeaders,
  traceparentOf,
} from './pipeline/mutate.js';
import { type RateLimiter, rateKey } from './pipeline/rate-limit.js';
import { normalizeRequestTarget, pathHasPrefix } from './routing/normalize-path.js';
import type { CompiledRoute } from './routing/route-table.js';
import type { RouteSource } from './routing/route-source.js';

/** Where forward-auth (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz) asks. */
export const FORWARD_AUTH_PATH = '/.gatehouse/authz';

export interface GatewayDeps {
  config: ResolvedConfig;
  routes: RouteSource;
  auth: AuthenticatorDeps;
  internalTokens: InternalTokens;
  rateLimiter: RateLimiter;
  audit: AuditLog;
  metrics: Metrics;
  clock: Clock;
  logger: Logger;
  policy?: PolicyHook;
  /** Called once the gateway has closed (stops the routes file watch). */
  onClose?: () => void;
}

/**
 * Headers of the gateway's own on every answer (request id, rate-limit state), gathered while the
 * request runs and written with the status line at once: one `writeHead` instead of a `setHeader`
 * per field keeps Node on its fast path.
 */
type AnswerHeaders = Record<string, string>;

/** How a refusal is answered: directly when proxying, mapped to 401/403 for forward-auth. */
type Refuser = (status: number, code: ErrorCode, detail: string, headers?: Record<string, string>) => void;

/** A route's pipeline, built once per route version. */
interface RoutePipeline {
  chain: Authenticator[];
  auth: RouteAuthContext;
  upstream: Upstream;
}

/** What the pipeline decided for a request, before forwarding (shared with forward-auth). */
type Decision =
  | {
      ok: true;
      route: CompiledRoute;
      identity: Identity;
      path: string;
      rawPath: string;
      query: string;
      /** What goes upstream, as a flat [name, value, …] list. */
      headers: UpstreamHeaders;
      /** The internal JWT (also in `headers` as the Authorization) and the new traceparent. */
      internal: InternalToken;
      traceparent: string;
    }
  | { ok: false };

const REFUSED: Decision = Object.freeze({ ok: false });

/** A request on its way through the stages of `#decide`: what each stage reads. */
interface Passage {
  request: IncomingMessage;
  method: string;
  route: CompiledRoute;
  normalized: { path: string; rawPath: string; query: string };
  clientIp: string;
  requestId: string;
  /** The gateway's answer headers (request id, rate-limit state), filled in as stages run. */
  answer: AnswerHeaders;
  refuse: Refuser;
  started: bigint;
}

/**
 * The gateway: a node:http server (no framework on the data path) that runs each request
 * through its route's chain in order — strip internal headers → normalize and match → authenticate
 * → authorize → rate limit → mutate (internal token, request id, trace context) → forward.
 */
export class GatewayServer {
  readonly #deps: GatewayDeps;
  readonly #server: Server;
  readonly #clientAddress: ClientAddress;
  readonly #metrics: ReturnType<typeof gatewayMetrics>;
  readonly #series: GatewaySeries;
  readonly #internalNames: ReadonlySet<string>;
  readonly #pipelines = new Map<RouteConfig, RoutePipeline>();

  constructor(deps: GatewayDeps) {
    this.#deps = deps;
    const g = deps.config.gateway;
    this.#clientAddress = new ClientAddress(deps.config.server.trusted_proxies);
    this.#metrics = gatewayMetrics(deps.metrics.registry);
    this.#series = new GatewaySeries(this.#metrics);
    this.#internalNames = internalHeaderNames(g.strip_headers);
    this.#server = createServer(
      {
        // Over this the request head is refused with 431 by Node itself, before any of our code runs.
        maxHeaderSize: g.max_header_bytes,
        headersTimeout: g.headers_timeout_ms,
        requestTimeout: g.headers_timeout_ms * 6,
        keepAliveTimeout: g.idle_timeout_ms,
        // Node enforces headersTimeout on this sweep (default every 30 s): sweep often enough.
        connectionsCheckingInterval: Math.min(1000, g.headers_timeout_ms),
      },
      (request, response) => {
        const requestId = requestIdOf(request.headers);
        this.#handle(request, response, requestId).catch((err: unknown) => {
          // Fail closed: when revocations (or keys) cannot be checked, nothing is let through.
          if (err instanceof GatehouseError && err.status === 503) {
            sendProblem(
              response,
              503,
              'ERR_STORE_UNAVAILABLE',
              'authorization state is unavailable; retry shortly',
              { 'x-request-id': requestId, 'retry-after': '1' },
            );
            return;
          }
          deps.logger.error({ err }, 'gateway request failed');
          sendProblem(response, 502, 'ERR_UPSTREAM_UNREACHABLE', 'the request could not be completed', {
            'x-request-id': requestId,
          });
        });
      },
    );
    // Built now so a route that cannot work (an unset secret variable) fails the start, not a request.
    for (const route of deps.routes.table.all()) this.#pipeline(route.config);
    this.#server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      this.#upgrade(request, socket, head).catch((err: unknown) => {
        deps.logger.error({ err }, 'gateway upgrade failed');
        socket.destroy();
      });
    });
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve());
    });
    return (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
    });
    await Promise.all([...this.#pipelines.values()].map((p) => p.upstream.close()));
    this.#deps.onClose?.();
  }

  /**
   * After a routes reload: builds the new routes' pipelines and closes the connection pools of
   * routes that are gone (in-flight requests on them finish first).
   */
  routesChanged(): void {
    const live = new Set(this.#deps.routes.table.all().map((r) => r.config));
    for (const [config, pipeline] of this.#pipelines) {
      if (live.has(config)) continue;
      this.#pipelines.delete(config);
      pipeline.upstream.close().catch(() => undefined);
    }
    for (const config of live) {
      try {
        this.#pipeline(config);
      } catch (err) {
        this.#deps.logger.error(
          { err, route: config.id },
          'reloaded route cannot be built; its requests will fail',
        );
      }
    }
  }

  closeAllConnections(): void {
    this.#server.closeAllConnections();
  }

  async #handle(request: IncomingMessage, response: ServerResponse, requestId: string): Promise<void> {
    const started = process.hrtime.bigint();
    const answer: AnswerHeaders = { 'x-request-id': requestId };
    // Before anything else reads the request.
    stripInternalHeaders(request.headers, this.#internalNames);
    const url = request.url ?? '/';
    if (url.startsWith(FORWARD_AUTH_PATH) && /^(?:$|[/?])/.test(url.slice(FORWARD_AUTH_PATH.length))) {
      await this.#forwardAuth(request, response, answer);
      return;
    }
    const refuse = refuserFor(response, answer);
    const decided = this.#decide(request, request.method ?? 'GET', url, answer, refuse);
    const decision = decided instanceof Promise ? await decided : decided;
    if (!decision.ok) return;
    const { route, rawPath, query, headers } = decision;
    const limit = this.#deps.config.gateway.body_limit_bytes;
    if (Number(request.headers['content-length'] ?? 0) > limit) {
      this.#finish(route.config.id, 413, started);
      refuse(413, 'ERR_BODY_TOO_LARGE', `the request body is larger than ${limit} bytes`);
      return;
    }
    const upstreamPath = route.config.upstream.strip_prefix
      ? stripPrefix(rawPath, route.config.match.path)
      : rawPath;
    const outcome = await this.#pipeline(route.config).upstream.forward(
      request,
      response,
      query === '' ? upstreamPath : `${upstreamPath}?${query}`,
      headers,
      answer,
    );
    if (outcome.ok) {
      this.#series.upstream(route.config.id, outcome.seconds);
      this.#finish(route.config.id, outcome.status, started);
      return;
    }
    // Nobody is left to answer; counted as nginx logs it (499, client closed request).
    if (outcome.reason === 'client_left') {
      this.#finish(route.config.id, 499, started);
      return;
    }
    const [status, code, detail] =
      outcome.reason === 'too_large'
        ? ([413, 'ERR_BODY_TOO_LARGE', 'the request body is larger than the gateway accepts'] as const)
        : outcome.reason === 'timeout'
          ? ([504, 'ERR_UPSTREAM_TIMEOUT', 'the upstream service did not answer in time'] as const)
          : outcome.reason === 'circuit_open'
            ? ([
                503,
                'ERR_UPSTREAM_UNAVAILABLE',
                'the upstream service is unavailable (circuit open)',
              ] as const)
            : ([502, 'ERR_UPSTREAM_UNREACHABLE', 'the upstream service cannot be reached'] as const);
    this.#finish(route.config.id, status, started);
    refuse(status, code, detail, status === 503 ? { 'retry-after': '10' } : undefined);
  }

  /**
   * Normalize → match → authenticate → authorize → rate limit → mutate. Answers the client
   * itself (and returns ok: false) at the first stage that refuses. Each stage below takes the
   * one before's answer as soon as it is there: on the common path (a token verified before, an
   * in-memory rate window, a fresh internal token) the whole chain runs without a promise.
   */
  #decide(
    request: IncomingMessage,
    method: string,
    target: string,
    answer: AnswerHeaders,
    refuse: Refuser,
  ): MaybePromise<Decision> {
    const started = process.hrtime.bigint();
    const normalized = normalizeRequestTarget(target);
    if (!normalized.ok) {
      this.#finish('unmatched', 400, started);
      refuse(400, 'ERR_PATH_REJECTED', `the request path is ambiguous (${normalized.reason})`);
      return REFUSED;
    }
    const route = this.#deps.routes.table.match(method, hostOf(request), normalized.path);
    if (!route) {
      this.#finish('unmatched', 404, started);
      refuse(404, 'ERR_ROUTE_NOT_FOUND', 'no gateway route matches this request');
      return REFUSED;
    }
    const pipeline = this.#pipeline(route.config);
    const passage: Passage = {
      request,
      method,
      route,
      normalized,
      clientIp: this.#clientAddress.of(request),
      requestId: answer['x-request-id'] as string,
      answer,
      refuse,
      started,
    };
    return andThen(authenticate(pipeline.chain, request.headers, pipeline.auth), (outcome) =>
      this.#authenticated(passage, outcome),
    );
  }

  #authenticated(passage: Passage, outcome: AuthOutcome): MaybePromise<Decision> {
    this.#series.authResult(
      outcome.status === 'accepted'
        ? ACCEPTED_RESULT[outcome.identity.credential]
        : outcome.status === 'rejected'
          ? outcome.reason
          : 'no_credentials',
    );
    if (outcome.status !== 'accepted') {
      return this.#refused(
        passage,
        401,
        outcome.status === 'rejected' ? outcome.reason : 'no_credentials',
        undefined,
        [
          'ERR_AUTH_REQUIRED',
          outcome.status === 'rejected' ? outcome.description : 'authentication is required',
          { 'www-authenticate': challengeFor(outcome) },
        ],
      );
    }
    const { identity } = outcome;
    const { route, method, normalized, clientIp } = passage;
    return andThen(
      authorize(route.config, identity, { method, path: normalized.path, ip: clientIp }, this.#deps.policy),
      (verdict) => this.#authorized(passage, identity, verdict),
    );
  }

  #authorized(passage: Passage, identity: Identity, verdict: AuthorizeOutcome): MaybePromise<Decision> {
    if (!verdict.allowed) {
      return this.#refused(passage, 403, verdict.reason, identity.sub, [
        'ERR_FORBIDDEN',
        `denied: ${verdict.reason}`,
        verdict.scope ? { 'www-authenticate': scopeChallenge(verdict.scope) } : {},
      ]);
    }
    const { route, clientIp } = passage;
    const limit = route.config.rate_limit;
    if (!limit) return this.#withinLimit(passage, identity);
    return andThen(
      this.#deps.rateLimiter.hit(
        rateKey(route.config.id, limit, identity, clientIp),
        limit.limit,
        limit.window,
      ),
      (rate) => {
        const { answer } = passage;
        answer['ratelimit-limit'] = String(rate.limit);
        answer['ratelimit-remaining'] = String(rate.remaining);
        answer['ratelimit-reset'] = String(rate.reset);
        if (rate.allowed) return this.#withinLimit(passage, identity);
        this.#series.rateLimited(route.config.id);
        return this.#refused(passage, 429, 'rate_limited', identity.sub, [
          'ERR_RATE_LIMITED',
          `rate limit of ${rate.limit} requests per ${limit.window} s exceeded`,
          { 'retry-after': String(rate.retryAfter) },
        ]);
      },
    );
  }

  #withinLimit(passage: Passage, identity: Identity): MaybePromise<Decision> {
    return andThen(
      this.#deps.internalTokens.mint(identity, passage.route.config.upstream.service),
      (internal) => this.#admitted(passage, identity, internal),
    );
  }

  /** Mutate: the upstream's headers, with the internal token in place of the client's credential. */
  #admitted(passage: Passage, identity: Identity, internal: InternalToken): Decision {
    const { request, route, normalized, clientIp, requestId } = passage;
    const traceparent = traceparentOf(request.headers);
    const headers = upstreamHeaders(request);
    // After the client's headers, which upstreamHeaders leaves out under these names: the
    // verified client address as x-forwarded-for, never a chain the client could have written.
    headers.push(
      'authorization',
      internal.authorization,
      'x-request-id',
      requestId,
      'traceparent',
      traceparent,
      'x-forwarded-for',
      clientIp,
    );
    identityFields(identity, headers);
    if (this.#deps.config.gateway.audit_allow_sample > Math.random()) {
      // A sampled allow is a record, not a gate: the request does not wait for it to be durable
      // (that wait was the slowest 1 % of allowed requests), and it is batched with others.
      this.#deps.audit.note({
        actor: `${identity.credential}:${identity.sub}`,
        action: 'gateway.allowed',
        target: route.config.id,
        details: { ip: clientIp, request_id: requestId },
      });
    }
    return {
      ok: true,
      route,
      identity,
      path: normalized.path,
      rawPath: normalized.rawPath,
      query: normalized.query,
      headers,
      internal,
      traceparent,
    };
  }

  /** A refusal: audited (the answer waits for the record), counted, then answered. */
  async #refused(
    passage: Passage,
    status: number,
    reason: string,
    sub: string | undefined,
    [code, detail, headers]: [ErrorCode, string, Record<string, string>],
  ): Promise<Decision> {
    const id = passage.route.config.id;
    await this.#deny(id, status, passage.clientIp, reason, passage.requestId, sub);
    this.#finish(id, status, passage.started);
    passage.refuse(status, code, detail, headers);
    return REFUSED;
  }

  /**
   * The same chain without proxying: the original method and URI come from the proxy asking
   * (nginx: X-Original-Method / X-Original-URI; Traefik: X-Forwarded-Method / X-Forwarded-Uri;
   * Envoy ext_authz: the original path appended to this one). 200 carries the identity headers
   * and the internal token for the proxy to pass on.
   */
  async #forwardAuth(
    request: IncomingMessage,
    response: ServerResponse,
    answer: AnswerHeaders,
  ): Promise<void> {
    const url = request.url ?? FORWARD_AUTH_PATH;
    const appended = url.startsWith(`${FORWARD_AUTH_PATH}/`)
      ? url.slice(FORWARD_AUTH_PATH.length)
      : undefined;
    const header = (name: string) => {
      const v = request.headers[name];
      return typeof v === 'string' && v !== '' ? v : undefined;
    };
    const target = appended ?? header('x-original-uri') ?? header('x-forwarded-uri');
    const method =
      (appended !== undefined
        ? request.method
        : (header('x-original-method') ?? header('x-forwarded-method'))) ?? 'GET';
    const refuse = refuserFor(response, answer);
    if (target === undefined) {
      refuse(
        400,
        'ERR_REQUEST_INVALID',
        'forward-auth needs X-Original-URI (nginx) or X-Forwarded-Uri (Traefik)',
      );
      return;
    }
    // nginx auth_request understands 401 and 403 only (anything else becomes its own 500), so
    // every other refusal is a 403 here, keeping its code and headers.
    const decision = await this.#decide(request, method.toUpperCase(), target, answer, (status, ...rest) =>
      refuse(status === 401 ? 401 : 403, ...rest),
    );
    if (!decision.ok) return;
    const head: string[] = [];
    for (const name in answer) head.push(name, answer[name] as string);
    head.push('authorization', decision.internal.authorization);
    identityFields(decision.identity, head);
    head.push(
      'traceparent',
      decision.traceparent,
      'x-gatehouse-route',
      decision.route.config.id,
      'cache-control',
      'no-store',
      'content-length',
      '0',
    );
    response.writeHead(200, head);
    response.end();
    this.#series.finished(decision.route.config.id, 200);
  }

  /**
   * An Upgrade request (WebSocket): the same chain decides, then the two sockets are joined.
   * Refusals are ordinary HTTP answers written on the socket before it closes.
   */
  async #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const answer: AnswerHeaders = { 'x-request-id': requestIdOf(request.headers) };
    stripInternalHeaders(request.headers, this.#internalNames);
    const protocol = String(request.headers.upgrade ?? '');
    const response = new ServerResponse(request);
    response.assignSocket(socket as Socket);
    response.shouldKeepAlive = false;
    const answerWith = refuserFor(response, answer);
    const refuse: Refuser = (...a) => {
      answerWith(...a);
      response.once('finish', () => socket.end());
    };
    const decision = await this.#decide(request, request.method ?? 'GET', request.url ?? '/', answer, refuse);
    if (!decision.ok) return;
    const { route, rawPath, query } = decision;
    const path = route.config.upstream.strip_prefix ? stripPrefix(rawPath, route.config.match.path) : rawPath;
    const upgraded = await this.#pipeline(route.config).upstream.upgrade(
      query === '' ? path : `${path}?${query}`,
      decision.headers,
      protocol,
    );
    if (!upgraded) {
      refuse(502, 'ERR_UPSTREAM_UNREACHABLE', 'the upstream service refused or could not take the upgrade');
      return;
    }
    response.detachSocket(socket as Socket);
    const lines = ['HTTP/1.1 101 Switching Protocols'];
    for (const [name, value] of Object.entries(upgraded.headers)) {
      for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value])
        lines.push(`${name}: ${v}`);
    }
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upgraded.socket.write(head);
    const close = () => {
      socket.destroy();
      upgraded.socket.destroy();
    };
    upgraded.socket.on('error', close).on('close', close);
    socket.on('close', close);
    socket.pipe(upgraded.socket).pipe(socket);
    this.#series.finished(route.config.id, 101);
  }

  #pipeline(route: RouteConfig): RoutePipeline {
    let pipeline = this.#pipelines.get(route);
    if (!pipeline) {
      const check = route.upstream.health_check;
      const upstream = new Upstream(route.upstream.targets, {
        timeoutMs: route.upstream.timeout_ms,
        retries: route.upstream.retries,
        balance: route.upstream.balance,
        healthCheck: check && {
          path: check.path,
          intervalMs: check.interval_ms,
          timeoutMs: check.timeout_ms,
        },
        bodyLimit: this.#deps.config.gateway.body_limit_bytes,
        clock: this.#deps.clock,
        onState: (target: string, state: CircuitState) => {
          this.#metrics.circuit.set(
            { route: route.id, target },
            state === 'closed' ? 0 : state === 'half_open' ? 1 : 2,
          );
          this.#deps.logger.warn({ route: route.id, target, state }, 'upstream circuit changed');
        },
      });
      pipeline = {
        chain: buildAuthenticators(route.authenticate, this.#deps.auth),
        auth: { service: route.upstream.service, revocation: route.revocation },
        upstream,
      };
      this.#pipelines.set(route, pipeline);
    }
    return pipeline;
  }

  async #deny(
    route: string,
    status: number,
    ip: string,
    reason: string,
    requestId: string,
    sub?: string,
  ): Promise<void> {
    await this.#deps.audit.record({
      actor: sub === undefined ? 'anonymous' : `subject:${sub}`,
      action: 'gateway.denied',
      target: route,
      outcome: 'failure',
      details: { status, reason, ip, request_id: requestId },
    });
  }

  #finish(route: string, status: number, started: bigint): void {
    this.#series.finished(route, status, Number(process.hrtime.bigint() - started) / 1e9);
  }
}

/** The auth-result label of an accepted credential: one string each, not one made per request. */
const ACCEPTED_RESULT: Readonly<Record<CredentialKind, string>> = {
  jwt: 'accepted_jwt',
  api_key: 'accepted_api_key',
  opaque: 'accepted_opaque',
  anonymous: 'accepted_anonymous',
};

/** Refusals carry the gateway's answer headers (request id, rate-limit state) and their own. */
function refuserFor(response: ServerResponse, answer: AnswerHeaders): Refuser {
  return (status, code, detail, headers) =>
    sendProblem(response, status, code, detail, headers === undefined ? answer : { ...answer, ...headers });
}

/** Fields a client's `Connection` header names (hop-by-hop too); none for the usual keep-alive/close. */
function connectionOptions(connection: string | undefined): Set<string> | undefined {
  if (connection === undefined || connection === 'keep-alive' || connection === 'close') return undefined;
  return new Set(
    connection
      .toLowerCase()
      .split(',')
      .map((s) => s.trim()),
  );
}

function hostOf(request: IncomingMessage): string | undefined {
  const host = request.headers.host;
  return host === undefined ? undefined : host.toLowerCase();
}

function stripPrefix(rawPath: string, prefix: string): string {
  if (!pathHasPrefix(rawPath, prefix) || prefix === '/') return rawPath;
  const rest = rawPath.slice(prefix.replace(/\/$/, '').length);
  return rest === '' ? '/' : rest;
}

/**
 * The client's headers minus hop-by-hop fields, its own credential and the fields the gateway
 * sets itself (see #admitted), plus the forwarding ones, as a flat [name, value, …] list: undici
 * takes it as it is, where an object built name by name cost property transitions per request.
 */
function upstreamHeaders(request: IncomingMessage): UpstreamHeaders {
  const out: UpstreamHeaders = [];
  const connectionListed = connectionOptions(request.headers.connection);
  const { headers } = request;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || SET_BY_GATEWAY.has(name)) continue;
    if (connectionListed?.has(name)) continue;
    if (typeof value === 'string') out.push(name, value);
    else for (const one of value) out.push(name, one);
  }
  if (headers.host !== undefined) out.push('x-forwarded-host', headers.host);
  out.push('x-forwarded-proto', 'http');
  return out;
}

/**
 * Request fields the gateway writes itself, so a client's own never goes upstream beside them:
 * its credential (replaced by the internal token), host (undici sets the target's), and the
 * fields {@link upstreamHeaders} and #admitted add. The internal namespace is gone already.
 */
const SET_BY_GATEWAY = new Set([
  'authorization',
  'x-api-key',
  'host',
  'x-request-id',
  'traceparent',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
]);

/** The identity the gateway vouches for, appended to a flat header list (upstream and forward-auth alike). */
function identityFields(identity: Identity, into: string[]): void {
  into.push('x-gatehouse-sub', identity.sub);
  if (identity.clientId !== undefined) into.push('x-gatehouse-client-id', identity.clientId);
  if (identity.scopes.length > 0) into.push('x-gatehouse-scopes', identity.scopes.join(' '));
}
