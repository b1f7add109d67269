/**
 * The event bus port: at-most-once publish/subscribe of JSON messages by topic. Consumers that
 * need every event must resync from the durable store (the bus is an accelerator, not a log).
 */
export type BusMessage = Record<string, unknown>;

export type BusHandler = (message: BusMessage, topic: string) => void;

/** Stops a subscription; safe to call twice. */
export type Unsubscribe = () => Promise<void>;

export interface Bus {
  readonly kind: string;
  publish(topic: string, message: BusMessage): Promise<void>;
  /** Handler errors are caught and reported by the adapter, never thrown into the transport. */
  subscribe(topic: string, handler: BusHandler): Promise<Unsubscribe>;
  ping(): Promise<void>;
  /**
   * False while the transport is known to be cut off (a dropped connection, reconnecting), when
   * the adapter can tell at once; consumers that trust pushes then stop trusting them.
   */
  connected?(): boolean;
  close(): Promise<void>;
}
