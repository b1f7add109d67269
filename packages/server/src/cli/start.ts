import { buildApp } from '../app.js';
import { buildGateway, gatewayConfigured } from '../gateway/build-gateway.js';
import { FORWARD_AUTH_PATH, type GatewayServer } from '../gateway/gateway-server.js';
import type { ResolvedConfig } from '../config/load-config.js';
import { createRuntime, EXAMPLE_CLIENT_ID } from '../runtime.js';
import type { CliIo } from './main.js';

/**
 * Starts the server, prints where it listens (and, on a first embedded start, the example
 * client's secret with a ready-to-paste curl), and serves until SIGTERM/SIGINT, then drains
 * in-flight requests for up to `server.shutdown_grace_seconds` before closing storage.
 */
export async function startServer(config: ResolvedConfig, io: CliIo): Promise<number> {
  const runtime = await createRuntime(config);
  const app = await buildApp(runtime).catch(async (err: unknown) => {
    await runtime.close();
    throw err;
  });
  let gateway: GatewayServer | undefined;
  try {
    await app.listen({ host: config.server.host, port: config.server.port });
    if (gatewayConfigured(runtime)) {
      gateway = buildGateway(runtime);
      await gateway.listen(config.gateway.host ?? config.server.host, config.gateway.port);
    }
  } catch (err) {
    // e.g. EADDRINUSE: release storage connections so the process can exit with the error.
    await gateway?.close();
    await app.close();
    await runtime.close();
    throw err;
  }
  for (const warning of runtime.warnings) runtime.logger.warn({ code: warning.code }, warning.message);

  const base = config.server.public_url;
  io.out('');
  io.out(
    `Gatehouse is running (store: ${runtime.store.kind}, cache: ${runtime.cache.kind}, bus: ${runtime.bus.kind})`,
  );
  io.out(`  issuer     ${config.issuer}`);
  io.out(`  discovery  ${base}/.well-known/openid-configuration`);
  io.out(`  JWKS       ${base}/.well-known/jwks.json`);
  io.out(`  token      ${base}/oauth2/token`);
  io.out(`  admin API  ${base}/admin/v1 (OpenAPI: ${base}/admin/v1/openapi.json)`);
  io.out(`  health     ${base}/livez  ${base}/readyz  ${base}/metrics`);
  if (gateway) {
    const host = config.gateway.host ?? config.server.host;
    io.out(
      `  gateway    http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${config.gateway.port} (forward-auth: ${FORWARD_AUTH_PATH})`,
    );
  }
  if (runtime.exampleClientSecret) {
    io.out('');
    io.out(`Example client "${EXAMPLE_CLIENT_ID}" created. Its secret is shown this once:`);
    io.out(`  ${runtime.exampleClientSecret}`);
    io.out('Get a token:');
    io.out(
      `  curl -s -u '${EXAMPLE_CLIENT_ID}:${runtime.exampleClientSecret}' -d grant_type=client_credentials -d scope=read ${base}/oauth2/token`,
    );
  } else if (config.example_client) {
    io.out('');
    io.out(`Example client "${EXAMPLE_CLIENT_ID}" exists; its secret was shown at first start.`);
    io.out(`New secret: npx gatehouse clients reset-secret ${EXAMPLE_CLIENT_ID}`);
  }
  io.out('');

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      runtime.logger.info({ signal }, 'shutting down');
      const force = setTimeout(() => {
        runtime.logger.warn('grace period over; closing with requests in flight');
        app.server.closeAllConnections();
        gateway?.closeAllConnections();
      }, config.server.shutdown_grace_seconds * 1000);
      force.unref();
      // If closing storage itself hangs, do not outlive the orchestrator's patience.
      setTimeout(
        () => {
          runtime.logger.error('shutdown did not finish; exiting');
          process.exit(1);
        },
        (config.server.shutdown_grace_seconds + 5) * 1000,
      ).unref();
      Promise.all([app.close(), gateway?.close()])
        .then(() => runtime.close())
        .then(
          () => resolve(0),
          (err: unknown) => {
            runtime.logger.error({ err }, 'shutdown failed');
            resolve(1);
          },
        );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
