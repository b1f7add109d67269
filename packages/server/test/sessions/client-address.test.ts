/**
 * Login throttling by client address behind a proxy: X-Forwarded-For counts only when the
 * socket peer is a configured trusted proxy, so a client cannot dodge the per-address limit by
 * inventing addresses, and users behind one proxy are not locked out together.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type InProcessApp, openInProcessApp } from '../support/in-process-app.js';

const ORIGIN = 'http://127.0.0.1:8080';
let opened: InProcessApp;
let app: FastifyInstance;

before(async () => {
  opened = await openInProcessApp('proxy', [
    'server: { trusted_proxies: [10.9.0.0/16] }',
    'login: { max_attempts: 3 }',
  ]);
  ({ app } = opened);
});
after(() => opened.close());

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
