import { isIP } from 'node:net';
import { z } from 'zod';
import { routesSchema } from './gateway-schema.js';

/**
 * The one configuration schema. Keys are snake_case so that `GATEHOUSE_*` environment overrides
 * map onto them without guessing (`GATEHOUSE_SERVER__PORT` → `server.port`). Every object is
 * strict: an unknown key is an error naming its dotted path.
 */

const seconds = (description: string) => z.number().int().positive().describe(description);

const url = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//.test(u), 'expected an http(s) URL');

const scopeToken = z
  .string()
  .regex(
    /^[\x21\x23-\x5b\x5d-\x7e]+$/,
    'expected a scope token (RFC 6749 §3.3: printable ASCII, no space, " or \\)',
  );

const clientId = z
  .string()
  .regex(/^[A-Za-z0-9._~-]{1,128}$/, 'expected 1–128 characters of A–Z a–z 0–9 . _ ~ -');

/** True for an IP address or a CIDR range whose prefix fits the address family. */
export function isCidr(value: string): boolean {
  const [address = '', bits, extra] = value.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/** True for an RFC 8707 resource indicator: an absolute URI without a fragment, at most 2048 characters. */
export function isResourceIndicator(value: string): boolean {
  if (value.length > 2048 || value.includes('#')) return false;
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

/** A resource indicator per RFC 8707: an absolute URI without a fragment. */
export const resourceIndicator = z
  .string()
  .refine(isResourceIndicator, 'expected an absolute URI without a fragment (RFC 8707)');

/** RFC 8693 grant type URN. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** Grants a registered client may be given. */
export const CLIENT_GRANT_TYPES = ['client_credentials', TOKEN_EXCHANGE_GRANT] as const;

/** A client's delegation rule (token exchange actor). */
export const mayActSchema = z
  .object({
    subject_audiences: z
      .array(z.string().min(1).max(2048))
      .min(1)
      .describe(
        'Subject tokens must be addressed (aud) to one of these: tokens that were sent to this client.',
      ),
    scopes: z
      .array(scopeToken)
      .default([])
      .describe('The most it may delegate: issued scope = requested ∩ subject scope ∩ these.'),
  })
  .strict();

export const clientConfigSchema = z
  .object({
    id: clientId.describe('The client_id.'),
    name: z.string().min(1).max(200).optional().describe('Human name; defaults to the id.'),
    secret_digest: z
      .string()
      .regex(
        /^sha256:[A-Za-z0-9_-]{43}$/,
        'expected sha256:<43 base64url characters> (see `gatehouse clients create --print-config`)',
      )
      .describe('Digest of the client secret; Gatehouse generates secrets and never stores them in clear.'),
    scopes: z.array(scopeToken).default([]).describe('Scopes the client may request.'),
    resources: z
      .array(resourceIndicator)
      .default([])
      .describe('RFC 8707 resources (audiences) the client may request.'),
    audience: resourceIndicator
      .optional()
      .describe('Audience when no resource is requested; defaults to the issuer.'),
    grant_types: z
      .array(z.enum(CLIENT_GRANT_TYPES))
      .default(['client_credentials'])
      .describe('Grants the client may use; token exchange also needs may_act.'),
    may_act: mayActSchema
      .optional()
      .describe('RFC 8693: which subject tokens this client may exchange and how much it may pass on.'),
    access_token_format: z
      .enum(['jwt', 'opaque'])
      .default('jwt')
      .describe('jwt: RFC 9068 JWT; opaque: reference token checked by introspection (stored hashed).'),
    access_token_ttl: seconds('Access token lifetime for this client, seconds.').optional(),
  })
  .strict();

const storeSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('embedded'),
      path: z.string().min(1).optional().describe('SQLite file; default data_dir/gatehouse.db.'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('postgres'),
      url: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL'),
      schema: z
        .string()
        .regex(/^[a-z_][a-z0-9_]{0,62}$/)
        .optional(),
      pool_size: z.number().int().min(1).max(200).default(10),
    })
    .strict(),
]);

