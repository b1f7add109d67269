import type { Bus, BusHandler, BusMessage } from '@gatehouse/core';
import { unavailableError } from './errors.js';

/** Receives the errors a subscriber's handler threw (or rejected with). */
export type HandlerErrorReporter = (error: unknown, topic: string) => void;

/** Options every Bus adapter accepts besides its connection settings. */
export interface BusHooks {
  /** Where handler failures and undecodable messages go; default: console.error. */
  onHandlerError?: HandlerErrorReporter;
}

/** Takes one raw payload off the wire; never throws. */
export type Receiver = (text: string) => void;

/**
 * What differs between buses: moving text from `send` to the receivers `listen` registered.
 * Everything else (topic rules, JSON, handler isolation, close) is in {@link createTransportBus}.
 */
export interface BusTransport {
  send(topic: string, text: string): Promise<void>;
  /**
   * Delivers every payload later sent on `topic` to `receive`; resolves only once the
   * subscription is live at the broker. `fail` takes transport-level subscription errors.
   * Returns how to stop.
   */
  listen(
    topic: string,
    receive: Receiver,
    fail: (error: unknown) => void,
  ): Promise<() => Promise<void> | void>;
  ping(): Promise<void>;
  /** False while the connection is known to be down; absent when the transport cannot tell. */
  connected?(): boolean;
  /** Releases connections; called once, after every subscription stopped. */
  shutdown(): Promise<void>;
}

const reportToConsole: HandlerErrorReporter = (error, topic) => {
  // Only the topic and the error: messages may carry token identifiers.
  console.error(`gatehouse: bus handler for topic "${topic}" failed:`, error);
};

// Dotted words: valid as a NATS subject and a Redis channel, and free of NATS wildcards, so
// the same topic means the same thing on every adapter.
const TOPIC = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Rejects topics that some transport would read differently (wildcards, spaces, empty). */
function assertTopic(topic: string): void {
  if (!TOPIC.test(topic)) throw new TypeError(`invalid bus topic ${JSON.stringify(topic)}`);
}

/** Parses a received payload; only JSON objects are messages. */
function decodeMessage(text: string): BusMessage {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError('bus payload is not a JSON object');
  }
  return value as BusMessage;
}

/**
 * A receiver that decodes the payload and runs the handler, reporting (never throwing) a bad
 * payload, a throw, or a rejection from an async handler. Each handler decodes its own copy,
 * so one handler mutating a message cannot change what another sees.
 */
function receiverFor(topic: string, handler: BusHandler, report: HandlerErrorReporter): Receiver {
  return (text) => {
    try {
      const result: unknown = handler(decodeMessage(text), topic);
      if (result instanceof Promise) result.catch((error: unknown) => report(error, topic));
    } catch (error) {
      report(error, topic);
    }
  };
}

/**
 * Builds a Bus on a transport: the behaviour every adapter shares, so the contract suite
 * checks one implementation of it.
 */
export function createTransportBus(kind: string, transport: BusTransport, hooks: BusHooks): Bus {
  const report = hooks.onHandlerError ?? reportToConsole;
  const active = new Set<() => Promise<void>>();
  let closed = false;

  const assertOpen = () => {
    if (closed) throw unavailableError(`the ${kind} bus (closed)`);
  };

  return {
    kind,
    async publish(topic, message) {
      assertTopic(topic);
      assertOpen();
      await transport.send(topic, JSON.stringify(message));
    },
    async subscribe(topic, handler) {
      assertTopic(topic);
      assertOpen();
      const stop = await transport.listen(topic, receiverFor(topic, handler, report), (error) =>
        report(error, topic),
      );
      let done = false;
      const unsubscribe = async () => {
        if (done) return;
        done = true;
        active.delete(unsubscribe);
        await stop();
      };
      active.add(unsubscribe);
      return unsubscribe;
    },
    async ping() {
      assertOpen();
      await transport.ping();
    },
    connected: () => !closed && (transport.connected?.() ?? true),
    async close() {
      if (closed) return;
      closed = true;
      // Best effort: the connections are going away anyway.
      await Promise.allSettled([...active].map((unsubscribe) => unsubscribe()));
      await transport.shutdown();
    },
  };
}

/** Receivers by topic, for transports that multiplex many subscribers on one subscription. */
export class TopicRegistry {
  private readonly byTopic = new Map<string, Set<Receiver>>();

  /** Adds a receiver; true when it is the topic's first. */
  add(topic: string, receiver: Receiver): boolean {
    const receivers = this.byTopic.get(topic);
    if (receivers !== undefined) {
      receivers.add(receiver);
      return false;
    }
    this.byTopic.set(topic, new Set([receiver]));
    return true;
  }

  /** Removes a receiver; true when the topic has none left. */
  remove(topic: string, receiver: Receiver): boolean {
    const receivers = this.byTopic.get(topic);
    if (receivers === undefined || !receivers.delete(receiver)) return false;
    if (receivers.size > 0) return false;
    this.byTopic.delete(topic);
    return true;
  }

  /** Hands a payload to every receiver of the topic (a snapshot: receivers may unsubscribe). */
  dispatch(topic: string, text: string): void {
    for (const receive of [...(this.byTopic.get(topic) ?? [])]) receive(text);
  }
}
