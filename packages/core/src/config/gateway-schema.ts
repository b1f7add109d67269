import { z } from 'zod';

/**
 * The gateway's routes, as declared in the config file (`gateway.routes`) or in a routes file of
 * their own (`gateway.routes_file`, reloaded on change). Each route is a chain read in request
 * order: match → authenticate → authorize → (rate limit) → mutate → forward.
 */

const scopeToken = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'expected a scope token');

const upstreamUrl = z
  .string()
  .url()
  .refine((u) => {
    const parsed = new URL(u);
    return /^https?:$/.test(parsed.protocol) && parsed.pathname === '/' && !parsed.search && !parsed.hash;
  }, 'expected http(s)://host:port with no path, query or fragment');

const routePath = z
  .string()
  .regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$/, 'expected an absolute path of unreserved characters')
  .refine(
    (p) =>
      !p.split('/').some((s, i, all) => s === '.' || s === '..' || (s === '' && i > 0 && i < all.length - 1)),
    'no dot or empty segments',
  );

const authenticatorSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('jwt'),
      /**
       * Discovery URL of another OIDC issuer (its JWKS is fetched and cached); default: this
       * Gatehouse's own keys.
       */
      issuer: z.string().url().optional().describe('Another OIDC issuer; default this Gatehouse.'),
      audience: z
        .array(z.string().min(1))
        .min(1)
        .optional()
        .describe('Accepted aud values; default: the issuer and the route service.'),
    })
    .strict(),
  z.object({ kind: z.literal('api_key') }).strict(),
  z
    .object({
      kind: z.literal('opaque'),
      introspection: z
        .object({
          url: z.string().url().describe('RFC 7662 introspection endpoint of the IdP.'),
          client_id: z.string().min(1).max(256),
          client_secret_env: z
            .string()
            .regex(/^[A-Z_][A-Z0-9_]*$/)
            .describe('Environment variable holding the client secret (never the file).'),
          cache_seconds: z
            .number()
            .int()
            .min(0)
            .max(300)
            .default(60)
            .describe('Positive answers are reused until exp, at most this long.'),
        })
        .strict()
        .optional()
        .describe("Another IdP's introspection endpoint; default this Gatehouse's own tokens."),
    })
    .strict(),
  z.object({ kind: z.literal('anonymous') }).strict(),
]);

/** An authenticator named by kind alone (`jwt`) or with settings (`{kind: jwt, issuer: …}`). */
const authenticatorEntry = z.union([
  z.enum(['jwt', 'api_key', 'opaque', 'anonymous']).transform((kind) => ({ kind }) as AuthenticatorConfig),
  authenticatorSchema,
]);

export const rateLimitSchema = z
  .object({
    key: z
      .string()
      .regex(
        /^(ip|sub|client|api_key|claim:[A-Za-z0-9_.-]{1,64})$/,
        'expected ip, sub, client, api_key or claim:<name>',
      )
      .default('ip')
      .describe(
        'What the limit counts per: the client address, the token subject, its client, the API key, or a verified claim.',
      ),
    limit: z.number().int().min(1).max(1_000_000).describe('Requests allowed per window.'),
    window: z.number().int().min(1).max(86_400).default(60).describe('Window, seconds.'),
  })
  .strict();

export const routeSchema = z
  .object({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'expected 1–64 of a–z 0–9 _ - (a bounded metric label)'),
    match: z
      .object({
        path: routePath.describe('Path prefix, matched segment-wise and case-sensitively.'),
        exact: z.boolean().default(false).describe('Match the path exactly instead of as a prefix.'),
        methods: z
          .array(z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']))
          .min(1)
          .optional()
          .describe('Methods matched; default all.'),
        hosts: z
          .array(z.string().regex(/^[a-z0-9.-]+(:\d{1,5})?$/, 'expected a lower-case host[:port]'))
          .min(1)
          .optional()
          .describe('Host headers matched; default any.'),
      })
      .strict(),
    authenticate: z
      .array(authenticatorEntry)
      .min(1)
      .describe('Tried in order; the first that accepts the request wins; none → 401.'),
    authorize: z
      .object({
        scopes: z.array(scopeToken).default([]).describe('Every one of these scopes is required.'),
        roles: z
          .array(z.string().min(1).max(200))
          .default([])
          .describe('At least one of these roles is required.'),
      })
      .strict()
      .prefault({}),
    rate_limit: rateLimitSchema.optional(),
    revocation: z
      .enum(['fail_closed', 'fail_open'])
      .default('fail_closed')
      .describe(
        'When revocation state cannot be confirmed (bus down, knowledge older than revocation.max_staleness): ' +
          'fail_closed asks the durable store and answers 503 if that cannot answer either; fail_open goes on with what the instance knows.',
      ),
    policy: z
      .object({
        action: z
          .string()
          .regex(/^[A-Za-z0-9_:.-]{1,128}$/)
          .describe('Cedar action asked about (an action of the policy schema, e.g. read).'),
        resource_type: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/)
          .default('Route')
          .describe('Cedar entity type of the resource (in the Gatehouse namespace).'),
        resource_id: z
          .string()
          .min(1)
          .max(256)
          .optional()
          .describe('Id of the resource; default the route id.'),
      })
      .strict()
      .optional()
      .describe(
        'Ask the policy decision point after the scope and role checks: principal from the token, this action and resource, context from the request.',
      ),
    upstream: z
      .object({
        service: z
          .string()
          .regex(/^[A-Za-z0-9._:/-]{1,200}$/)
          .describe('Name of the upstream service: the aud of the internal token it receives.'),
        targets: z.array(upstreamUrl).min(1).describe('Upstream base URLs, load-balanced round-robin.'),
        strip_prefix: z
          .boolean()
          .default(false)
          .describe('Remove the matched path prefix before forwarding.'),
        timeout_ms: z
          .number()
          .int()
          .min(10)
          .max(300_000)
          .default(10_000)
          .describe('Per-attempt upstream timeout.'),
        retries: z
          .number()
          .int()
          .min(0)
          .max(5)
          .default(1)
          .describe('Retries on connection failure or 502/503/504, for idempotent methods only.'),
        balance: z
          .enum(['round_robin', 'least_connections'])
          .default('round_robin')
          .describe('How requests are spread over targets.'),
        health_check: z
          .object({
            path: routePath.describe('Probed with GET; 2xx or 3xx is healthy.'),
            interval_ms: z.number().int().min(100).max(300_000).default(5_000),
            timeout_ms: z.number().int().min(10).max(60_000).default(1_000),
          })
          .strict()
          .optional()
          .describe('Active health checks: unhealthy targets get no traffic until a probe passes.'),
      })
      .strict(),
  })
  .strict();

export const routesSchema = z.array(routeSchema).superRefine((routes, ctx) => {
  const seen = new Set<string>();
  routes.forEach((route, index) => {
    if (seen.has(route.id)) {
      ctx.addIssue({ code: 'custom', path: [index, 'id'], message: `duplicate route id "${route.id}"` });
    }
    seen.add(route.id);
  });
});

/** A routes file: `routes: [...]`. */
export const routesFileSchema = z.object({ routes: routesSchema }).strict();

export type AuthenticatorConfig = z.output<typeof authenticatorSchema>;
export type RateLimitConfig = z.output<typeof rateLimitSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type RoutePolicyConfig = NonNullable<RouteConfig['policy']>;
