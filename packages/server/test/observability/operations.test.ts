import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { generateSigningKey, ManualClock, RemoteKeySet } from '@gatehouse/core';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-ops-'));
let runtime: Runtime;
let app: FastifyInstance;

before(async () => {
  writeFileSync(join(dir, 'kek'), randomBytes(32).toString('hex'));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, `data_dir: ${dir}\nkeys:\n  kek: { source: file, path: ${join(dir, 'kek')} }\n`);
  runtime = await createRuntime(loadConfig({ file, env: {} }), {
    logger: pino({ level: 'silent' }),
    defaultMetrics: false,
  });
  app = await buildApp(runtime);
});
after(async () => {
  await app.close();
  await runtime.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = async (url: string) => {
  const res = await app.inject({ method: 'GET', url });
  return { status: res.statusCode, body: res.body, json: () => res.json() as Record<string, unknown> };
};

test('a remote JWKS that goes away: last-known-good (degraded, still ready), then stale (not ready)', async () => {
  const { publicJwk } = generateSigningKey('ES256');
  const jwksServer = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [publicJwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const { port } = jwksServer.address() as AddressInfo;
  const clock = new ManualClock(1_800_000_000_000);
  const remote = new RemoteKeySet({
    jwksUri: `http://127.0.0.1:${port}/jwks`,
    clock,
    maxStalenessSeconds: 120,
    timeoutMs: 1000,
  });
  await remote.refresh('startup');
  runtime.remoteJwks.register('upstream', remote);

  let ready = await get('/readyz');
  assert.equal(ready.status, 200);
  assert.equal((ready.json().checks as Record<string, string>)['jwks:upstream'], 'ok');
  assert.match((await get('/metrics')).body, /gatehouse_jwks_keys\{jwks="upstream"\} 1/);

  await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
  clock.advance(60_000);
  await remote.refresh('interval');
  assert.ok(remote.resolve(String(publicJwk.kid)), 'last-known-good keys still resolve');
  ready = await get('/readyz');
  assert.equal(ready.status, 200, 'last-known-good keeps the instance ready');
  assert.equal((ready.json().checks as Record<string, string>)['jwks:upstream'], 'degraded');
  const metrics = (await get('/metrics')).body;
  assert.match(metrics, /gatehouse_jwks_last_known_good\{jwks="upstream"\} 1/);
  assert.match(metrics, /gatehouse_jwks_stale\{jwks="upstream"\} 0/);

  clock.advance(61_000);
  ready = await get('/readyz');
  assert.equal(ready.status, 503);
  assert.equal(ready.json().status, 'not_ready');
  assert.equal((ready.json().checks as Record<string, string>)['jwks:upstream'], 'failing');
  assert.match((await get('/metrics')).body, /gatehouse_jwks_stale\{jwks="upstream"\} 1/);
  assert.match((await get('/metrics')).body, /gatehouse_readiness_check\{check="jwks:upstream"\} 0/);
  assert.equal(remote.resolve(String(publicJwk.kid)), undefined, 'a stale set serves no key');
});

test('liveness stays up while readiness reports each dependency', async () => {
  assert.equal((await get('/livez')).status, 200);
  assert.equal((await get('/healthz')).status, 200);
  const checks = (await get('/readyz')).json().checks as Record<string, string>;
  for (const name of ['store', 'cache', 'bus', 'keys']) assert.equal(checks[name], 'ok', name);
  const metrics = (await get('/metrics')).body;
  for (const name of ['store', 'cache', 'bus', 'keys', 'revocations']) {
    assert.match(metrics, new RegExp(`gatehouse_readiness_check\\{check="${name}"\\} 1`), name);
  }
});
