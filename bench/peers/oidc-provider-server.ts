/**
 * oidc-provider 9 as the benchmark's peer: client_credentials with ES256 JWT access tokens for
 * client `bench`, opaque access tokens for `bench-opaque` (introspection), in-memory adapter,
 * client_secret_basic. Runs on its own so it gets a core to itself, like Gatehouse.
 *
 * Env: BENCH_PORT (required), BENCH_SECRET (required; both clients' secret).
 * Run: node --import tsx bench/peers/oidc-provider-server.ts
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import './quiet-console.js';
import Provider from 'oidc-provider';
import { peerEnv, serveUntilSignal } from './peer-env.js';

const { port, secret } = peerEnv();

/** The resource every token is for (RFC 8707); the default, since requests name none. */
const RESOURCE = 'https://api.bench';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-es256', alg: 'ES256', use: 'sig' };

const client = (clientId: string) => ({
  client_id: clientId,
  client_secret: secret,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: 'ES256',
  scope: 'read',
});

interface ClientLike {
  clientId: string;
}

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [client('bench'), client('bench-opaque')],
  jwks: { keys: [jwk] },
  scopes: ['openid', 'read'],
  routes: { token: '/oauth2/token', introspection: '/oauth2/introspect' },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // A client may introspect its own tokens (Gatehouse lets any authenticated client).
      allowedPolicy: async (_ctx: unknown, caller: ClientLike, token: { clientId?: string }) =>
        token.clientId === caller.clientId,
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (_ctx: unknown, _resource: string, requester: ClientLike) =>
        requester.clientId === 'bench-opaque'
          ? { scope: 'read', accessTokenFormat: 'opaque' }
          : { scope: 'read', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } },
    },
  },
});
provider.on('server_error', (_ctx, err) => {
  console.error('oidc-provider server_error:', err);
});

serveUntilSignal(createServer(provider.callback()), port, `oidc-provider listening on ${issuer}`);
