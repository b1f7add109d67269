import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

const ROOT = new URL('../../../../', import.meta.url).pathname;

/** A Gatehouse started as a real process from the CLI, for black-box tests. */
export interface GatehouseProcess {
  baseUrl: string;
  dataDir: string;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Finds a free loopback port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Writes `config` (plus server.port and data_dir) to a temp YAML file and runs
 * `gatehouse --config FILE start`, waiting until /readyz answers 200. `program` is the script
 * node runs: bin/gatehouse.mjs (the sources through tsx) unless a test gives a build of it.
 */
export async function startGatehouse(
  config: Record<string, unknown> | null,
  env: Record<string, string> = {},
  program = 'bin/gatehouse.mjs',
): Promise<GatehouseProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-'));
  const port = await freePort();
  const args = [program];
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...env,
    GATEHOUSE_KEK: env.GATEHOUSE_KEK ?? randomBytes(32).toString('base64url'),
  };
  if (config) {
    const file = join(dataDir, 'gatehouse.yaml');
    const server = { ...((config.server as Record<string, unknown>) ?? {}), host: '127.0.0.1', port };
    writeFileSync(file, stringify({ ...config, server, data_dir: dataDir }));
    args.push('--config', file);
  } else {
    childEnv.GATEHOUSE_SERVER__PORT = String(port);
    childEnv.GATEHOUSE_DATA_DIR = dataDir;
  }
  args.push('start');
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`gatehouse exited with ${child.exitCode} during start:\n${output}`);
    try {
      const res = await fetch(`${baseUrl}/readyz`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`gatehouse not ready within 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    baseUrl,
    dataDir,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}
