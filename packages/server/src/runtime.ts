import { join } from 'node:path';
import { type Bus, type Cache, type Clock, GatehouseError, type Store, systemClock } from '@gatehouse/core';
import type { Logger } from 'pino';
import { ApiKeys } from './api-keys/api-keys.js';
import { auditChainKey } from './audit/audit-chain.js';
import { AuditLog } from './audit/audit-log.js';
import { ClientRegistry } from './clients/client-registry.js';
import type { ResolvedConfig } from './config/load-config.js';
import { AccessTokens } from './issuer/access-tokens.js';
import { ActiveTokens } from './issuer/active-tokens.js';
import { TokenIssuance } from './issuer/issuance.js';
import { LoginThrottle } from './login/login-throttle.js';
import { RefreshFamilies, refreshDerivationKey } from './sessions/refresh-families.js';
import { loginClientRecord, UserSessions } from './sessions/user-sessions.js';
import { isLoopbackUrl } from './config/load-config.js';
import { Revocations } from './issuer/revocations.js';
import { KeyManager } from './keys/key-manager.js';
import { KeyVault, loadKek } from './keys/key-vault.js';
import { createLogger } from './observability/logger.js';
import { PolicyPoint } from './policy/policy-point.js';
import { Metrics } from './observability/metrics.js';
import { RemoteJwksHealth } from './observability/remote-jwks-health.js';
import { createBus, createCache, createStore } from './storage/index.js';
import { PasswordHasher } from './users/password-hasher.js';
import { UserDirectory } from './users/user-directory.js';

export const VERSION = '0.1.0';

/** Everything a Gatehouse instance holds, wired once and shared by the HTTP app and the CLI. */
export interface Runtime {
  config: ResolvedConfig;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  store: Store;
  cache: Cache;
  bus: Bus;
  keys: KeyManager;
  clients: ClientRegistry;
  tokens: AccessTokens;
  revocations: Revocations;
  /** Whether a token is live now (introspection, admin API). */
  active: ActiveTokens;
  /** Append-only, hash-chained audit log (durable before a response is sent). */
  audit: AuditLog;
  /** Key sealing the audit chain (derived from the KEK), for `gatehouse audit verify`. */
  auditKey: Buffer;
  /** API keys for services (`sk_<id>.<secret>`). */
  apiKeys: ApiKeys;
  /** Users: passwords (argon2id), roles, groups, attributes. */
  users: UserDirectory;
  /** The one way tokens are minted: audit, metrics and the bus included. */
  issuance: TokenIssuance;
  /** Refresh token families (rotation, reuse detection). */
  families: RefreshFamilies;
  /** Users' sessions: login and refresh. */
  sessions: UserSessions;
  /** The policy decision point (Cedar): versions, hot reload, decisions, decision log. */
  policy: PolicyPoint;
  /** Brute-force protection of password logins. */
  loginThrottle: LoginThrottle;
  /** Remote JWKS this instance trusts, reported in /readyz and /metrics. */
  remoteJwks: RemoteJwksHealth;
  /** Secret of the example client when this start created it (shown once, then forgotten). */
  exampleClientSecret: string | undefined;
  /** Dev-only defaults in effect, each a coded warning printed once at start. */
  warnings: { code: string; message: string }[];
  close(): Promise<void>;
}

export interface RuntimeOptions {
  clock?: Clock;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Collect process-wide default metrics (off in tests that build many instances). */
  defaultMetrics?: boolean;
}

export const EXAMPLE_CLIENT_ID = 'example';

/**
 * Connects storage, runs migrations, loads keys and clients. Fails fast (with what to fix) when
 * a server is unreachable or the key-encryption key is wrong: a half-started issuer helps no one.
 */