const redisUrl = z
  .string()
  .regex(/^rediss?:\/\//, 'expected a redis:// URL')
  .describe('Redis URL.');

const cacheSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('memory') }).strict(),
  z
    .object({
      kind: z.literal('redis'),
      url: redisUrl,
      key_prefix: z
        .string()
        .max(64)
        .optional()
        .describe('Prefix of every key (default gh:); keys are hash-tagged.'),
    })
    .strict(),
]);

const busSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('memory') }).strict(),
  z
    .object({
      kind: z.literal('redis'),
      url: redisUrl,
      channel_prefix: z.string().max(64).optional().describe('Prefix of pub/sub channels.'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('nats'),
      servers: z.string().min(1).describe('Comma-separated NATS server URLs.'),
      subject_prefix: z.string().max(64).optional().describe('Prefix of NATS subjects.'),
    })
    .strict(),
]);

const kekSchema = z.discriminatedUnion('source', [
  z
    .object({
      source: z.literal('env'),
      env: z
        .string()
        .regex(/^[A-Z_][A-Z0-9_]*$/)
        .default('GATEHOUSE_KEK'),
    })
    .strict(),
  z
    .object({
      source: z.literal('file'),
      path: z
        .string()
        .min(1)
        .describe('File holding 32 bytes as 64 hex or 43 base64url characters (mode 0600).'),
    })
    .strict(),
]);

