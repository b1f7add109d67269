import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '@gatehouse/core';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';

/** A Gatehouse built in this process on the embedded default, for `inject()` tests. */
export interface InProcessApp {
  runtime: Runtime;
  app: FastifyInstance;
  dir: string;
  close(): Promise<void>;
}

/**
 * Builds the runtime and HTTP app over a fresh data directory with a file KEK and the given
 * extra YAML lines (each a top-level key), optionally on a clock the test moves.
 */
export async function openInProcessApp(
  name: string,
  yamlLines: readonly string[] = [],
  options: { clock?: Clock } = {},
): Promise<InProcessApp> {
  const dir = mkdtempSync(join(tmpdir(), `gatehouse-${name}-`));
  writeFileSync(join(dir, 'kek'), randomBytes(32).toString('hex'));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(
    file,
    [`data_dir: ${dir}`, `keys: { kek: { source: file, path: ${join(dir, 'kek')} } }`, ...yamlLines].join(
      '\n',
    ),
  );
  const runtime = await createRuntime(loadConfig({ file, env: {} }), {
    ...(options.clock && { clock: options.clock }),
    logger: pino({ level: 'silent' }),
    defaultMetrics: false,
  });
  const app = await buildApp(runtime);
  return {
    runtime,
    app,
    dir,
    async close() {
      await app.close();
      await runtime.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
