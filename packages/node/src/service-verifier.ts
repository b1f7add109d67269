import type { IncomingHttpHeaders } from 'node:http';
import {
  bearerChallenge,
  type Clock,
  JwtError,
  RemoteKeySet,
  systemClock,
  verifyJwtWithRemote,
} from '@gatehouse/core';
import { AccessError } from './errors.js';
import type { GatehouseEndpoint } from './gatehouse-endpoint.js';
import { identityOf, type ServiceIdentity } from './identity.js';
import type { RevocationFeed } from './revocation-feed.js';

/** `typ` of the gateway's internal token. */
export const INTERNAL_TOKEN_TYP = 'gatehouse-internal+jwt';
/** `typ` of an access token from Gatehouse (a token exchanged for a service-to-service call). */
export const ACCESS_TOKEN_TYP = 'at+jwt';

/** Options of a {@link ServiceVerifier}. */
export interface ServiceVerifierOptions extends GatehouseEndpoint {
  /** This service's name: the `aud` every token it accepts must carry (the route's `upstream.service`). */
  audience: string;
  /** The fabric's revocations; without it, only expiry ends a token. */
  revocations?: RevocationFeed;
  /** Allowed clock difference for exp/nbf/iat; default 30 s. */
  clockSkewSeconds?: number;
  /** Longest lifetime (exp - iat) accepted; default 300 s (exchanged tokens live at most 5 min). */
  maxLifetimeSeconds?: number;
  clock?: Clock;
}

const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;

/**
 * Verifies what reaches a service: the gateway's internal JWT or a token another service got
 * for it by token exchange. Every check applies: signature with the issuer's published keys
 * (JWKS cached, refetched on an unknown kid), pinned alg, `typ`, `iss`, `aud` = this service,
 * `exp`/`nbf`/`iat` within the skew, lifetime, then revocation. A token minted for another
 * service is refused (its `aud` differs) even though the same keys signed it.
 *
 * @example
 * ```ts
 * const verifier = new ServiceVerifier({ url: 'http://127.0.0.1:8080', audience: 'urn:shop:orders' });
 * const who = await verifier.verifyRequest(req.headers);
 * ```
 */
export class ServiceVerifier {
  readonly #options: ServiceVerifierOptions;
  readonly #keys: RemoteKeySet;
  readonly #issuer: string;
  readonly #clock: Clock;

  constructor(options: ServiceVerifierOptions) {
    this.#options = options;
    this.#issuer = options.issuer ?? options.url.replace(/\/$/, '');
    this.#clock = options.clock ?? systemClock;
    this.#keys = new RemoteKeySet({
      jwksUri: `${options.url.replace(/\/$/, '')}/.well-known/jwks.json`,
      clock: this.#clock,
      ...(options.fetch && { fetch: options.fetch }),
    });
  }

  /** The service's name (the audience it accepts). */
  get audience(): string {
    return this.#options.audience;
  }

  /** The bearer token of a request, verified; refusals are {@link AccessError}s (401/503). */
  async verifyRequest(headers: IncomingHttpHeaders): Promise<ServiceIdentity> {
    const header = headers.authorization;
    if (header === undefined) {
      throw new AccessError('ERR_AUTH_REQUIRED', 401, 'a bearer token is required', bearerChallenge());
    }
    const token = header.length <= 16_384 ? BEARER.exec(header)?.[1] : undefined;
    if (token === undefined) {
      throw new AccessError(
        'ERR_AUTH_REQUIRED',
        401,
        'the Authorization header is not a bearer token',
        bearerChallenge({ error: 'invalid_token', description: 'malformed credential' }),
      );
    }
    return this.verify(token, {
      requestId: single(headers['x-request-id']),
      traceparent: single(headers.traceparent),
    });
  }

  /** Verifies one token (see the class description). */
  async verify(
    token: string,
    context: { requestId?: string | undefined; traceparent?: string | undefined } = {},
  ): Promise<ServiceIdentity> {
    const options = {
      issuer: this.#issuer,
      audience: this.#options.audience,
      maxLifetimeSeconds: this.#options.maxLifetimeSeconds ?? 300,
      clockSkewSeconds: this.#options.clockSkewSeconds ?? 30,
      clock: this.#clock,
    };
    let claims: Awaited<ReturnType<typeof verifyJwtWithRemote>>['payload'];
    try {
      try {
        ({ payload: claims } = await verifyJwtWithRemote(token, this.#keys, {
          ...options,
          typ: INTERNAL_TOKEN_TYP,
        }));
      } catch (err) {
        // typ is checked before any crypto: a second try costs nothing when it fails too.
        if (!(err instanceof JwtError && err.code === 'ERR_JWT_TYP_INVALID')) throw err;
        ({ payload: claims } = await verifyJwtWithRemote(token, this.#keys, {
          ...options,
          typ: ACCESS_TOKEN_TYP,
        }));
      }
    } catch (err) {
      if (err instanceof JwtError && err.code === 'ERR_JWKS_UNAVAILABLE') {
        throw new AccessError(
          'ERR_JWKS_UNAVAILABLE',
          503,
          'the signing keys cannot be fetched',
          undefined,
          err,
        );
      }
      if (err instanceof JwtError) {
        throw new AccessError(
          err.code,
          401,
          err.message,
          bearerChallenge({ error: 'invalid_token', description: err.message }),
          err,
        );
      }
      throw err;
    }
    const feed = this.#options.revocations;
    let revoked = false;
    try {
      revoked = feed?.isRevoked(claims) ?? false;
    } catch (err) {
      throw new AccessError(
        'ERR_STORE_UNAVAILABLE',
        503,
        'revocations cannot be checked right now',
        undefined,
        err,
      );
    }
    if (revoked) {
      throw new AccessError(
        'ERR_TOKEN_REVOKED',
        401,
        'the token has been revoked',
        bearerChallenge({ error: 'invalid_token', description: 'the token has been revoked' }),
      );
    }
    return identityOf(token, claims, context);
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