export const configSchema = z
  .object({
    issuer: url
      .refine(
        (u) => new URL(u).pathname === '/' && !u.endsWith('/') && !u.includes('?') && !u.includes('#'),
        'expected scheme, host and optional port only (no path, trailing slash, query or fragment): endpoints live at the root',
      )
      .optional()
      .describe('The issuer identifier; defaults to server.public_url.'),
    server: z
      .object({
        host: z.string().default('127.0.0.1').describe('Address to listen on; 0.0.0.0 for all interfaces.'),
        port: z.number().int().min(0).max(65535).default(8080).describe('TCP port to listen on.'),
        public_url: url.optional().describe('Externally visible base URL; defaults to http://host:port.'),
        body_limit_bytes: z
          .number()
          .int()
          .min(1024)
          .max(10_485_760)
          .default(65_536)
          .describe('Largest request body accepted; larger ones get 413.'),
        trusted_proxies: z
          .array(z.string().regex(/^[0-9A-Fa-f.:]+(\/\d{1,3})?$/, 'expected an IP address or CIDR range'))
          .default([])
          .describe(
            'Proxies whose X-Forwarded-For is believed (IPs or CIDRs); the client address (login throttling, audit) is the socket peer otherwise.',
          ),
        shutdown_grace_seconds: z
          .number()
          .int()
          .min(0)
          .max(300)
          .default(10)
          .describe('On SIGTERM, how long in-flight requests may finish before connections are closed.'),
      })
      .strict()
      .prefault({}),
    data_dir: z
      .string()
      .min(1)
      .default('.data')
      .describe('Directory for the embedded database and generated key-encryption key.'),
    storage: z
      .object({
        store: storeSchema.default({ kind: 'embedded' }),
        cache: cacheSchema.default({ kind: 'memory' }),
        bus: busSchema.default({ kind: 'memory' }),
      })
      .strict()
      .prefault({}),
    keys: z
      .object({
        algorithm: z
          .enum(['ES256', 'RS256', 'EdDSA'])
          .default('ES256')
          .describe('Algorithm of newly generated signing keys (each key is pinned to its own).'),
        kek: kekSchema
          .optional()
          .describe('Key-encryption key for private keys at rest; default: a generated file in data_dir.'),
        activation_delay: z
          .number()
          .int()
          .min(0)
          .default(3600)
          .describe('Seconds a rotated-in key is published before it signs (lets JWKS caches pick it up).'),
      })
      .strict()
      .prefault({}),
    tokens: z
      .object({
        access_token_ttl: seconds('Default access token lifetime, seconds.').default(900),
        max_access_token_ttl: seconds(
          'Upper bound of any access token lifetime; verification rejects longer ones.',
        ).default(86_400),
        clock_skew: z
          .number()
          .int()
          .min(0)
          .max(300)
          .default(60)
          .describe('Seconds of clock difference tolerated on exp, nbf and iat.'),
      })
      .strict()
      .prefault({}),
    login: z
      .object({
        client_id: clientId
          .default('gatehouse-login')
          .describe(
            'client_id of the first-party login client (a public client; no registered client may use it).',
          ),
        allowed_origins: z
          .array(url)
          .default([])
          .describe(
            'Origins allowed to call /auth/login, /auth/refresh and /auth/logout; default: the issuer origin.',
          ),
        cookie_secure: z
          .boolean()
          .default(true)
          .describe('Mark the refresh and CSRF cookies Secure; false is allowed only for a loopback issuer.'),
        scopes: z.array(scopeToken).default([]).describe('Scopes every logged-in user gets.'),
        role_scopes: z
          .record(z.string().min(1).max(200), z.array(scopeToken))
          .default({})
          .describe('Further scopes by role: { admin: [orders:admin] }.'),
        audience: resourceIndicator
          .optional()
          .describe('Audience of user access tokens; defaults to the issuer.'),
        access_token_ttl: seconds(
          'Lifetime of user access tokens, seconds; default tokens.access_token_ttl.',
        ).optional(),
        max_attempts: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .default(5)
          .describe('Failed logins allowed per account and per client IP within attempt_window.'),
        attempt_window: seconds('Window of max_attempts, seconds.').default(60),
        lockout: seconds(
          'First lockout after too many failures, seconds; doubles with each further lockout.',
        ).default(60),
        max_lockout: seconds('Longest lockout, seconds.').default(3600),
      })
      .strict()
      .prefault({}),
    refresh: z
      .object({
        absolute_lifetime: seconds(
          'A refresh family ends this long after login, however often used.',
        ).default(604_800),
        idle_timeout: seconds('A refresh family ends when unused this long.').default(86_400),
        reuse_grace_ms: z
          .number()
          .int()
          .min(0)
          .max(60_000)
          .default(2000)
          .describe(
            "A token superseded less than this many ms ago, presented from the same binding, gets the current token already issued instead of ending the family (parallel tabs sharing one cookie jar). Measured on each instance's clock: keep instances in NTP sync.",
          ),
      })
      .strict()
      .prefault({}),
    token_exchange: z
      .object({
        max_lifetime: seconds(
          "Longest lifetime of an exchanged token, seconds, at most 300 (never past the subject token or the acting client's access_token_ttl).",
        )
          .max(300)
          .default(300),
        max_delegation_depth: z
          .number()
          .int()
          .min(1)
          .max(10)
          .default(3)
          .describe('Most actors an act claim may nest.'),
      })
      .strict()
      .prefault({}),
    gateway: z
      .object({
        host: z.string().optional().describe('Address the gateway listens on; default server.host.'),
        port: z
          .number()
          .int()
          .min(0)
          .max(65535)
          .default(8081)
          .describe('Gateway port (started when routes are configured).'),
        routes: routesSchema
          .default([])
          .describe('Routes (see docs/gateway.md); or put them in routes_file.'),
        routes_file: z
          .string()
          .min(1)
          .optional()
          .describe('YAML file with `routes: [...]`, reloaded on change; a bad file keeps the old routes.'),
        internal_token_ttl: z
          .number()
          .int()
          .min(5)
          .max(60)
          .default(30)
          .describe('Lifetime of the internal JWT sent upstream, seconds (at most 60).'),
        strip_headers: z
          .array(z.string().regex(/^[A-Za-z0-9-]{1,100}$/))
          .default([])
          .describe(
            'Further client-sent headers removed before anything else (X-Gatehouse-*, X-User-*, X-Internal-Token always are).',
          ),
        audit_allow_sample: z
          .number()
          .min(0)
          .max(1)
          .default(0.01)
          .describe(
            'Share of allowed requests written to the audit log, after the answer and batched, within 100 ms (every denial always is, before it).',
          ),
        max_header_bytes: z
          .number()
          .int()
          .min(1024)
          .max(65_536)
          .default(16_384)
          .describe('Largest request head accepted; larger gets 431.'),
        body_limit_bytes: z
          .number()
          .int()
          .min(0)
          .max(104_857_600)
          .default(10_485_760)
          .describe('Largest request body forwarded; larger gets 413.'),
        headers_timeout_ms: z
          .number()
          .int()
          .min(100)
          .max(120_000)
          .default(10_000)
          .describe('A client must send its whole request head within this (slow clients time out).'),
        idle_timeout_ms: z
          .number()
          .int()
          .min(100)
          .max(600_000)
          .default(5_000)
          .describe('Idle keep-alive connections are closed after this.'),
      })
      .strict()
      .prefault({}),
    revocation: z
      .object({
        expected_entries: z
          .number()
          .int()
          .min(1000)
          .max(100_000_000)
          .default(1_000_000)
          .describe(
            'Revoked token and session ids the Bloom filter is sized for (0.1 % false positives; 1.8 MB per million).',
          ),
        max_staleness: z
          .number()
          .int()
          .min(1)
          .max(300)
          .default(5)
          .describe(
            'Seconds without a successful resync with the durable log after which a Bloom "no" is not trusted (the log is asked) and /readyz reports not ready.',
          ),
      })
      .strict()
      .prefault({}),
    policy: z
      .object({
        dir: z
          .string()
          .min(1)
          .optional()
          .describe(
            'Directory of *.cedar policies and schema.cedarschema, loaded at start; a new policy-set version is stored when it differs from the current one.',
          ),
        networks: z
          .record(
            z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'expected a zone name of a–z 0–9 _ -'),
            z.array(z.string().refine(isCidr, 'expected an IP address or CIDR range')),
          )
          .default({})
          .describe(
            'Network zones by name (internal: [10.0.0.0/8]); context.network.zone is the first zone holding the address, external when none.',
          ),
        allow_sample: z
          .number()
          .min(0)
          .max(1)
          .default(0.01)
          .describe('Share of allow decisions written to the decision log (every deny always is).'),
        cache_size: z
          .number()
          .int()
          .min(0)
          .max(1_000_000)
          .default(10_000)
          .describe('Decisions kept in the in-process decision cache (0 disables it).'),
        resync_seconds: z
          .number()
          .int()
          .min(1)
          .max(3600)
          .default(30)
          .describe('How often the stored policy version is checked, in case a bus message was lost.'),
      })
      .strict()
      .prefault({}),
    clients: z.array(clientConfigSchema).default([]),
    example_client: z
      .boolean()
      .optional()
      .describe('Create an example client on first start; default true when no config file is used.'),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.clients.forEach((client, index) => {
      if (seen.has(client.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['clients', index, 'id'],
          message: `duplicate client id "${client.id}"`,
        });
      }
      seen.add(client.id);
      if (client.id === config.login.client_id) {
        ctx.addIssue({
          code: 'custom',
          path: ['clients', index, 'id'],
          message: `"${client.id}" is login.client_id, reserved for the first-party login client`,
        });
      }
      if (client.grant_types.includes(TOKEN_EXCHANGE_GRANT) && client.may_act === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['clients', index, 'may_act'],
          message: 'the token-exchange grant needs a may_act rule',
        });
      }
    });
    // A setting that must not exceed another: [value, bound, path of the value, name of the bound].
    const bounds: [number, number, string[], string][] = [
      [
        config.refresh.idle_timeout,
        config.refresh.absolute_lifetime,
        ['refresh', 'idle_timeout'],
        'refresh.absolute_lifetime',
      ],
      [config.login.lockout, config.login.max_lockout, ['login', 'lockout'], 'login.max_lockout'],
      [
        config.tokens.access_token_ttl,
        config.tokens.max_access_token_ttl,
        ['tokens', 'access_token_ttl'],
        'tokens.max_access_token_ttl',
      ],
    ];
    for (const [value, bound, path, boundName] of bounds) {
      if (value > bound) ctx.addIssue({ code: 'custom', path, message: `must not exceed ${boundName}` });
    }
  });

/** The configuration as given (before defaults). */
export type ConfigInput = z.input<typeof configSchema>;
/** The configuration after validation and defaults. */
export type GatehouseConfig = z.output<typeof configSchema>;
/** A client's may_act rule as declared in the config file. */
export type MayActConfig = z.output<typeof mayActSchema>;
/** One client as declared in the config file. */
export type ClientConfig = z.output<typeof clientConfigSchema>;