export async function createRuntime(config: ResolvedConfig, options: RuntimeOptions = {}): Promise<Runtime> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.log.level);
  const metrics = new Metrics(VERSION, { defaultMetrics: options.defaultMetrics ?? true });
  const warnings: Runtime['warnings'] = [];
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const closer of closers.reverse()) {
      await closer().catch((err: unknown) => logger.warn({ err }, 'error while closing'));
    }
  };
  try {
    const { store: storeConfig, cache: cacheConfig, bus: busConfig } = config.storage;
    const store = createStore(
      storeConfig.kind === 'embedded'
        ? storeConfig
        : {
            kind: 'postgres',
            url: storeConfig.url,
            schema: storeConfig.schema,
            poolSize: storeConfig.pool_size,
          },
    );
    closers.push(() => store.close());
    await store.migrate();
    const cache = createCache(
      cacheConfig.kind === 'redis'
        ? { kind: 'redis', url: cacheConfig.url, keyPrefix: cacheConfig.key_prefix }
        : cacheConfig,
      clock,
    );
    closers.push(() => cache.close());
    const bus = await createBus(
      busConfig.kind === 'redis'
        ? { kind: 'redis', url: busConfig.url, channelPrefix: busConfig.channel_prefix }
        : busConfig.kind === 'nats'
          ? { kind: 'nats', servers: busConfig.servers, subjectPrefix: busConfig.subject_prefix }
          : busConfig,
      { onHandlerError: (err, topic) => logger.error({ err, topic }, 'bus handler failed') },
    );
    closers.push(() => bus.close());

    const kek = loadKek(config.keys.kek, join(config.data_dir, 'kek'), options.env ?? process.env);
    if (kek.looseFileMode) {
      warnings.push({
        code: 'GH_KEK_FILE_PERMISSIONS',
        message: `key-encryption key file ${kek.where} is readable by group or others; chmod 600 it`,
      });
    }
    if (!config.keys.kek) {
      warnings.push({
        code: 'GH_DEV_KEK_FILE',
        message: `private keys are sealed with a generated key-encryption key in ${kek.where}; set keys.kek for production`,
      });
    }
    const vault = new KeyVault(kek.kek);
    const auditKey = auditChainKey(kek.kek);
    const audit = new AuditLog({ store, key: auditKey, clock, logger });
    // Before the store closes: queued entries (batched sampled allows) are written first.
    closers.push(() => audit.close());
    const keys = new KeyManager(
      { store, vault, clock, bus, logger },
      {
        algorithm: config.keys.algorithm,
        activationDelay: config.keys.activation_delay,
        retention: config.tokens.max_access_token_ttl + config.tokens.clock_skew,
      },
    );
    await keys.start();
    closers.push(() => keys.stop());

    const clients = new ClientRegistry(
      { store, bus, clock, logger },
      { reservedIds: [config.login.client_id] },
    );
    await clients.start();
    closers.push(() => clients.stop());
    await clients.syncFromConfig(config.clients);

    let exampleClientSecret: string | undefined;
    // Only on a brand-new installation: an operator who deleted every client must not get an
    // admin-capable example client back on the next restart.
    if (config.example_client && keys.createdFirstKey && (await clients.list()).length === 0) {
      const created = await clients.create({
        id: EXAMPLE_CLIENT_ID,
        name: 'Example client (created on first start)',
        scopes: ['read', 'write', 'gatehouse:admin'],
        resources: ['urn:gatehouse:example-api'],
      });
      exampleClientSecret = created.secret;
      warnings.push({
        code: 'GH_DEV_EXAMPLE_CLIENT',
        message: `created client "${EXAMPLE_CLIENT_ID}" with scope gatehouse:admin; delete it before production`,
      });
    }

    const revocations = new Revocations(
      { store, bus, cache, clock, logger, registry: metrics.registry },
      {
        expectedEntries: config.revocation.expected_entries,
        maxStalenessSeconds: config.revocation.max_staleness,
        maxTokenLifetime: config.tokens.max_access_token_ttl + config.tokens.clock_skew,
      },
    );
    await revocations.start();
    closers.push(() => revocations.stop());

    const apiKeys = new ApiKeys({ store, clock, audit, logger });
    apiKeys.start();
    closers.push(() => apiKeys.stop());

    const tokens = new AccessTokens(
      { keys, store, clock },
      {
        issuer: config.issuer,
        defaultTtl: config.tokens.access_token_ttl,
        maxTtl: config.tokens.max_access_token_ttl,
        clockSkew: config.tokens.clock_skew,
      },
    );
    const families = new RefreshFamilies(
      { store, clock, key: refreshDerivationKey(kek.kek), audit, bus, revocations, logger, metrics },
      {
        absoluteLifetime: config.refresh.absolute_lifetime,
        idleTimeout: config.refresh.idle_timeout,
        reuseGraceMs: config.refresh.reuse_grace_ms,
        maxAccessTokenTtl: config.tokens.max_access_token_ttl + config.tokens.clock_skew,
      },
    );
    families.start();
    closers.push(async () => families.stop());
    const users = new UserDirectory({
      store,
      hasher: new PasswordHasher(),
      clock,
      audit,
      bus,
      sessions: families,
    });
    const policy = new PolicyPoint(
      { store, bus, clock, logger, registry: metrics.registry },
      {
        dir: config.policy.dir,
        networks: config.policy.networks,
        allowSample: config.policy.allow_sample,
        cacheSize: config.policy.cache_size,
        resyncSeconds: config.policy.resync_seconds,
      },
    );
    await policy.start();
    closers.push(() => policy.stop());
    const issuance = new TokenIssuance({ tokens, audit, metrics, bus });
    const loginClient = loginClientRecord(config.login.client_id, config.login.access_token_ttl);
    const sessions = new UserSessions(
      { users, families, issuance },
      {
        client: loginClient,
        scopes: config.login.scopes,
        roleScopes: config.login.role_scopes,
        audience: [config.login.audience ?? config.issuer],
        ttl: config.login.access_token_ttl,
      },
    );
    if (!config.login.cookie_secure) {
      warnings.push({
        code: 'GH_DEV_INSECURE_COOKIE',
        message:
          'login cookies are sent without Secure (login.cookie_secure: false); loopback development only',
      });
    }
    if (config.issuer.startsWith('http://') && !isLoopbackUrl(config.issuer)) {
      warnings.push({
        code: 'GH_DEV_PLAIN_HTTP',
        message: `issuer ${config.issuer} is plain http on a non-loopback host; use https`,
      });
    }
    return {
      config,
      clock,
      logger,
      metrics,
      store,
      cache,
      bus,
      keys,
      clients,
      tokens,
      revocations,
      active: new ActiveTokens({ tokens, revocations, clients, builtinClients: [loginClient] }),
      audit,
      auditKey,
      apiKeys,
      users,
      issuance,
      families,
      sessions,
      policy,
      loginThrottle: new LoginThrottle(cache, {
        maxAttempts: config.login.max_attempts,
        window: config.login.attempt_window,
        lockout: config.login.lockout,
        maxLockout: config.login.max_lockout,
      }),
      remoteJwks: new RemoteJwksHealth(metrics.registry),
      exampleClientSecret,
      warnings,
      close,
    };
  } catch (err) {
    await close();
    if (err instanceof GatehouseError) throw err;
    throw new GatehouseError('ERR_STORE_UNAVAILABLE', `startup failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
