/** One Cache contract, run against the in-memory cache and a real Redis. */
import { strict as assert } from 'node:assert';
import { it, type TestContext } from 'node:test';
import { type Cache, ManualClock } from '@gatehouse/core';
import { Redis } from 'ioredis';
import { createMemoryCache } from '../../src/storage/memory-cache.js';
import { createRedisCache, type RedisCache } from '../../src/storage/redis-cache.js';
import {
  describeAdapter,
  isGatehouseError,
  lease,
  servers,
  sleep,
  uniqueName,
  unreachableUrl,
} from '../support/servers.js';

/** One isolated cache namespace for one test. */
interface CacheWorld {
  cache: Cache;
  /** Another client of the same namespace (another process in production). */
  peer(): Promise<Cache>;
  /** Lets `ms` pass for TTL purposes: moves a ManualClock, or really waits. */
  elapse(ms: number): Promise<void>;
}

interface CacheHarness {
  open(t: TestContext): Promise<CacheWorld>;
  openUnreachable?(): Cache;
}

function cacheContract(h: CacheHarness): void {
  it('get, set and delete round-trip; missing keys are null/false', async (t) => {
    const { cache } = await h.open(t);
    assert.equal(await cache.get('k'), null);
    await cache.set('k', 'v1');
    assert.equal(await cache.get('k'), 'v1');
    await cache.set('k', 'v2', 60);
    assert.equal(await cache.get('k'), 'v2');
    assert.equal(await cache.delete('k'), true);
    assert.equal(await cache.delete('k'), false);
    assert.equal(await cache.get('k'), null);
    await cache.ping();
  });

  it('ttl() reports remaining seconds, or null without TTL or key', async (t) => {
    const { cache } = await h.open(t);
    await cache.set('forever', 'x');
    await cache.set('minute', 'x', 60);
    assert.equal(await cache.ttl('forever'), null);
    assert.equal(await cache.ttl('missing'), null);
    const ttl = await cache.ttl('minute');
    assert.ok(ttl !== null && ttl >= 59 && ttl <= 60, `ttl ${ttl}`);
    // Overwriting without a TTL makes the key permanent, as Redis SET does.
    await cache.set('minute', 'y');
    assert.equal(await cache.ttl('minute'), null);
  });

  it('keys with a TTL expire: values, setIfAbsent locks, counters and sets', async (t) => {
    const { cache, elapse } = await h.open(t);
    await cache.set('value', 'v', 1);
    assert.equal(await cache.setIfAbsent('lock', 'owner-1', 1), true);
    assert.equal(await cache.increment('counter', 5, 1), 5);
    assert.equal(await cache.setAdd('set', ['a', 'b'], 1), 2);
    await cache.set('permanent', 'p');
    assert.equal(await cache.get('value'), 'v');

    await elapse(1200);

    assert.equal(await cache.get('value'), null);
    assert.equal(await cache.get('lock'), null);
    assert.equal(await cache.get('counter'), null);
    assert.deepEqual(await cache.setMembers('set'), []);
    assert.equal(await cache.setHas('set', 'a'), false);
    assert.equal(await cache.ttl('value'), null);
    assert.equal(await cache.get('permanent'), 'p');
    assert.equal(await cache.setIfAbsent('lock', 'owner-2', 60), true);
    assert.equal(await cache.get('lock'), 'owner-2');
    assert.equal(await cache.increment('counter', 1, 60), 1);
  });

  it('setIfAbsent sets only once', async (t) => {
    const { cache } = await h.open(t);
    assert.equal(await cache.setIfAbsent('k', 'first', 60), true);
    assert.equal(await cache.setIfAbsent('k', 'second', 60), false);
    assert.equal(await cache.get('k'), 'first');
    await cache.delete('k');
    assert.equal(await cache.setIfAbsent('k', 'third', 60), true);
    assert.equal(await cache.get('k'), 'third');
  });

  it('increment sets the TTL on creation only and counts by any integer step', async (t) => {
    const { cache } = await h.open(t);
    assert.equal(await cache.increment('c', 1, 10), 1);
    assert.equal(await cache.increment('c', 4, 1000), 5);
    assert.equal(await cache.increment('c', -2, 1000), 3);
    const ttl = await cache.ttl('c');
    assert.ok(ttl !== null && ttl <= 10 && ttl >= 9, `ttl ${ttl} kept from creation`);
    assert.equal(await cache.get('c'), '3');
    await cache.set('text', 'not a number');
    await assert.rejects(cache.increment('text', 1, 10));
    await assert.rejects(cache.increment('c', 1.5, 10), RangeError);
  });

  it('200 concurrent increments from several clients are atomic', async (t) => {
    const { cache, peer } = await h.open(t);
    const clients = [cache, await peer(), await peer(), await peer()];
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (clients[i % clients.length] as Cache).increment('hits', 1, 60)),
    );
    assert.deepEqual(
      [...results].sort((a, b) => a - b),
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    assert.equal(await cache.get('hits'), '200');
    const ttl = await cache.ttl('hits');
    assert.ok(ttl !== null && ttl > 0 && ttl <= 60);
  });

  it('windowHit counts in its window and reads the one before; a skipped window reads zero', async (t) => {
    const { cache } = await h.open(t);
    assert.deepEqual(await cache.windowHit('rl:a', 10, 60), { current: 1, previous: 0 });
    assert.deepEqual(await cache.windowHit('rl:a', 10, 60), { current: 2, previous: 0 });
    assert.deepEqual(await cache.windowHit('rl:a', 10, 60), { current: 3, previous: 0 });
    assert.deepEqual(await cache.windowHit('rl:b', 10, 60), { current: 1, previous: 0 }, 'keys apart');
    assert.deepEqual(await cache.windowHit('rl:a', 11, 60), { current: 1, previous: 3 });
    assert.deepEqual(await cache.windowHit('rl:a', 11, 60), { current: 2, previous: 3 });
    assert.deepEqual(await cache.windowHit('rl:a', 13, 60), { current: 1, previous: 0 });
    await assert.rejects(async () => cache.windowHit('rl:a', 1.5, 60), RangeError);
    await assert.rejects(async () => cache.windowHit('rl:a', -1, 60), RangeError);
    await assert.rejects(async () => cache.windowHit('rl:a', 14, 0), RangeError);
    assert.deepEqual(
      await cache.windowHit('rl:a', 14, 60),
      { current: 1, previous: 1 },
      'refusals changed nothing',
    );
  });

  it('windowHit from several clients at once is atomic', async (t) => {
    const { cache, peer } = await h.open(t);
    const clients = [cache, await peer(), await peer(), await peer()];
    await cache.windowHit('rl:many', 6, 60);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        (clients[i % clients.length] as Cache).windowHit('rl:many', 7, 60),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.current).sort((a, b) => a - b),
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    assert.ok(results.every((r) => r.previous === 1));
  });

  it('a window count lives two windows from its first hit', async (t) => {
    const { cache, elapse } = await h.open(t);
    await cache.windowHit('rl:t', 3, 1);
    await cache.windowHit('rl:t', 3, 1);
    await elapse(1100);
    // Still read as the previous window one window later...
    assert.deepEqual(await cache.windowHit('rl:t', 4, 1), { current: 1, previous: 2 });
    await elapse(2100);
    // ...and gone once both have lived out their two windows.
    assert.deepEqual(await cache.windowHit('rl:t', 4, 1), { current: 1, previous: 0 });
  });

  it('sets: add counts new members, has/members/remove, an emptied set disappears', async (t) => {
    const { cache } = await h.open(t);
    assert.equal(await cache.setAdd('s', ['a', 'b', 'a']), 2);
    assert.equal(await cache.setAdd('s', ['b', 'c']), 1);
    assert.equal(await cache.setAdd('s', []), 0);
    assert.equal(await cache.setHas('s', 'c'), true);
    assert.equal(await cache.setHas('s', 'z'), false);
    assert.deepEqual((await cache.setMembers('s')).sort(), ['a', 'b', 'c']);
    assert.equal(await cache.ttl('s'), null);

    assert.equal(await cache.setAdd('s', ['d'], 60), 1);
    assert.ok(((await cache.ttl('s')) ?? 0) >= 59, 'setAdd with a TTL sets it');
    await cache.setAdd('s', ['e']);
    assert.ok(((await cache.ttl('s')) ?? 0) >= 59, 'setAdd without a TTL keeps it');

    assert.equal(await cache.setRemove('s', ['a', 'z']), 1);
    assert.equal(await cache.setRemove('missing', ['a']), 0);
    assert.equal(await cache.setRemove('s', ['b', 'c', 'd', 'e']), 4);
    assert.deepEqual(await cache.setMembers('s'), []);
    assert.equal(await cache.ttl('s'), null);
  });

  it('rejects TTLs that are not whole positive seconds', async (t) => {
    const { cache } = await h.open(t);
    await assert.rejects(cache.set('k', 'v', 0), RangeError);
    await assert.rejects(cache.setIfAbsent('k', 'v', 1.5), RangeError);
    await assert.rejects(cache.increment('k', 1, -1), RangeError);
    await assert.rejects(cache.setAdd('k', ['a'], 0), RangeError);
    assert.equal(await cache.get('k'), null);
  });

  const { openUnreachable } = h;
  if (openUnreachable !== undefined) {
    it('an unreachable server is ERR_STORE_UNAVAILABLE (503)', async () => {
      const cache = openUnreachable();
      try {
        await assert.rejects(cache.ping(), isGatehouseError('ERR_STORE_UNAVAILABLE', 503));
        await assert.rejects(cache.get('k'), isGatehouseError('ERR_STORE_UNAVAILABLE', 503));
      } finally {
        await cache.close();
      }
    });
  }
}

