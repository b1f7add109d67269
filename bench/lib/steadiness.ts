import { createHash } from 'node:crypto';

/** Per-second throughput of a fixed single-threaded CPU loop: the machine's own noise floor. */
export interface Steadiness {
  perSecond: number[];
  /** Slowest second / fastest second; 1.0 is a perfectly steady CPU. */
  minOverMax: number;
}

/**
 * Runs a SHA-256 loop for `seconds` whole seconds and counts hashes per second. On a shared or
 * throttled VM the spread is large, and every figure of the run is that much less precise.
 */
export function measureSteadiness(seconds = 3): Steadiness {
  const perSecond: number[] = [];
  for (let s = 0; s < seconds; s++) {
    const end = performance.now() + 1000;
    let n = 0;
    while (performance.now() < end) {
      for (let i = 0; i < 500; i++) createHash('sha256').update('gatehouse').digest();
      n += 500;
    }
    perSecond.push(n);
  }
  return { perSecond, minOverMax: Math.min(...perSecond) / Math.max(...perSecond) };
}
