import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock, rateLimitSchema } from '@gatehouse/core';
import type { Identity } from '../../src/gateway/pipeline/identity.js';
import { RateLimiter, rateKey } from '../../src/gateway/pipeline/rate-limit.js';
import { createCache } from '../../src/storage/index.js';

test('sliding window: the previous window still counts by how much of it overlaps', async () => {
  const clock = new ManualClock(1_800_000_000_000); // a window boundary for window = 60
  const limiter = new RateLimiter(createCache({ kind: 'memory' }, clock), clock);
  const verdicts = [];
  for (let i = 0; i < 5; i++) verdicts.push(await limiter.hit('k', 4, 60));
  assert.deepEqual(
    verdicts.map((v) => [v.allowed, v.remaining]),
    [
      [true, 3],
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
    ],
  );
  assert.equal(verdicts[4]?.retryAfter, 60, 'the whole window must pass');
  clock.advance(60_000 + 30_000); // half-way through the next window: 5 × 0.5 = 2.5 still count
  assert.equal((await limiter.hit('k', 4, 60)).allowed, true); // 2.5 + 1
  assert.equal((await limiter.hit('k', 4, 60)).allowed, false); // 2.5 + 2 > 4
  clock.advance(60_000);
  assert.equal((await limiter.hit('k', 4, 60)).allowed, true, 'recovers by itself');
});

/** A user's JWT identity (sub usr_1, client web) with these claims. */
function user(claims: Identity['claims'] = {}): Identity {
  return { credential: 'jwt', sub: 'usr_1', clientId: 'web', scopes: [], roles: [], claims };
}

test('rate keys: per address, subject, client, API key or verified claim; hashed; a missing claim falls back to the address', () => {
  const identity = user({ tenant: 'acme' });
  const key = (k: string, id: Identity = identity, ip = '203.0.113.9') =>
    rateKey('r', rateLimitSchema.parse({ key: k, limit: 1 }), id, ip);
  const all = ['ip', 'sub', 'client', 'claim:tenant'].map((k) => key(k));
  assert.equal(new Set(all).size, 4);
  for (const k of all) assert.match(k, /^r:[\w-]{22}$/, 'no user id or address in the cache key');
  assert.equal(key('claim:missing'), key('ip'));
  assert.equal(key('api_key'), key('ip'), 'no API key on a JWT identity');
  assert.notEqual(key('sub'), key('sub', { ...identity, sub: 'usr_2' }));
  const anonymous: Identity = {
    credential: 'anonymous',
    sub: 'anonymous',
    clientId: undefined,
    scopes: [],
    roles: [],
    claims: {},
  };
  assert.equal(key('sub', anonymous), key('ip', anonymous), 'anonymous callers are counted by address');
});

test('rate keys kept per identity object never mix routes, limits or addresses', () => {
  const identity = user();
  const bySub = rateLimitSchema.parse({ key: 'sub', limit: 1 });
  const byIp = rateLimitSchema.parse({ key: 'ip', limit: 1 });
  const first = rateKey('a', bySub, identity, '203.0.113.9');
  // The same identity object again (a verified-token cache hit): the same key, whatever the address.
  assert.equal(rateKey('a', bySub, identity, '198.51.100.7'), first);
  assert.notEqual(rateKey('b', bySub, identity, '203.0.113.9'), first, 'another route');
  // Counted by address: each address its own key, even for one identity object.
  const here = rateKey('a', byIp, identity, '203.0.113.9');
  assert.notEqual(rateKey('a', byIp, identity, '198.51.100.7'), here);
  assert.equal(rateKey('a', byIp, identity, '203.0.113.9'), here);
  // Anonymous callers share one identity object and are counted by address.
  const anonymous: Identity = { ...identity, credential: 'anonymous', sub: 'anonymous', clientId: undefined };
  assert.notEqual(
    rateKey('a', bySub, anonymous, '203.0.113.9'),
    rateKey('a', bySub, anonymous, '198.51.100.7'),
  );
});
