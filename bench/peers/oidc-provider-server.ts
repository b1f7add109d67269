/**
 * oidc-provider 9 as the benchmark's peer: client_credentials with ES256 JWT access tokens for
 * client `bench`, opaque access tokens for `bench-opaque` (introspection), client_secret_basic;
 * and the refresh_token grant, rotating on every use, for the public client `bench-refresh`
 * (`token_endpoint_auth_method: none`, ES256 JWT access tokens, no `openid` scope so no ID
 * token). All in memory: oidc-provider's bundled development adapter, except for refresh tokens
 * (see refreshTokenAdapter). Runs on its own so it gets a core to itself, like Gatehouse.
 *
 * oidc-provider has no interaction-free way to a first refresh token, so a bench-only endpoint
 * mints them: `POST /bench/refresh-tokens?count=N` with `Authorization: Bearer <BENCH_SECRET>`
 * answers `{"refresh_tokens": [...]}`, each the start of its own grant (one family per token),
 * exactly as oidc-provider stores a grant after consent (Grant + RefreshToken models).
 *
 * Env: BENCH_PORT (required), BENCH_SECRET (required; the confidential clients' secret).
 * Run: node --import tsx bench/peers/oidc-provider-server.ts
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import './quiet-console.js';
import Provider from 'oidc-provider';
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';
import { peerEnv, serveUntilSignal } from './peer-env.js';

const { port, secret } = peerEnv();

/** The resource every token is for (RFC 8707); the default, since requests name none. */
const RESOURCE = 'https://api.bench';
const REFRESH_CLIENT = 'bench-refresh';
const ACCOUNT = 'bench-user';
const MINT_PATH = '/bench/refresh-tokens';
const MAX_MINT = 1024;
/** oidc-provider's default clockTolerance, seconds; the bundled adapter adds it to every entry's lifetime. */
const CLOCK_TOLERANCE = 15;

/** How many of a grant's latest refresh tokens stay findable (spent ones too, for reuse detection). */
const KEPT_PER_GRANT = 16;

interface StoredToken {
  grantId?: string;
  consumed?: number;
}

/**
 * Storage for the RefreshToken model; every other model keeps oidc-provider's bundled in-memory
 * adapter, as before. The bundled adapter indexes every token a grant ever had and rescans that
 * index (plus `Math.max(...all expiries)`) on each save, so along a rotating chain each refresh
 * costs more than the one before — an artifact of the quick-start adapter that would make
 * oidc-provider slower the longer a run lasts. Here: a Map plus, per grant, its last
 * KEPT_PER_GRANT tokens, O(1) per save. (The bundled one is an LRU of 1000 entries, which under
 * 32 chains keeps about the same number of spent tokens per grant.)
 */
function refreshTokenAdapter() {
  const tokens = new Map<string, StoredToken>();
  const byGrant = new Map<string, string[]>();
  return {
    async upsert(id: string, payload: StoredToken) {
      tokens.set(id, payload);
      if (payload.grantId === undefined) return;
      const ids = byGrant.get(payload.grantId) ?? [];
      if (ids.length === 0) byGrant.set(payload.grantId, ids);
      ids.push(id);
      if (ids.length > KEPT_PER_GRANT) tokens.delete(ids.shift() as string);
    },
    async find(id: string) {
      return tokens.get(id);
    },
    async consume(id: string) {
      const token = tokens.get(id);
      if (token) token.consumed = Math.floor(Date.now() / 1000);
    },
    async destroy(id: string) {
      tokens.delete(id);
    },
    async revokeByGrantId(grantId: string) {
      for (const id of byGrant.get(grantId) ?? []) tokens.delete(id);
      byGrant.delete(grantId);
    },
    async findByUid() {
      return undefined;
    },
    async findByUserCode() {
      return undefined;
    },
  };
}

const bundledAdapter = createMemoryAdapter(CLOCK_TOLERANCE);
const refreshTokens = refreshTokenAdapter();

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

/** Public, like Gatehouse's login client: identified by client_id alone, no secret to check. */
const refreshClient = {
  client_id: REFRESH_CLIENT,
  grant_types: ['refresh_token'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'none',
  id_token_signed_response_alg: 'ES256',
  scope: 'read',
};

interface ClientLike {
  clientId: string;
}

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [client('bench'), client('bench-opaque'), refreshClient],
  jwks: { keys: [jwk] },
  scopes: ['openid', 'read'],
  routes: { token: '/oauth2/token', introspection: '/oauth2/introspect' },
  clockTolerance: CLOCK_TOLERANCE,
  adapter: (model: string) =>
    model === 'RefreshToken' && process.env.BENCH_PEER_BUNDLED !== '1'
      ? refreshTokens
      : bundledAdapter(model),
  // Rotation on every use, as Gatehouse does; a consumed token presented again revokes the grant.
  rotateRefreshToken: true,
  // Enables the refresh_token grant (oidc-provider turns it on only with offline_access or this
  // option); consulted at code/device exchange, which the benchmark never does.
  issueRefreshToken: async () => true,
  // One account, kept in memory (Gatehouse reads its user from its store on each refresh).
  findAccount: async (_ctx: unknown, id: string) =>
    id === ACCOUNT ? { accountId: id, claims: async () => ({ sub: id }) } : undefined,
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

/** A grant for `bench-user` → `bench-refresh` (scope read at RESOURCE) and its first refresh token. */
async function mintRefreshToken(): Promise<string> {
  const found = await provider.Client.find(REFRESH_CLIENT);
  if (!found) throw new Error(`client ${REFRESH_CLIENT} missing`);
  const grant = new provider.Grant({ accountId: ACCOUNT, clientId: REFRESH_CLIENT });
  grant.addResourceScope(RESOURCE, 'read');
  const grantId = await grant.save();
  const token = new provider.RefreshToken({
    accountId: ACCOUNT,
    client: found,
    grantId,
    gty: 'authorization_code',
    scope: 'read',
    resource: RESOURCE,
    expiresWithSession: false,
    authTime: Math.floor(Date.now() / 1000),
  });
  return token.save();
}

async function mint(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const count = Number(new URL(req.url ?? '/', issuer).searchParams.get('count'));
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  if (req.headers.authorization !== `Bearer ${secret}`) return send(401, { error: 'unauthorized' });
  if (req.method !== 'POST' || !Number.isInteger(count) || count < 1 || count > MAX_MINT)
    return send(400, { error: `POST with count in [1, ${MAX_MINT}]` });
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) tokens.push(await mintRefreshToken());
  send(200, { refresh_tokens: tokens });
}

const callback = provider.callback();
serveUntilSignal(
  createServer((req, res) => {
    if (req.url?.startsWith(MINT_PATH)) {
      mint(req, res).catch((err: unknown) => {
        console.error('mint failed:', err);
        res.writeHead(500).end();
      });
    } else callback(req, res);
  }),
  port,
  `oidc-provider listening on ${issuer}`,
);
