import type { Bus } from '@gatehouse/core';
import { type BusHooks, createTransportBus, TopicRegistry } from './bus-support.js';
import { closeRedis, openRedis, redisCaller } from './redis-client.js';

/** Options of {@link createRedisBus}. */
export interface RedisBusOptions extends BusHooks {
  /** `redis://[user:password@]host:port[/db]` */
  url: string;
  /** Prepended to every topic to form the channel name; default `gh:`. */
  channelPrefix?: string;
}

/**
 * The Bus on Redis pub/sub. A connection in subscriber mode cannot run other commands, so
 * publishing uses a second connection. One SUBSCRIBE serves every local handler of a topic;
 * ioredis re-subscribes after a reconnect (messages sent meanwhile are lost: at-most-once).
 *
 * @example
 * ```ts
 * const bus = createRedisBus({ url: 'redis://127.0.0.1:6379' });
 * await bus.subscribe('key.rotated', () => jwks.refresh());
 * ```
 */
export function createRedisBus(options: RedisBusOptions): Bus {
  const prefix = options.channelPrefix ?? 'gh:';
  const publisher = openRedis(options.url, 'gatehouse-bus-pub');
  const subscriber = openRedis(options.url, 'gatehouse-bus-sub');
  const call = redisCaller('the redis bus');
  const registry = new TopicRegistry();

  subscriber.on('message', (channel: string, text: string) => {
    if (channel.startsWith(prefix)) registry.dispatch(channel.slice(prefix.length), text);
  });

  return createTransportBus(
    'redis',
    {
      async send(topic, text) {
        await call(() => publisher.publish(prefix + topic, text));
      },
      async listen(topic, receive) {
        const channel = prefix + topic;
        registry.add(topic, receive);
        try {
          // Sent for every subscriber, not only the first: Redis treats a repeat as a no-op,
          // and waiting for our own acknowledgement means this one is live when we resolve
          // even if another subscribe() of the topic is still in flight.
          await call(() => subscriber.subscribe(channel));
        } catch (error) {
          registry.remove(topic, receive);
          throw error;
        }
        return async () => {
          // Commands on one connection run in order, so a later SUBSCRIBE still wins over this.
          if (registry.remove(topic, receive)) await call(() => subscriber.unsubscribe(channel));
        };
      },
      async ping() {
        await call(() => publisher.ping());
      },
      // ioredis leaves 'ready' the moment a socket drops: no waiting for a ping to time out.
      connected: () => subscriber.status === 'ready' && publisher.status === 'ready',
      async shutdown() {
        await Promise.all([closeRedis(subscriber), closeRedis(publisher)]);
      },
    },
    options,
  );
}
