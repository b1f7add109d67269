import type { Bus } from '@gatehouse/core';
import { type BusHooks, createTransportBus, TopicRegistry } from './bus-support.js';

/** What connects in-process buses: the stand-in for a broker. */
export type MemoryBusHub = TopicRegistry;

/** Creates a hub that several in-process buses can share. */
export function createMemoryBusHub(): MemoryBusHub {
  return new TopicRegistry();
}

/** Options of {@link createMemoryBus}. */
export interface MemoryBusOptions extends BusHooks {
  /** Share one hub between buses to connect them; default: a hub of its own. */
  hub?: MemoryBusHub;
}

/**
 * The single-process Bus. Messages go through JSON and are delivered on a later microtask, so
 * handlers see what a networked bus would give them: a copy, never the publisher's object,
 * and never before `publish()` returned.
 *
 * @example
 * ```ts
 * const bus = createMemoryBus();
 * await bus.subscribe('token.revoked', (m) => denylist.add(String(m.jti)));
 * await bus.publish('token.revoked', { jti: 'abc' });
 * ```
 */
export function createMemoryBus(options: MemoryBusOptions = {}): Bus {
  const hub = options.hub ?? createMemoryBusHub();
  return createTransportBus(
    'memory',
    {
      async send(topic, text) {
        queueMicrotask(() => hub.dispatch(topic, text));
      },
      async listen(topic, receive) {
        hub.add(topic, receive);
        return () => {
          hub.remove(topic, receive);
        };
      },
      async ping() {},
      async shutdown() {},
    },
    options,
  );
}
