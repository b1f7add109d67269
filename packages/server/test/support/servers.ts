/**
 * Real servers the contract suites run against, and what to do when one is not there: in CI
 * (CI=true) the suite fails with what to start; on a laptop it is skipped with a loud warning,
 * so a missing Redis never passes silently.
 */
import { connect } from 'node:net';
import { after, describe, it, type TestContext } from 'node:test';

export interface TestServer {
  /** Human name used in messages. */
  name: string;
  /** Connection URL handed to the adapter; overridable by environment variable. */
  url: string;
  /** How to start it on a Debian machine. */
  start: string;
}

export const servers = {
  postgres: {
    name: 'PostgreSQL',
    url: process.env.GATEHOUSE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    start: 'pg_ctlcluster 15 main start (trust auth for 127.0.0.1, database "test"), or run .ci/run',
  },
  redis: {
    name: 'Redis',
    url: process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    start: 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379',
  },
  nats: {
    name: 'NATS',
    url: process.env.GATEHOUSE_TEST_NATS_URL ?? 'nats://127.0.0.1:4222',
    start: 'nats-server -a 127.0.0.1 -p 4222 &',
  },
} satisfies Record<string, TestServer>;

/** A URL whose port nothing listens on, for "server down" tests. */
export function unreachableUrl(url: string): string {
  const u = new URL(url);
  u.port = '1';
  return u.toString();
}

/** True when a TCP connection to the server's host and port opens within `timeoutMs`. */
export function probe(server: TestServer, timeoutMs = 1000): Promise<boolean> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve) => {
    const socket = connect({
      host: hostname.replace(/^\[|\]$/g, ''),
      port: Number(port),
      timeout: timeoutMs,
    });
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => finish(true));
    socket.once('timeout', () => finish(false));
    socket.once('error', () => finish(false));
  });
}

/**
 * Declares one adapter's run of a contract suite. Without `server` it always runs; with one it
 * probes first and, when unreachable, fails (CI) or skips with a warning naming the server and
 * how to start it.
 */
export async function describeAdapter(
  title: string,
  server: TestServer | undefined,
  suite: () => void,
): Promise<void> {
  if (server === undefined || (await probe(server))) {
    describe(title, suite);
    return;
  }
  const message = `${server.name} is not reachable at ${server.url}; start it with: ${server.start}`;
  if (process.env.CI === 'true') {
    describe(title, () => {
      it(`needs ${server.name}`, () => {
        throw new Error(`${message} (CI=true: contract suites must not be skipped)`);
      });
    });
    return;
  }
  console.warn(`\n!!! SKIPPING "${title}": ${message}\n`);
  describe(title, { skip: message }, suite);
}

let counter = 0;

/** A name unique to this run and call, valid as a SQL identifier, key prefix and topic word. */
export function uniqueName(prefix: string): string {
  counter += 1;
  const random = Math.random().toString(36).slice(2, 8);
  return `${prefix}_${process.pid}_${random}_${counter}`;
}

/** Something a test opened, with how to release it. */
export interface Lease<T> {
  value: T;
  dispose(): Promise<void>;
}

/** Awaits an opening and releases it when the test ends, pass or fail. */
export async function lease<T>(t: TestContext, opening: Promise<Lease<T>> | Lease<T>): Promise<T> {
  const { value, dispose } = await opening;
  t.after(dispose);
  return value;
}

/** Resolves after `ms` real milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Asserts a promise rejects with a GatehouseError of `code` (and `status` when given). */
export function isGatehouseError(code: string, status?: number): (error: unknown) => boolean {
  return (error) => {
    const e = error as { name?: unknown; code?: unknown; status?: unknown };
    if (e.name !== 'GatehouseError' || e.code !== code || (status !== undefined && e.status !== status)) {
      throw new Error(`expected GatehouseError ${code}${status === undefined ? '' : ` (${status})`}`, {
        cause: error,
      });
    }
    return true;
  };
}

/**
 * Runs a black-box suite on PostgreSQL + Redis (cache and bus) in a schema and key prefix of its
 * own, dropped afterwards; fails in CI (skips loudly elsewhere) when either server is missing.
 */
export async function describeOnPostgresAndRedis(
  prefix: string,
  suite: (storage: () => Record<string, unknown>, schema: string) => void,
): Promise<void> {
  const schema = uniqueName(prefix);
  await describeAdapter(
    'postgres+redis',
    (await probe(servers.redis)) ? servers.postgres : servers.redis,
    () =>
      describe('postgres+redis', () => {
        suite(
          () => ({
            store: { kind: 'postgres', url: servers.postgres.url, schema },
            cache: { kind: 'redis', url: servers.redis.url, key_prefix: `${schema}:` },
            bus: { kind: 'redis', url: servers.redis.url, channel_prefix: `${schema}.` },
          }),
          schema,
        );
        after(async () => {
          // Imported here so the contract suites that use this module do not load the store.
          const { createPostgresStore } = await import('../../src/storage/postgres-store.js');
          const store = createPostgresStore({ url: servers.postgres.url, schema });
          await store.dropSchema();
          await store.close();
        });
      }),
  );
}
