import type { Cache } from '@gatehouse/core';
import { assertOptionalTtl, assertStep, assertTtl, assertWindowIndex } from './cache-support.js';
import { closeRedis, openRedis, RedisScript, redisCaller } from './redis-client.js';

/** Options of {@link createRedisCache}. */
export interface RedisCacheOptions {
  /** `redis://[user:password@]host:port[/db]` */
  url: string;
  /** Prepended to every key, outside the hash tag; default `gh:`. */
  keyPrefix?: string;
}

/** A Redis-backed cache; `clear()` exists for test cleanup and uninstall. */
export interface RedisCache extends Cache {
  /** Deletes every key under this cache's prefix; returns how many. Standalone Redis only. */
  clear(): Promise<number>;
}

// EXISTS then INCRBY inside one script: no other client can create the key in between, so the
// TTL is set exactly once, by whoever created the counter (fixed-window rate limits).
const incrementScript = new RedisScript(`
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return value
`);

// One round trip per rate-limited request: count in this window, read the one before. The TTL is
// set by whoever created the window's counter, two windows long (the next window reads it).
const windowHitScript = new RedisScript(`
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {current, tonumber(redis.call('GET', KEYS[2]) or '0')}
`);

/**
 * The shared Cache on Redis. Every key is hash-tagged, `${prefix}{${key}}`, so each logical key
 * maps to one Redis Cluster slot whatever the prefix, and scripts touch a single slot.
 *
 * @example
 * ```ts
 * const cache = createRedisCache({ url: 'redis://127.0.0.1:6379' });
 * const hits = await cache.increment('rl:client-a', 1, 60);
 * ```
 */
export function createRedisCache(options: RedisCacheOptions): RedisCache {
  const prefix = options.keyPrefix ?? 'gh:';
  const client = openRedis(options.url, 'gatehouse-cache');
  const k = (key: string) => `${prefix}{${key}}`;

  const call = redisCaller('the redis cache');

  return {
    kind: 'redis',
    // Not ready (connecting, reconnecting, closed): accelerators skip it rather than wait.
    connected: () => client.status === 'ready',
    get: (key) => call(() => client.get(k(key))),
    async set(key, value, ttlSeconds) {
      assertOptionalTtl(ttlSeconds);
      return call(async () => {
        if (ttlSeconds === undefined) await client.set(k(key), value);
        else await client.set(k(key), value, 'EX', ttlSeconds);
      });
    },
    async setIfAbsent(key, value, ttlSeconds) {
      assertTtl(ttlSeconds);
      return call(async () => (await client.set(k(key), value, 'EX', ttlSeconds, 'NX')) === 'OK');
    },
    delete: (key) => call(async () => (await client.del(k(key))) > 0),
    async increment(key, by, ttlSeconds) {
      assertStep(by);
      assertTtl(ttlSeconds);
      return call(async () => Number(await incrementScript.run(client, [k(key)], [by, ttlSeconds])));
    },
    async windowHit(key, index, windowSeconds) {
      assertWindowIndex(index);
      assertTtl(windowSeconds);
      // Both windows under the key's one hash tag: the same Cluster slot, one script.
      const keys = [`${k(key)}:${index}`, `${k(key)}:${index - 1}`];
      return call(async () => {
        const [current, previous] = (await windowHitScript.run(client, keys, [windowSeconds * 2])) as [
          number,
          number,
        ];
        return { current: Number(current), previous: Number(previous) };
      });
    },
    ttl: (key) =>
      call(async () => {
        const seconds = await client.ttl(k(key));
        // -2: no such key, -1: no TTL.
        return seconds < 0 ? null : seconds;
      }),
    async setAdd(key, members, ttlSeconds) {
      assertOptionalTtl(ttlSeconds);
      if (members.length === 0) return 0;
      return call(async () => {
        if (ttlSeconds === undefined) return client.sadd(k(key), ...members);
        // MULTI so no reader sees the new members without their TTL.
        const replies = await client
          .multi()
          .sadd(k(key), ...members)
          .expire(k(key), ttlSeconds)
          .exec();
        const [added] = replies ?? [];
        if (added === undefined || added[0] !== null) throw added?.[0] ?? new Error('MULTI aborted');
        return Number(added[1]);
      });
    },
    setRemove: (key, members) =>
      members.length === 0 ? Promise.resolve(0) : call(() => client.srem(k(key), ...members)),
    setHas: (key, member) => call(async () => (await client.sismember(k(key), member)) === 1),
    setMembers: (key) => call(() => client.smembers(k(key))),
    ping: () =>
      call(async () => {
        await client.ping();
      }),
    close: () => closeRedis(client),
    clear: () =>
      call(async () => {
        let removed = 0;
        const stream = client.scanStream({ match: `${escapeGlob(prefix)}*`, count: 500 });
        for await (const batch of stream as AsyncIterable<string[]>) {
          if (batch.length > 0) removed += await client.unlink(...batch);
        }
        return removed;
      }),
  };
}

/** Escapes Redis glob metacharacters so a prefix matches only itself. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
