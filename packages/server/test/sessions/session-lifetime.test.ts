/**
 * Session time limits through the real HTTP app with a clock the test moves: the replay grace
 * window, the idle timeout and the absolute lifetime of a refresh family, and throttle expiry.
 * (The black-box suite in test/e2e covers everything that does not need days to pass.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock } from '@gatehouse/core';
import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../../src/runtime.js';
import { type InProcessApp, openInProcessApp } from '../support/in-process-app.js';

const clock = new ManualClock(1_800_000_000_000);
const ORIGIN = 'http://127.0.0.1:8080';
const PASSWORD = 'correct horse battery staple';
const DAY_MS = 86_400_000;
let opened: InProcessApp;
let runtime: Runtime;
let app: FastifyInstance;

before(async () => {
  opened = await openInProcessApp(
    'sessions',
    [
      'refresh: { absolute_lifetime: 604800, idle_timeout: 86400, reuse_grace_ms: 2000 }',
      'login: { max_attempts: 2, attempt_window: 60, lockout: 60, max_lockout: 240 }',
    ],
    { clock },
  );
  ({ runtime, app } = opened);
});
after(() => opened.close());

let users = 0;
async function session(): Promise<{ refresh: string; csrf: string }> {
  users += 1;
  const username = `user${users}`;
  await runtime.users.create({ username, password: PASSWORD }, 'test');
  const res = await app.inject({
    method: 'POST',
    url: '/auth/login',
    headers: { origin: ORIGIN, 'content-type': 'application/json' },
    payload: { username, password: PASSWORD },
  });
  assert.equal(res.statusCode, 200, res.body);
  const cookie = res.cookies.find((c) => c.name === 'gh_refresh');
  return { refresh: cookie?.value as string, csrf: (res.json() as { csrf_token: string }).csrf_token };
}

async function refresh(s: { refresh: string; csrf: string }) {
  const res = await app.inject({
    method: 'POST',
    url: '/auth/refresh',
    headers: { origin: ORIGIN, cookie: `gh_refresh=${s.refresh}`, 'x-csrf-token': s.csrf },
  });
  const next = res.cookies.find((c) => c.name === 'gh_refresh' && c.value !== '')?.value;
  return { status: res.statusCode, code: (res.json() as { code?: string }).code, next };
}

test('grace window: the previous token gets the same successor for 2 s, then it is reuse', async () => {
  const s = await session();
  const first = await refresh(s);
  assert.equal(first.status, 200);
  clock.advance(1999);
  const replay = await refresh(s);
  assert.equal(replay.status, 200);
  assert.equal(replay.next, first.next, 'the very successor already issued');
  clock.advance(2);
  const late = await refresh(s);
  assert.equal(late.status, 401);
  assert.equal(late.code, 'ERR_REFRESH_REUSED');
  assert.equal((await refresh({ ...s, refresh: first.next as string })).status, 401, 'the family is gone');
});

test('shared cookie jar: a request in flight with a token two rotations old still gets the current token inside the window', async () => {
  const s = await session();
  const a = await refresh(s); // tab A: P -> S
  clock.advance(300);
  const b = await refresh({ ...s, refresh: a.next as string }); // tab B already holds S: S -> S2
  assert.equal(b.status, 200);
  clock.advance(300);
  const c = await refresh(s); // tab C's request carried P all along
  assert.equal(c.status, 200);
  assert.equal(c.next, b.next, 'caught up to the current token, not the stale S');
  const onward = await refresh({ ...s, refresh: c.next as string });
  assert.equal(onward.status, 200, 'and the family goes on');
  clock.advance(2001);
  assert.equal((await refresh(s)).code, 'ERR_REFRESH_REUSED', 'P outside its window is reuse');
});

test('idle timeout: a family unused for a day ends; each use restarts the idle clock', async () => {
  const s = await session();
  let current = s.refresh;
  for (let day = 0; day < 3; day++) {
    clock.advance(DAY_MS - 60_000);
    const r = await refresh({ ...s, refresh: current });
    assert.equal(r.status, 200, `day ${day}: used within the idle timeout`);
    current = r.next as string;
  }
  clock.advance(DAY_MS);
  const idle = await refresh({ ...s, refresh: current });
  assert.equal(idle.status, 401);
  assert.equal(idle.code, 'ERR_REFRESH_INVALID');
});

test('absolute lifetime: 7 days after login the family ends however often it was used', async () => {
  const s = await session();
  let current = s.refresh;
  for (let hours = 0; hours < 7 * 24 - 12; hours += 12) {
    clock.advance(12 * 3_600_000);
    const r = await refresh({ ...s, refresh: current });
    assert.equal(r.status, 200, `${hours + 12} h after login`);
    current = r.next as string;
  }
  clock.advance(13 * 3_600_000);
  const ended = await refresh({ ...s, refresh: current });
  assert.equal(ended.status, 401);
  assert.equal(ended.code, 'ERR_REFRESH_INVALID');
});

test('lockouts grow: 60 s, then 120 s, then capped at max_lockout; a lock expires on its own', async () => {
  await runtime.users.create({ username: 'locky', password: PASSWORD }, 'test');
  const attempt = async (password: string, ip: string) => {
    const res = await app.inject({
      method: 'POST',
      url: '/auth/login',
      remoteAddress: ip,
      headers: { origin: ORIGIN, 'content-type': 'application/json' },
      payload: { username: 'locky', password },
    });
    return { status: res.statusCode, retryAfter: Number(res.headers['retry-after'] ?? 0) };
  };
  const lockouts: number[] = [];
  for (let round = 0; round < 4; round++) {
    // a fresh address each round: this test is about the account's lock
    const ip = `10.0.0.${round + 1}`;
    assert.equal((await attempt('wrong password', ip)).status, 401);
    assert.equal((await attempt('wrong password', ip)).status, 401);
    const locked = await attempt(PASSWORD, ip);
    assert.equal(locked.status, 429);
    lockouts.push(locked.retryAfter);
    clock.advance(locked.retryAfter * 1000 + 1000);
  }
  assert.deepEqual(lockouts, [60, 120, 240, 240]);
  assert.equal((await attempt(PASSWORD, '10.0.0.9')).status, 200, 'the lock expired by itself');
});

test('a token bounded by one that expires this very second is refused as a 4xx, never minted with no lifetime', async () => {
  const now = Math.floor(clock.nowMs() / 1000);
  await assert.rejects(
    runtime.tokens.issue({
      client: runtime.sessions.client,
      sub: 'usr_x',
      scope: [],
      audience: ['https://api.example'],
      notAfter: now,
    }),
    (err: { error?: string; status?: number }) => err.error === 'invalid_request' && err.status === 400,
  );
  const ok = await runtime.tokens.issue({
    client: runtime.sessions.client,
    sub: 'usr_x',
    scope: [],
    audience: ['https://api.example'],
    notAfter: now + 5,
  });
  assert.equal(ok.expiresIn, 5, 'lifetime capped by the bound');
});
