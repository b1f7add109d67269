/** One Bus contract, run against the in-memory bus, Redis pub/sub and NATS. */
import { strict as assert } from 'node:assert';
import { it, type TestContext } from 'node:test';
import type { Bus, BusHandler, BusMessage } from '@gatehouse/core';
import type { BusHooks } from '../../src/storage/bus-support.js';
import { createMemoryBus, createMemoryBusHub } from '../../src/storage/memory-bus.js';
import { createNatsBus } from '../../src/storage/nats-bus.js';
import { createRedisBus } from '../../src/storage/redis-bus.js';
import {
  describeAdapter,
  isGatehouseError,
  servers,
  sleep,
  uniqueName,
  unreachableUrl,
} from '../support/servers.js';

/** Opens buses that reach each other (same broker, same prefix), closed when the test ends. */
type BusWorld = (hooks?: BusHooks) => Promise<Bus>;

interface BusHarness {
  open(t: TestContext): BusWorld;
  openUnreachable?(): Promise<Bus> | Bus;
}

/** Records deliveries and waits for them without fixed sleeps. */
class Inbox {
  readonly received: { topic: string; message: BusMessage }[] = [];
  readonly handler: BusHandler = (message, topic) => {
    this.received.push({ topic, message });
  };

  messages(): BusMessage[] {
    return this.received.map((r) => r.message);
  }

  async waitFor(count: number, timeoutMs = 3000): Promise<BusMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > deadline) {
        throw new Error(`expected ${count} messages, got ${this.received.length} within ${timeoutMs} ms`);
      }
      await sleep(5);
    }
    return this.messages();
  }
}

/**
 * Returns once everything `publisher` sent so far has reached `subscriber`'s handlers: a marker
 * published last on the same connection arrives after them. Lets tests assert a non-delivery
 * without sleeping.
 */
async function settle(publisher: Bus, subscriber: Bus): Promise<void> {
  const marker = new Inbox();
  const stop = await subscriber.subscribe('settle.marker', marker.handler);
  await publisher.publish('settle.marker', {});
  await marker.waitFor(1);
  await stop();
}

const unavailable = isGatehouseError('ERR_STORE_UNAVAILABLE', 503);

