import type { Bus, Cache, Clock, Store } from '@gatehouse/core';
import type { BusHooks } from './bus-support.js';
import { createEmbeddedStore } from './embedded-store.js';
import { createMemoryBus } from './memory-bus.js';
import { createMemoryCache } from './memory-cache.js';
import { createNatsBus } from './nats-bus.js';
import { createPostgresStore } from './postgres-store.js';
import { createRedisBus } from './redis-bus.js';
import { createRedisCache } from './redis-cache.js';

export type { BusHooks, HandlerErrorReporter } from './bus-support.js';
export { createEmbeddedStore, type EmbeddedStoreOptions } from './embedded-store.js';
export {
  createMemoryBus,
  createMemoryBusHub,
  type MemoryBusHub,
  type MemoryBusOptions,
} from './memory-bus.js';
export { createMemoryCache, type MemoryCache, type MemoryCacheOptions } from './memory-cache.js';
export { createNatsBus, type NatsBusOptions } from './nats-bus.js';
export { createPostgresStore, type PostgresStore, type PostgresStoreOptions } from './postgres-store.js';
export { createRedisBus, type RedisBusOptions } from './redis-bus.js';
export { createRedisCache, type RedisCache, type RedisCacheOptions } from './redis-cache.js';

/** Where durable state lives. */
export type StoreOptions =
  | { kind: 'embedded'; path: string }
  | { kind: 'postgres'; url: string; schema?: string; poolSize?: number };

/** Where shared ephemeral state lives. */
export type CacheOptions = { kind: 'memory' } | { kind: 'redis'; url: string; keyPrefix?: string };

/** How events travel between instances. */
export type BusOptions =
  | { kind: 'memory' }
  | { kind: 'redis'; url: string; channelPrefix?: string }
  | { kind: 'nats'; servers: string; subjectPrefix?: string };

/**
 * Opens the configured Store; call `migrate()` before use and `close()` on shutdown.
 *
 * @example
 * ```ts
 * const store = createStore({ kind: 'embedded', path: '.data/gatehouse.db' });
 * await store.migrate();
 * ```
 */
export function createStore(cfg: StoreOptions): Store {
  switch (cfg.kind) {
    case 'embedded':
      return createEmbeddedStore(cfg);
    case 'postgres':
      return createPostgresStore(cfg);
  }
}

/**
 * Opens the configured Cache. `clock` drives TTLs of the in-memory cache (Redis keeps its own time).
 *
 * @example
 * ```ts
 * const cache = createCache({ kind: 'redis', url: 'redis://127.0.0.1:6379' });
 * ```
 */
export function createCache(cfg: CacheOptions, clock?: Clock): Cache {
  switch (cfg.kind) {
    case 'memory':
      return createMemoryCache(clock === undefined ? {} : { clock });
    case 'redis':
      return createRedisCache(cfg);
  }
}

/**
 * Opens the configured Bus. Async because NATS connects up front, so a wrong address fails
 * at start rather than on the first event.
 *
 * @example
 * ```ts
 * const bus = await createBus({ kind: 'nats', servers: 'nats://127.0.0.1:4222' });
 * ```
 */
export async function createBus(cfg: BusOptions, hooks: BusHooks = {}): Promise<Bus> {
  switch (cfg.kind) {
    case 'memory':
      return createMemoryBus(hooks);
    case 'redis':
      return createRedisBus({ ...cfg, ...hooks });
    case 'nats':
      return createNatsBus({ ...cfg, ...hooks });
  }
}
