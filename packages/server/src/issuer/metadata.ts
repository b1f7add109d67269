import { TOKEN_EXCHANGE_GRANT } from '@gatehouse/core';
import { CLIENT_AUTH_METHODS } from './client-auth.js';

/**
 * RFC 8414 authorization server metadata, also served as OIDC discovery. It lists exactly what
 * this server supports today: no authorization endpoint, no ID tokens, no PKCE, so none of those
 * fields appear (browser login is first-party, at /auth/login) (response_types_supported is empty because no response type is supported).
 */
export function authorizationServerMetadata(issuer: string): Record<string, unknown> {
  const authMethods = [...CLIENT_AUTH_METHODS];
  return {
    issuer,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    token_endpoint: `${issuer}/oauth2/token`,
    // `none`: the first-party login client is public and refreshes with its client_id alone.
    token_endpoint_auth_methods_supported: [...authMethods, 'none'],
    grant_types_supported: ['client_credentials', 'refresh_token', TOKEN_EXCHANGE_GRANT],
    response_types_supported: [],
    introspection_endpoint: `${issuer}/oauth2/introspect`,
    introspection_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint: `${issuer}/oauth2/revoke`,
    revocation_endpoint_auth_methods_supported: authMethods,
  };
}
