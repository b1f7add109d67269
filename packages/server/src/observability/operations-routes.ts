import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime.js';

type Check = () => Promise<void>;

/** `/livez` (alias `/healthz`), `/readyz` and `/metrics`. */
export async function operationsRoutes(app: FastifyInstance, runtime: Runtime): Promise<void> {
  const live = async () => ({ status: 'ok' });
  app.get('/livez', live);
  app.get('/healthz', live);

  const checks: Record<string, Check> = {
    store: () => runtime.store.ping(),
    cache: () => runtime.cache.ping(),
    bus: () => runtime.bus.ping(),
    keys: async () => {
      if (!runtime.keys.ready) throw new Error('no signing key loaded');
    },
    revocations: async () => {
      const { synced, staleness } = runtime.revocations.status();
      if (!synced) throw new Error('revocations not loaded yet');
      if (staleness > runtime.config.revocation.max_staleness) {
        throw new Error(`revocations last synced ${Math.round(staleness)} s ago`);
      }
    },
  };
  const readiness = async (): Promise<{ ready: boolean; results: Record<string, string> }> => {
    const results: Record<string, string> = {};
    let ready = true;
    await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        try {
          await withTimeout(check(), 2_000);
          results[name] = 'ok';
        } catch {
          results[name] = 'failing';
          ready = false;
        }
      }),
    );
    for (const [name, state] of Object.entries(runtime.remoteJwks.checks())) {
      results[name] = state;
      if (state === 'failing') ready = false;
    }
    return { ready, results };
  };
  app.get('/readyz', async (_request, reply) => {
    const { ready, results } = await readiness();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks: results });
  });

  app.get('/metrics', async (_request, reply) => {
    const { keys, metrics } = runtime;
    const { results } = await readiness();
    metrics.readiness.reset();
    for (const [check, state] of Object.entries(results))
      metrics.readiness.set({ check }, state === 'failing' ? 0 : 1);
    metrics.signingKeys.reset();
    for (const key of keys.list()) metrics.signingKeys.inc({ state: key.state });
    return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out')), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
