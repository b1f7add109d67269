/**
 * `npm run bench:revocation`: the revocation fabric at scale. Loads BENCH_REVOKED (default 10 M)
 * revoked token ids into a real durable log (SQLite, the embedded default), starts the fabric on
 * it (the start-up rebuild every instance does), then measures the Bloom filter's memory and
 * false-positive rate, the check latency for clean and revoked tokens, and the push propagation
 * across three instances over a real Redis bus. Writes its section into bench/RESULTS.md.
 *
 * Env: BENCH_REVOKED (10000000), BENCH_CHECKS (200000), BENCH_PROPAGATIONS (300),
 * GATEHOUSE_TEST_REDIS_URL (redis://127.0.0.1:6379).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Bus, RandomIds, systemClock } from '@gatehouse/core';
import SqliteDatabase from 'better-sqlite3';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { type RevocableClaims, Revocations } from '../packages/server/src/issuer/revocations.js';
import { createBus, createEmbeddedStore } from '../packages/server/src/storage/index.js';
import { writeSection } from './lib/results-file.js';

const log = (line: string) => process.stderr.write(`${line}\n`);
const count = Number(process.env.BENCH_REVOKED ?? 10_000_000);
const checks = Number(process.env.BENCH_CHECKS ?? 200_000);
const propagations = Number(process.env.BENCH_PROPAGATIONS ?? 300);
const redisUrl = process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const logger = pino({ level: 'silent' });

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Times `n` calls one at a time (awaiting only an answer that is a promise); per-call nanoseconds, sorted. */
async function timeChecks(
  n: number,
  call: (i: number) => boolean | Promise<boolean>,
  expect: boolean,
): Promise<number[]> {
  const times: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    const answer = call(i);
    const revoked = typeof answer === 'boolean' ? answer : await answer;
    times[i] = Number(process.hrtime.bigint() - start);
    if (revoked !== expect) throw new Error(`check ${i} answered ${revoked}, expected ${expect}`);
  }
  return times.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-revocation-bench-'));
  const path = join(dir, 'bench.db');
  const ids = new RandomIds();
  const exp = Math.floor(Date.now() / 1000) + 86_400;
  try {
    const store = createEmbeddedStore({ path });
    await store.migrate();
    await store.close();

    // 1. The durable log: bulk-written straight into SQLite (the API's one-at-a-time append is not
    //    what is being measured here), with progress.
    log(`== writing ${count.toLocaleString('en')} revoked token ids into the durable log`);
    const started = Date.now();
    const db = new SqliteDatabase(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = OFF');
    const insert = db.prepare(
      "insert into revocation_log (seq, kind, value, not_before, exp, created_at) values (?, 'jti', ?, 0, ?, 0)",
    );
    const batch = db.transaction((from: number, to: number) => {
      for (let seq = from; seq < to; seq++) insert.run(seq, `r${seq}-${ids.next(12)}`, exp);
    });
    const step = 500_000;
    for (let from = 1; from <= count; from += step) {
      batch(from, Math.min(count + 1, from + step));
      log(`  ${Math.min(count, from + step - 1).toLocaleString('en')} / ${count.toLocaleString('en')}`);
    }
    // Revoked ids to check against, read back as stored: the newest (the fabric keeps the latest
    // 100,000 in an exact map) and older ones (only in the Bloom filter and the log).
    const recentFrom = Math.max(0, count - 100_000);
    const recentSample = (
      db
        .prepare('select value from revocation_log where seq > ? order by seq limit ?')
        .all(recentFrom, 50_000) as {
        value: string;
      }[]
    ).map((r) => r.value);
    const oldSample = (
      db
        .prepare('select value from revocation_log where seq <= ? and seq % ? = 0 limit ?')
        .all(recentFrom, Math.max(1, Math.floor(recentFrom / 20_000)), 20_000) as { value: string }[]
    ).map((r) => r.value);
    db.close();
    const writeSeconds = (Date.now() - started) / 1000;

    // 2. The start-up rebuild: the fabric reads the whole log into its Bloom filter.
    log('== starting the fabric on it (loads the whole log)');
    const heapBefore = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    const durable = createEmbeddedStore({ path });
    const bus = await createBus({ kind: 'memory' }, {});
    const registry = new Registry();
    const fabric = new Revocations(
      { store: durable, bus, clock: systemClock, logger, registry },
      { expectedEntries: count, maxStalenessSeconds: 3600 },
    );
    const loadStart = Date.now();
    await fabric.start();
    const loadSeconds = (Date.now() - loadStart) / 1000;
    const memory = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers - heapBefore;
    const bloomBytes = fabric.filterStats().bytes;
    log(`  loaded in ${loadSeconds.toFixed(1)} s; Bloom filter ${(bloomBytes / 2 ** 20).toFixed(1)} MiB`);

    // 3. False positives: fresh ids the filter says "maybe" to, so the durable log answers
    //    (counted by the fabric's own metric, checks by answering layer).
    const probes = 1_000_000;
    const logAnswers = async () =>
      (await registry.getSingleMetric('gatehouse_revocation_checks_total')?.get())?.values.find(
        (v) => v.labels.layer === 'log' && v.labels.revoked === 'false',
      )?.value ?? 0;
    const before = await logAnswers();
    for (let i = 0; i < probes; i++) {
      if (await fabric.isTokenRevoked({ jti: ids.next(16) })) throw new Error('a fresh id was revoked');
    }
    const fpRate = ((await logAnswers()) - before) / probes;

    // 4. Check latency, one call at a time, as the gateway calls it: memory first (synchronous),
    // the stores only when memory cannot answer.
    const check = (claims: RevocableClaims) => fabric.isTokenRevoked(claims);
    log(`== ${checks.toLocaleString('en')} checks per kind`);
    const clean = Array.from({ length: checks }, () => ids.next(16));
    const cleanTimes = await timeChecks(checks, (i) => check({ jti: clean[i] as string }), false);
    const recentTimes = await timeChecks(
      recentSample.length,
      (i) => check({ jti: recentSample[i] as string }),
      true,
    );
    // Old revocations (out of the exact map): Bloom "maybe" → the durable log.
    const oldTimes = await timeChecks(oldSample.length, (i) => check({ jti: oldSample[i] as string }), true);
    await fabric.revokeAllOf('sub', 'usr_bench');
    const watermarkTimes = await timeChecks(
      checks,
      (i) => check({ jti: clean[i] as string, sub: 'usr_bench', iat: 1 }),
      true,
    );
    await fabric.stop();
    await bus.close();
    await durable.close();

    // 5. Propagation across three instances over Redis pub/sub.
    log(`== propagation: ${propagations} revocations across 3 instances over Redis`);
    const propagation = await measurePropagation(path);

    const us = (ns: number) => (ns / 1000).toFixed(2);
    const row = (name: string, t: number[]) =>
      `| ${name} | ${t.length.toLocaleString('en')} | ${us(percentile(t, 50))} µs | ${us(percentile(t, 99))} µs |`;
    const p99Check = percentile(cleanTimes, 99);
    const command = [
      ...Object.entries(process.env)
        .filter(([k, v]) => k.startsWith('BENCH_') && v)
        .map(([k, v]) => `${k}=${v}`),
      'npm run bench:revocation',
    ].join(' ');
    const body = `## Revocation fabric

- Date: ${new Date().toISOString()}; ${cpus().length} CPUs, Node ${process.version}
- Command: \`${command}\` (from the repository root)
- ${count.toLocaleString('en')} revoked token ids written to the durable log (SQLite, embedded default) in ${writeSeconds.toFixed(1)} s; the fabric's start-up rebuild read them all in **${loadSeconds.toFixed(1)} s**.
- Checks are \`Revocations.isTokenRevoked\`, the one check the issuer, the gateway and introspection make: answered synchronously from memory (watermarks, recent map, Bloom filter) when it can, a promise (shared store, durable log) only when it cannot; timed one at a time with \`process.hrtime\`, awaiting only a promise.

| Goal | Measured | Target | Result |
| --- | --- | --- | --- |
| Bloom filter memory for ${count.toLocaleString('en')} ids | ${(bloomBytes / 2 ** 20).toFixed(1)} MiB | ≤ 24 MB | ${bloomBytes <= 24e6 ? '✅ pass' : '❌ FAIL'} |
| False-positive rate (1 M fresh ids) | ${(fpRate * 100).toFixed(3)} % | ≤ 0.1 % | ${fpRate <= 0.001 ? '✅ pass' : '❌ FAIL'} |
| Check p99, clean token | ${us(p99Check)} µs | ≤ 5 µs | ${p99Check <= 5000 ? '✅ pass' : '❌ FAIL'} |
| Propagation p99 across 3 instances (Redis) | ${propagation.p99.toFixed(2)} ms | ≤ 50 ms | ${propagation.p99 <= 50 ? '✅ pass' : '❌ FAIL'} |

| Check | Calls | p50 | p99 |
| --- | --- | --- | --- |
${row('clean token (Bloom "no", final while in sync)', cleanTimes)}
${row('revoked recently (exact in-memory map)', recentTimes)}
${row('revoked long ago (Bloom "maybe" → durable log lookup)', oldTimes)}
${row('subject watermark (one entry for all of a user)', watermarkTimes)}

- Heap + array buffers grew by ${(memory / 2 ** 20).toFixed(0)} MiB over the load (the filter plus the bounded map of the 100,000 most recent revocations).
- Propagation: ${propagation.samples} revocations made at one instance, time until each of the two others received it from the bus (the revoking call resolves once the entry is durable; millisecond clock, so 1.00 ms means within the same or the next millisecond): p50 ${propagation.p50.toFixed(2)} ms, p99 ${propagation.p99.toFixed(2)} ms, max ${propagation.max.toFixed(2)} ms. The multi-process test (test/e2e/revocation-fabric.e2e.test.ts) measures the same over HTTP between three processes.
`;
    writeSection('revocation', body);
    process.stdout.write(`${body}\nWrote the revocation section of bench/RESULTS.md\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Three fabrics on one durable log and one Redis bus; one revokes, the others are timed. */
async function measurePropagation(
  path: string,
): Promise<{ p50: number; p99: number; max: number; samples: number }> {
  const prefix = `gh-bench-${process.pid}.`;
  const opened: { bus: Bus; fabric: Revocations; store: ReturnType<typeof createEmbeddedStore> }[] = [];
  const arrivals: number[] = [];
  for (let i = 0; i < 3; i++) {
    const store = createEmbeddedStore({ path: `${path}.propagation` });
    await store.migrate();
    const bus = await createBus({ kind: 'redis', url: redisUrl, channelPrefix: prefix }, {});
    const registry = new Registry();
    const fabric = new Revocations(
      { store, bus, clock: systemClock, logger, registry },
      { expectedEntries: 100_000 },
    );
    await fabric.start();
    opened.push({ bus, fabric, store });
    if (i > 0) {
      // Each receiver reports what the revocation's own timestamp says about its trip.
      await bus.subscribe('token.revoked', (message) => {
        if (typeof message.at_ms === 'number') arrivals.push(Date.now() - message.at_ms);
      });
    }
  }
  const ids = new RandomIds();
  const exp = Math.floor(Date.now() / 1000) + 600;
  for (let i = 0; i < propagations; i++) {
    await opened[0]?.fabric.revoke(ids.next(16), exp);
    await new Promise((r) => setTimeout(r, 2));
  }
  await new Promise((r) => setTimeout(r, 200));
  for (const { fabric, bus, store } of opened) {
    await fabric.stop();
    await bus.close();
    await store.close();
  }
  rmSync(`${path}.propagation`, { force: true });
  const sorted = arrivals.sort((a, b) => a - b);
  if (sorted.length < propagations * 2)
    throw new Error(`only ${sorted.length} of ${propagations * 2} arrivals seen`);
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    samples: propagations,
  };
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`\nrevocation benchmark failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
