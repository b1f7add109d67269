/**
 * Login throttling by client address behind a proxy: X-Forwarded-For counts only when the
 * socket peer is a configured trusted proxy, so a client cannot dodge the per-address limit by
 * inventing addresses, and users behind one proxy are not locked out together.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-proxy-'));
const ORIGIN = 'http://127.0.0.1:8080';
let runtime: Runtime;
let app: FastifyInstance;

before(async () => {
  writeFileSync(join(dir, 'kek'), randomBytes(32).toString('hex'));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(
    file,
    [
      `data_dir: ${dir}`,
      `keys: { kek: { source: file, path: ${join(dir, 'kek')} } }`,
      'server: { trusted_proxies: [10.9.0.0/16] }',
      'login: { max_attempts: 3 }',
    ].join('\n'),
  );
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

let n = 0;
/** A failed login for a fresh account (so only the address counter can lock). */
async function fail(remoteAddress: string, forwardedFor?: string): Promise<number> {
  n += 1;
  const res = await app.inject({
    method: 'POST',
    url: '/auth/login',
    remoteAddress,
    headers: {
      origin: ORIGIN,
      'content-type': 'application/json',
      ...(forwardedFor !== undefined && { 'x-forwarded-for': forwardedFor }),
    },
    payload: { username: `nobody${n}`, password: 'wrong password' },
  });
  return res.statusCode;
}

test('behind a trusted proxy the forwarded client address is throttled, not the proxy', async () => {
  for (let i = 0; i < 3; i++) assert.equal(await fail('10.9.0.1', '203.0.113.5'), 401);
  assert.equal(await fail('10.9.0.1', '203.0.113.5'), 429, 'that client is locked out');
  assert.equal(await fail('10.9.0.1', '203.0.113.6'), 401, 'another client behind the same proxy is not');
});

test('X-Forwarded-For from an untrusted peer is ignored: spoofed addresses do not escape the limit', async () => {
  for (let i = 0; i < 3; i++) assert.equal(await fail('198.51.100.7', `192.0.2.${i}`), 401);
  assert.equal(await fail('198.51.100.7', '192.0.2.99'), 429);
});