await describeAdapter('Cache contract: memory', undefined, () => {
  cacheContract({
    async open(t) {
      const clock = new ManualClock(1_750_000_000_000);
      const cache = createMemoryCache({ clock });
      t.after(() => cache.close());
      return {
        cache,
        // One process: every "client" is the same map.
        peer: async () => cache,
        elapse: async (ms) => clock.advance(ms),
      };
    },
  });

  it('sweep() drops expired entries nobody reads again', async () => {
    const clock = new ManualClock(0);
    const cache = createMemoryCache({ clock, sweepIntervalMs: 10 });
    await cache.set('a', '1', 1);
    await cache.setAdd('b', ['x'], 2);
    await cache.set('c', '1');
    clock.advance(1500);
    assert.equal(cache.sweep(), 1);
    clock.advance(1000);
    assert.equal(cache.sweep(), 1);
    assert.equal(cache.size(), 1);
    await cache.close();
  });
});

await describeAdapter('Cache contract: redis', servers.redis, () => {
  const open = (keyPrefix: string) => createRedisCache({ url: servers.redis.url, keyPrefix });
  const opened = (t: TestContext, cache: RedisCache) =>
    lease(t, {
      value: cache,
      async dispose() {
        await cache.clear();
        await cache.close();
      },
    });

  cacheContract({
    async open(t) {
      const prefix = `${uniqueName('gh-test')}:`;
      return {
        cache: await opened(t, open(prefix)),
        // Separate connections racing on the same keys, as separate processes would.
        peer: async () => {
          const peer = open(prefix);
          t.after(() => peer.close());
          return peer;
        },
        elapse: (ms) => sleep(ms),
      };
    },
    openUnreachable: () => createRedisCache({ url: unreachableUrl(servers.redis.url) }),
  });

  it('hash-tags keys under the prefix, keeps prefixes apart, and clear() removes only its own', async (t) => {
    const prefix = `${uniqueName('gh-test')}:`;
    const a = await opened(t, open(prefix));
    const b = await opened(t, open(`${uniqueName('gh-test')}:`));
    const raw = new Redis(servers.redis.url);
    t.after(() => raw.quit());

    await a.set('rl:client-a', '1');
    await a.setAdd('members', ['x']);
    assert.equal(await raw.get(`${prefix}{rl:client-a}`), '1');
    assert.equal(await raw.sismember(`${prefix}{members}`, 'x'), 1);
    assert.equal(await b.get('rl:client-a'), null);

    await b.set('mine', 'b');
    assert.equal(await a.clear(), 2);
    assert.equal(await raw.exists(`${prefix}{rl:client-a}`), 0);
    assert.equal(await b.get('mine'), 'b');
  });
});
