import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Every child still running; all of them are killed when the benchmark exits, however it exits. */
const running = new Set<ChildProcess>();

function killAllNow(): void {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  running.clear();
}

/** Temp dirs not yet removed; whatever is left is removed when the benchmark exits. */
const tempDirs = new Set<string>();

process.once('exit', () => {
  killAllNow();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A new temp dir, removed by {@link removeTempDir} or, at the latest, when the benchmark exits. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}
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
  /** The program; default this Node binary. */
  command?: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  baseUrl: string;
  /** Path answered with 200 once the server is ready. */
  readyPath: string;
  readyTimeoutMs?: number;
}

/** Starts `node <args>` (or `command <args>`) and waits until `readyPath` answers 200. */
export async function spawnServer(options: SpawnServerOptions): Promise<ServerProcess> {
  const child = spawn(options.command ?? process.execPath, options.args, {
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

/** {@link spawnServer} for a server that owns `dir` (data, config): removed once it has stopped or failed to start. */
export async function spawnServerOwning(dir: string, options: SpawnServerOptions): Promise<ServerProcess> {
  let server: ServerProcess;
  try {
    server = await spawnServer(options);
  } catch (err) {
    removeTempDir(dir);
    throw err;
  }
  return {
    ...server,
    stop: async (graceMs) => {
      try {
        return await server.stop(graceMs);
      } finally {
        removeTempDir(dir);
      }
    },
  };
}

/**
 * The fields of /proc/<pid>/stat after "(comm)" (Linux): state is [0], ppid [1], utime [11] and
 * stime [12] in clock ticks (USER_HZ = 100). Undefined when the process is gone or not on Linux.
 */
export function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The processes whose parent is `pid` (nginx's workers under its master), from /proc (Linux). */
export function childPids(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  return entries.map(Number).filter((child) => procStat(child)?.[1] === String(pid));
}
