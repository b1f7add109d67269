/**
 * RFC 6749 §5.2 / RFC 7009 / RFC 8693 / RFC 8707 error codes answered by the OAuth endpoints.
 * These strings are the protocol's, so they are the stable codes too (docs/errors.md).
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'unsupported_token_type'
  | 'invalid_token'
  | 'insufficient_scope';

/** An OAuth protocol error: `error` and `error_description` in a JSON body. */
export class OAuthError extends Error {
  readonly error: OAuthErrorCode;
  readonly status: number;
  /** Value for `WWW-Authenticate`, when the RFC asks for one. */
  readonly wwwAuthenticate: string | undefined;

  constructor(
    error: OAuthErrorCode,
    description: string,
    options: { status?: number; wwwAuthenticate?: string } = {},
  ) {
    super(description);
    this.name = 'OAuthError';
    this.error = error;
    this.status = options.status ?? (error === 'invalid_client' || error === 'invalid_token' ? 401 : 400);
    this.wwwAuthenticate = options.wwwAuthenticate;
  }

  toJSON(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.error, error_description: this.message };
  }
}