function busContract(h: BusHarness): void {
  it('delivers JSON messages, in order, to every subscriber of the topic', async (t) => {
    const bus = await h.open(t)();
    const first = new Inbox();
    const second = new Inbox();
    await bus.subscribe('token.revoked', first.handler);
    await bus.subscribe('token.revoked', second.handler);
    const payload = { jti: 'j1', exp: 1_750_000_000, nested: { list: [1, 'two', null], ok: true } };
    await bus.publish('token.revoked', payload);
    await bus.publish('token.revoked', { jti: 'j2' });
    assert.deepEqual(await first.waitFor(2), [payload, { jti: 'j2' }]);
    assert.deepEqual(await second.waitFor(2), [payload, { jti: 'j2' }]);
    assert.deepEqual(
      first.received.map((r) => r.topic),
      ['token.revoked', 'token.revoked'],
    );
    await bus.ping();
  });

  it('delivers across connections, and a subscription is live once subscribe() resolves', async (t) => {
    const world = h.open(t);
    const publisher = await world();
    const subscriber = await world();
    const inbox = new Inbox();
    await subscriber.subscribe('key.rotated', inbox.handler);
    // No wait between subscribe and publish: the subscription must already be active.
    await publisher.publish('key.rotated', { kid: 'k2' });
    assert.deepEqual(await inbox.waitFor(1), [{ kid: 'k2' }]);
  });

  it('unsubscribe stops delivery to that handler only, and is safe to call twice', async (t) => {
    const world = h.open(t);
    const bus = await world();
    const publisher = await world();
    const gone = new Inbox();
    const stays = new Inbox();
    const unsubscribe = await bus.subscribe('session.ended', gone.handler);
    await bus.subscribe('session.ended', stays.handler);
    await publisher.publish('session.ended', { n: 1 });
    await gone.waitFor(1);
    await stays.waitFor(1);

    await unsubscribe();
    await unsubscribe();
    await publisher.publish('session.ended', { n: 2 });
    await settle(publisher, bus);
    assert.deepEqual(stays.messages(), [{ n: 1 }, { n: 2 }]);
    assert.deepEqual(gone.messages(), [{ n: 1 }]);
  });

  it('keeps topics apart, including prefixes and sub-topics', async (t) => {
    const world = h.open(t);
    const bus = await world();
    const publisher = await world();
    const inbox = new Inbox();
    await bus.subscribe('user.logged_out', inbox.handler);
    for (const topic of ['user', 'user.logged', 'user.logged_out.extra', 'user.logged_outx', 'other']) {
      await publisher.publish(topic, { topic });
    }
    await publisher.publish('user.logged_out', { topic: 'user.logged_out' });
    await settle(publisher, bus);
    assert.deepEqual(inbox.messages(), [{ topic: 'user.logged_out' }]);
  });

  it('a throwing or rejecting handler is reported and never breaks later deliveries', async (t) => {
    const reported: { error: unknown; topic: string }[] = [];
    const world = h.open(t);
    const bus = await world({ onHandlerError: (error, topic) => reported.push({ error, topic }) });
    const publisher = await world();
    let calls = 0;
    await bus.subscribe('permissions.changed', () => {
      calls++;
      throw new Error(`boom ${calls}`);
    });
    await bus.subscribe('permissions.changed', async () => {
      throw new Error('async boom');
    });
    const healthy = new Inbox();
    await bus.subscribe('permissions.changed', healthy.handler);

    await publisher.publish('permissions.changed', { n: 1 });
    await publisher.publish('permissions.changed', { n: 2 });
    assert.deepEqual(await healthy.waitFor(2), [{ n: 1 }, { n: 2 }]);
    await sleep(10); // let the async handler's rejection be reported
    assert.equal(calls, 2, 'the throwing handler keeps receiving');
    assert.equal(reported.length, 4);
    assert.ok(reported.every((r) => r.topic === 'permissions.changed' && r.error instanceof Error));
    assert.deepEqual(reported.map((r) => (r.error as Error).message).sort(), [
      'async boom',
      'async boom',
      'boom 1',
      'boom 2',
    ]);
  });

  it('rejects topics a transport would misread (wildcards, spaces, empty words)', async (t) => {
    const bus = await h.open(t)();
    for (const topic of ['', 'a.*', 'a.>', 'a b', 'a..b', '.a', 'a.']) {
      await assert.rejects(bus.publish(topic, {}), TypeError, topic);
      await assert.rejects(
        bus.subscribe(topic, () => {}),
        TypeError,
        topic,
      );
    }
  });

  it('close() ends subscriptions; a closed bus refuses to publish', async (t) => {
    const world = h.open(t);
    const closing = await world();
    const publisher = await world();
    const closed = new Inbox();
    await closing.subscribe('user.logged_out', closed.handler);
    await closing.close();
    await closing.close();
    await publisher.publish('user.logged_out', { n: 1 });
    await settle(publisher, publisher);
    assert.deepEqual(closed.messages(), []);
    await assert.rejects(closing.publish('user.logged_out', {}), unavailable);
  });

  const { openUnreachable } = h;
  if (openUnreachable !== undefined) {
    it('an unreachable server is ERR_STORE_UNAVAILABLE (503)', async () => {
      await assert.rejects(async () => {
        const bus = await openUnreachable();
        try {
          await bus.ping();
        } finally {
          await bus.close();
        }
      }, unavailable);
    });
  }
}

/** Tracks every bus a test opens and closes them all when it ends. */
function worldOf(t: TestContext, create: (hooks: BusHooks) => Promise<Bus> | Bus): BusWorld {
  return async (hooks = {}) => {
    const bus = await create(hooks);
    t.after(() => bus.close());
    return bus;
  };
}

await describeAdapter('Bus contract: memory', undefined, () => {
  busContract({
    open(t) {
      const hub = createMemoryBusHub();
      return worldOf(t, (hooks) => createMemoryBus({ ...hooks, hub }));
    },
  });
});

await describeAdapter('Bus contract: redis', servers.redis, () => {
  busContract({
    open(t) {
      const channelPrefix = `${uniqueName('gh-test')}:`;
      return worldOf(t, (hooks) => createRedisBus({ ...hooks, url: servers.redis.url, channelPrefix }));
    },
    openUnreachable: () => createRedisBus({ url: unreachableUrl(servers.redis.url) }),
  });
});

await describeAdapter('Bus contract: nats', servers.nats, () => {
  busContract({
    open(t) {
      const subjectPrefix = `${uniqueName('gh-test')}.`;
      return worldOf(t, (hooks) => createNatsBus({ ...hooks, servers: servers.nats.url, subjectPrefix }));
    },
    openUnreachable: () => createNatsBus({ servers: unreachableUrl(servers.nats.url) }),
  });
});
