import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type Clock,
  epochSeconds,
  systemClock,
} from '@gatehouse/core';
import { AccessError } from './errors.js';
import { type GatehouseEndpoint, postForm } from './gatehouse-endpoint.js';
import type { ServiceIdentity } from './identity.js';
import { childTraceparent, requestIdFor } from './trace-context.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** A cached token is renewed once less than this share of its life is left. */
const RENEW_AT = 0.2;

/** Options of a {@link ServiceClient}. */
export interface ServiceClientOptions extends GatehouseEndpoint {
  clientId: string;
  clientSecret: string;
  /** Per downstream origin; see {@link CircuitBreaker}. */
  breaker?: CircuitBreakerOptions;
  /** Per call; default 5000 ms. */
  timeoutMs?: number;
  clock?: Clock;
}

/** One downstream call. */
export interface CallOptions {
  /** The downstream service's name: the audience of the token sent. */
  audience: string;
  /** Scopes the call needs; only these go into the token (least privilege). */
  scope: readonly string[];
  /**
   * Call as this user: the identity's token is exchanged (RFC 8693) for one addressed to
   * `audience` with `scope`, carrying `act` = this service. Without it, the service calls as
   * itself with its own client_credentials token.
   */
  as?: ServiceIdentity;
  method?: string;
  /** A JSON body. */
  json?: unknown;
  headers?: Record<string, string>;
}

interface CachedToken {
  token: string;
  exp: number;
  renewAt: number;
}

/**
 * Calls other services with the right token: its own client_credentials token (cached, renewed
 * before expiry, one request in flight at a time), or the user's, exchanged for the downstream
 * audience and a narrower scope (cached per user token, audience and scope; never longer than
 * the token it came from). Adds `X-Request-ID` and `traceparent`; a circuit breaker per origin.
 * A refused exchange (a wider scope, an audience not allowed) is a 403 {@link AccessError}.
 *
 * @example
 * ```ts
 * const calls = new ServiceClient({ url, clientId: 'shop-orders', clientSecret });
 * const res = await calls.fetch('http://inventory/reserve', {
 *   audience: 'urn:shop:inventory', scope: ['inventory:reserve'], as: identity, method: 'POST', json: { sku },
 * });
 * ```
 */
export class ServiceClient {
  readonly #options: ServiceClientOptions;
  readonly #clock: Clock;
  readonly #tokens = new Map<string, CachedToken>();
  readonly #inFlight = new Map<string, Promise<CachedToken>>();
  readonly #breakers = new Map<string, CircuitBreaker>();

  constructor(options: ServiceClientOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * The token for a call (see {@link CallOptions.as}). The service's own token may leave out the
   * audience: it is then addressed to Gatehouse itself (e.g. scope `gatehouse:authz` for the PDP).
   */
  async tokenFor(call: {
    audience?: string;
    scope: readonly string[];
    as?: ServiceIdentity;
  }): Promise<string> {
    const scope = [...call.scope].sort().join(' ');
    const key = JSON.stringify([call.as?.token ?? null, call.audience ?? null, scope]);
    const now = epochSeconds(this.#clock);
    const cached = this.#tokens.get(key);
    if (cached && cached.renewAt > now) return cached.token;
    let pending = this.#inFlight.get(key);
    if (!pending) {
      pending = this.#obtain(call.audience, scope, call.as).finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, pending);
    }
    const fresh = await pending;
    // Bounded: user tokens come and go; drop what has expired before adding.
    if (this.#tokens.size > 1000) for (const [k, t] of this.#tokens) if (t.exp <= now) this.#tokens.delete(k);
    this.#tokens.set(key, fresh);
    return fresh.token;
  }

  /** Calls a downstream service (see {@link CallOptions}); the answer as fetch returns it. */
  async fetch(url: string, call: CallOptions): Promise<Response> {
    const origin = new URL(url).origin;
    let breaker = this.#breakers.get(origin);
    if (!breaker) {
      breaker = new CircuitBreaker(this.#options.breaker);
      this.#breakers.set(origin, breaker);
    }
    // The token first: a refused exchange must not hold the half-open circuit's only probe.
    const token = await this.tokenFor(call);
    if (!breaker.admit()) {
      throw new AccessError('ERR_UPSTREAM_UNAVAILABLE', 503, `${origin} is unavailable (circuit open)`);
    }
    const headers: Record<string, string> = {
      ...call.headers,
      authorization: `Bearer ${token}`,
      'x-request-id': requestIdFor(call.as?.requestId),
      traceparent: childTraceparent(call.as?.traceparent),
    };
    if (call.json !== undefined) headers['content-type'] = 'application/json';
    try {
      const res = await (this.#options.fetch ?? fetch)(url, {
        method: call.method ?? (call.json === undefined ? 'GET' : 'POST'),
        headers,
        ...(call.json !== undefined && { body: JSON.stringify(call.json) }),
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 5000),
      });
      if (res.status >= 500) breaker.failed();
      else breaker.succeeded();
      return res;
    } catch (err) {
      breaker.failed();
      throw new AccessError('ERR_UPSTREAM_UNREACHABLE', 503, `${origin} cannot be reached`, undefined, err);
    }
  }

  async #obtain(
    audience: string | undefined,
    scope: string,
    as: ServiceIdentity | undefined,
  ): Promise<CachedToken> {
    if (as && audience === undefined) throw new Error('calling on as a user needs the downstream audience');
    const form: Record<string, string> = as
      ? {
          grant_type: TOKEN_EXCHANGE,
          subject_token: as.token,
          subject_token_type: ACCESS_TOKEN_TYPE,
          audience: audience as string,
          scope,
        }
      : { grant_type: 'client_credentials', scope, ...(audience !== undefined && { resource: audience }) };
    const { status, body } = await postForm(this.#options, '/oauth2/token', form);
    if (status !== 200 || typeof body.access_token !== 'string' || typeof body.expires_in !== 'number') {
      const reason = typeof body.error_description === 'string' ? body.error_description : `status ${status}`;
      if (status >= 500 || status === 0) {
        throw new AccessError(
          'ERR_UPSTREAM_UNAVAILABLE',
          503,
          `Gatehouse could not issue a token: ${reason}`,
        );
      }
      throw new AccessError(
        'ERR_FORBIDDEN',
        403,
        as
          ? `the call cannot be made for this user: ${reason}`
          : `this service may not get that token: ${reason}`,
      );
    }
    const now = epochSeconds(this.#clock);
    const life = body.expires_in;
    return { token: body.access_token, exp: now + life, renewAt: now + Math.floor(life * (1 - RENEW_AT)) };
  }
}
