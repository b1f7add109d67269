import { isAbsolute, join } from 'node:path';
import { BatchedVerifier } from '@gatehouse/core';
import { Counter } from 'prom-client';
import { GatewayPolicy } from '../policy/gateway-policy.js';
import type { Runtime } from '../runtime.js';
import { GatewayServer } from './gateway-server.js';
import { InternalTokens } from './pipeline/mutate.js';
import { RateLimiter } from './pipeline/rate-limit.js';
import { RouteSource } from './routing/route-source.js';

/** True when the configuration asks for the gateway role (it has routes, inline or in a file). */
export function gatewayConfigured(runtime: Runtime): boolean {
  const { gateway } = runtime.config;
  return gateway.routes.length > 0 || gateway.routes_file !== undefined;
}

/**
 * Builds the gateway over a runtime without listening (tests listen on port 0). The routes file
 * is read now (a bad one fails the start) and watched afterwards.
 */
export function buildGateway(runtime: Runtime): GatewayServer {
  const { config } = runtime;
  const file = config.gateway.routes_file;
  const reloads = new Counter({
    name: 'gatehouse_gateway_route_reloads_total',
    help: 'Routes file reloads, by outcome (applied, rejected: the previous routes stay).',
    labelNames: ['outcome'],
    registers: [runtime.metrics.registry],
  });
  let gateway: GatewayServer | undefined;
  const routes = new RouteSource({
    inline: config.gateway.routes,
    file: file === undefined ? undefined : isAbsolute(file) ? file : join(process.cwd(), file),
    logger: runtime.logger,
    onReload: (outcome) => {
      reloads.inc({ outcome });
      if (outcome === 'applied') gateway?.routesChanged();
    },
  });
  routes.watch();
  const signatures = new BatchedVerifier();
  gateway = new GatewayServer({
    config,
    routes,
    auth: {
      issuer: config.issuer,
      keys: () => runtime.keys.verificationKeys(),
      revocations: runtime.revocations,
      apiKeys: runtime.apiKeys,
      active: runtime.active,
      clock: runtime.clock,
      clockSkew: config.tokens.clock_skew,
      maxTokenLifetime: config.tokens.max_access_token_ttl,
      signatures,
    },
    internalTokens: new InternalTokens({
      issuer: config.issuer,
      ttl: config.gateway.internal_token_ttl,
      clock: runtime.clock,
      signingKey: () => runtime.keys.signingKey(),
    }),
    rateLimiter: new RateLimiter(runtime.cache, runtime.clock),
    audit: runtime.audit,
    // Routes with a `policy` mapping ask the same Cedar policy set as /access/v1, in process.
    policy: new GatewayPolicy({ point: runtime.policy, nowMs: () => runtime.clock.nowMs() }),
    metrics: runtime.metrics,
    clock: runtime.clock,
    logger: runtime.logger,
    onClose: () => {
      routes.stop();
      signatures.close().catch(() => undefined);
    },
  });
  return gateway;
}
