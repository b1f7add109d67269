import { type ChildProcess, spawn } from 'node:child_process';

/** Every child still running; all of them are killed when the benchmark exits, however it exits. */
const running = new Set<ChildProcess>();

function killAllNow(): void {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  running.clear();
}

process.once('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping children\n`);
    killAllNow();
    process.exit(130);
  });
}

/** A server the benchmark started, with its output kept (the last 64 KiB) for error messages. */
export interface ServerProcess {
  name: string;
  baseUrl: string;
  pid: number;
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code or signal. */
  stop(graceMs?: number): Promise<string>;
}

// One helper for tests and benchmarks alike.
export { freePort } from '../../packages/server/test/support/gatehouse-process.js';

export interface SpawnServerOptions {
  name: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  baseUrl: string;
  /** Path answered with 200 once the server is ready. */
  readyPath: string;
  readyTimeoutMs?: number;
}

/** Starts `node <args>` and waits until `readyPath` answers 200. */
export async function spawnServer(options: SpawnServerOptions): Promise<ServerProcess> {
  const child = spawn(process.execPath, options.args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-65_536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(signal ?? String(code));
    });
  });
  const spawnFailed = new Promise<never>((_, reject) => child.once('error', reject));
  spawnFailed.catch(() => {});

  const stop = async (graceMs = 15_000): Promise<string> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    }
    return exited;
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${options.name} exited during start-up:\n${output}`);
      }
      const ok = await Promise.race([
        fetch(options.baseUrl + options.readyPath, { signal: AbortSignal.timeout(2000) }).then(
          async (res) => {
            await res.arrayBuffer();
            return res.status === 200;
          },
          () => false,
        ),
        spawnFailed,
      ]);
      if (ok) break;
      if (Date.now() > deadline)
        throw new Error(`${options.name} not ready within the time limit:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop(2000);
    throw err;
  }
  return {
    name: options.name,
    baseUrl: options.baseUrl,
    pid: child.pid ?? -1,
    output: () => output,
    stop,
  };
}
