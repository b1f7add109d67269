/**
 * The benchmark's side of the paced load generator (bench/lib/paced-load.ts): the generator's
 * process, started once and reused, and a run sent to it.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { compiledScript } from './compiled.js';
import { CHILD_FLAG, type PacedMessage, type PacedOutcome, type PacedRun } from './paced-load.js';

/** The generator's process, started once and reused, so every run after the first finds its code warm. */
let generator: { child: ChildProcess; ready: Promise<void> } | undefined;

function generatorProcess(): { child: ChildProcess; ready: Promise<void> } {
  if (generator && generator.child.exitCode === null && generator.child.connected) return generator;
  // Bundled and run by plain node, like the servers: no tsx hooks thread in the generator either.
  const child = fork(compiledScript('bench/lib/paced-load.ts'), [CHILD_FLAG], {
    execArgv: [],
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // Neither keeps the benchmark alive; the generator ends when the benchmark's channel closes.
  child.unref();
  child.channel?.unref();
  const ready = new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('error', reject);
  });
  generator = { child, ready };
  return generator;
}

/**
 * A paced run (bench/lib/paced-load.ts) in a process of its own, so that neither the benchmark's
 * heap (token pools of hundreds of thousands of strings, whose collection pauses its event loop)
 * nor its other work lands in the latencies. Its CPU comes back in `cpuSeconds`. Runs go one at a time.
 */
export async function pacedRun(run: PacedRun): Promise<PacedOutcome> {
  const { onSecond, ...plain } = run;
  const { child, ready } = generatorProcess();
  await ready;
  return new Promise((resolve, reject) => {
    const onMessage = (message: PacedMessage) => {
      if ('second' in message) onSecond?.(message.second.left, message.second.answered);
      else if ('outcome' in message) {
        done();
        resolve(message.outcome);
      }
    };
    const onExit = (code: number | null) => {
      done();
      reject(new Error(`the paced load generator exited (${code}) during a run`));
    };
    const done = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(plain);
  });
}
