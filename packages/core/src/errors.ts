/**
 * Every error Gatehouse raises on purpose. Codes are stable strings, never reused; each has a
 * row in docs/errors.md. `status` is the HTTP status a caller should see and `expose` says
 * whether `message` may be shown to that caller (5xx never expose).
 */
export type ErrorCode =
  // configuration
  | 'ERR_CONFIG_INVALID'
  | 'ERR_CONFIG_UNREADABLE'
  // JWT verification (all map to 401 invalid_token)
  | 'ERR_JWT_MALFORMED'
  | 'ERR_JWT_TOO_LARGE'
  | 'ERR_JWT_ALG_NOT_ALLOWED'
  | 'ERR_JWT_HEADER_FORBIDDEN'
  | 'ERR_JWT_CRIT_UNSUPPORTED'
  | 'ERR_JWT_KID_INVALID'
  | 'ERR_JWT_KEY_UNKNOWN'
  | 'ERR_JWT_SIGNATURE_INVALID'
  | 'ERR_JWT_TYP_INVALID'
  | 'ERR_JWT_CLAIM_MISSING'
  | 'ERR_JWT_CLAIM_INVALID'
  | 'ERR_JWT_EXPIRED'
  | 'ERR_JWT_NOT_YET_VALID'
  | 'ERR_JWT_LIFETIME_TOO_LONG'
  | 'ERR_JWT_ISSUER_INVALID'
  | 'ERR_JWT_AUDIENCE_INVALID'
  | 'ERR_JWKS_UNAVAILABLE'
  // key material
  | 'ERR_KEY_WEAK'
  | 'ERR_KEY_INVALID'
  | 'ERR_KEY_DECRYPT_FAILED'
  | 'ERR_KEY_NOT_FOUND'
  // storage
  | 'ERR_STORE_CONFLICT'
  | 'ERR_STORE_NOT_FOUND'
  | 'ERR_STORE_UNAVAILABLE'
  // HTTP requests (admin API and operations; OAuth endpoints answer RFC 6749 codes instead)
  | 'ERR_REQUEST_INVALID'
  | 'ERR_BODY_TOO_LARGE'
  | 'ERR_MEDIA_TYPE_UNSUPPORTED'
  | 'ERR_AUTH_REQUIRED'
  | 'ERR_FORBIDDEN'
  | 'ERR_ROUTE_NOT_FOUND'
  | 'ERR_CLIENT_MANAGED_BY_CONFIG'
  // generic
  | 'ERR_INTERNAL'
  // user directory
  | 'ERR_PASSWORD_POLICY'
  | 'ERR_IMPORT_TOO_LARGE'
  | 'ERR_IMPORT_INVALID'
  // browser login and refresh (/auth/*)
  | 'ERR_LOGIN_FAILED'
  | 'ERR_LOGIN_THROTTLED'
  | 'ERR_ORIGIN_NOT_ALLOWED'
  | 'ERR_CSRF_INVALID'
  | 'ERR_REFRESH_INVALID'
  | 'ERR_REFRESH_REUSED'
  // gateway
  | 'ERR_PATH_REJECTED'
  | 'ERR_RATE_LIMITED'
  | 'ERR_UPSTREAM_UNAVAILABLE'
  | 'ERR_UPSTREAM_TIMEOUT'
  | 'ERR_UPSTREAM_UNREACHABLE'
  // services (@gatehouse/node)
  | 'ERR_TOKEN_REVOKED'
  // policy decision point
  | 'ERR_POLICY_INVALID'
  | 'ERR_POLICY_SCHEMA_INVALID'
  | 'ERR_POLICY_REQUEST_INVALID'
  | 'ERR_POLICY_UNAVAILABLE'
  | 'ERR_POLICY_TEST_INVALID';

/** Options accepted by {@link GatehouseError}. */
export interface GatehouseErrorOptions {
  status?: number;
  expose?: boolean;
  cause?: unknown;
}

/**
 * Base class of every deliberate Gatehouse error.
 *
 * @example
 * ```ts
 * throw new GatehouseError('ERR_STORE_CONFLICT', 'a client with this id exists', { status: 409 });
 * ```
 */
export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly expose: boolean;

  constructor(code: ErrorCode, message: string, options: GatehouseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatehouseError';
    this.code = code;
    this.status = options.status ?? 500;
    this.expose = options.expose ?? this.status < 500;
  }
}

/** Raised when a JWT fails any check; always a 401 `invalid_token` to the caller. */
export class JwtError extends GatehouseError {
  constructor(code: ErrorCode, message: string, cause?: unknown) {
    super(code, message, { status: 401, expose: true, cause });
    this.name = 'JwtError';
  }
}

/** Raised by config loading; `path` is the dotted path of the bad key. */
export class ConfigError extends GatehouseError {
  readonly issues: readonly { path: string; message: string }[];

  constructor(issues: readonly { path: string; message: string }[], cause?: unknown) {
    super(
      'ERR_CONFIG_INVALID',
      `invalid configuration:\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}`,
      { status: 500, expose: false, cause },
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}
