import type { Bus } from '@gatehouse/core';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type BusHooks, createTransportBus } from './bus-support.js';
import { translateFailure, unavailableError } from './errors.js';

/** Options of {@link createNatsBus}. */
export interface NatsBusOptions extends BusHooks {
  /** One server URL or several, comma-separated: `nats://a:4222,nats://b:4222`. */
  servers: string;
  /** Prepended to every topic to form the subject; default `gh.`. */
  subjectPrefix?: string;
}

/**
 * The Bus on NATS core pub/sub (no JetStream: events are at-most-once by design). Connecting
 * happens here, so a bad address fails at start with ERR_STORE_UNAVAILABLE; afterwards the
 * client reconnects forever in the background.
 *
 * @example
 * ```ts
 * const bus = await createNatsBus({ servers: 'nats://127.0.0.1:4222' });
 * await bus.publish('token.revoked', { jti: 'abc' });
 * ```
 */
export async function createNatsBus(options: NatsBusOptions): Promise<Bus> {
  const prefix = options.subjectPrefix ?? 'gh.';
  const call = <T>(op: () => T | Promise<T>) =>
    translateFailure(op, (error) => unavailableError('the nats bus', error));
  const nc: NatsConnection = await call(() =>
    connect({
      servers: options.servers.split(',').map((s) => s.trim()),
      name: 'gatehouse',
      maxReconnectAttempts: -1,
    }),
  );
  // The client reports a dropped socket at once; without this, only a ping timing out would tell.
  let up = true;
  (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'staleConnection') up = false;
      else if (status.type === 'reconnect') up = true;
    }
  })().catch(() => {
    up = false;
  });

  return createTransportBus(
    'nats',
    {
      async send(topic, text) {
        await call(() => nc.publish(prefix + topic, text));
      },
      async listen(topic, receive, fail) {
        const subscription = await call(() =>
          nc.subscribe(prefix + topic, {
            callback: (error, msg) => (error ? fail(error) : receive(msg.string())),
          }),
        );
        // The SUB is only buffered until a round trip proves the server has it.
        await call(() => nc.flush());
        return () => {
          if (!subscription.isClosed()) subscription.unsubscribe();
        };
      },
      ping: () => call(() => nc.flush()),
      connected: () => up && !nc.isClosed(),
      async shutdown() {
        // drain() delivers what is in flight and flushes pending publishes before closing.
        if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
      },
    },
    options,
  );
}
