// Minimal ambient types for the untyped packages the benchmark uses (only what it touches).

declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  interface Histogram {
    average: number;
    mean: number;
    stddev: number;
    min: number;
    max: number;
    total: number;
    p50: number;
    p90: number;
    p99: number;
  }

  interface Result {
    duration: number;
    errors: number;
    timeouts: number;
    mismatches: number;
    non2xx: number;
    '2xx': number;
    statusCodeStats: Record<string, { count: number }>;
    requests: Histogram;
    latency: Histogram;
  }

  /** A request as autocannon builds it: the defaults from Options plus what setupRequest returns. */
  interface RequestParams {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
  }

  interface Request {
    setupRequest?: (request: RequestParams, context: Record<string, unknown>) => RequestParams;
    onResponse?: (status: number, body: string, context: Record<string, unknown>) => void;
  }

  /** One connection, as setupClient sees it. */
  interface Client extends EventEmitter {
    setRequests(requests: Request[]): void;
  }

  interface Options {
    url: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    connections?: number;
    pipelining?: number;
    duration?: number;
    maxOverallRequests?: number;
    /** Requests per second over all connections (each connection gets its share per second). */
    overallRate?: number;
    timeout?: number;
    title?: string;
    setupClient?: (client: Client) => void;
  }

  interface Instance extends EventEmitter {
    stop(): void;
  }

  function autocannon(options: Options, callback: (err: Error | null, result: Result) => void): Instance;
  export default autocannon;
  export type { Client, Histogram, Instance, Options, Request, RequestParams, Result };
}

declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  interface ClientModel {
    clientId: string;
  }

  interface GrantModel {
    addResourceScope(resource: string, scope: string): void;
    save(): Promise<string>;
  }

  interface RefreshTokenModel {
    save(): Promise<string>;
  }

  class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    on(event: string, listener: (...args: unknown[]) => void): this;
    readonly Client: { find(id: string): Promise<ClientModel | undefined> };
    readonly Grant: new (properties: {
      accountId: string;
      clientId: string;
    }) => GrantModel;
    readonly RefreshToken: new (
      properties: Record<string, unknown>,
    ) => RefreshTokenModel;
  }
  export default Provider;
}

declare module 'oidc-provider/lib/adapters/memory_adapter.js' {
  /** The bundled development adapter: one LRU store (1000 entries) shared by every model. */
  export function createMemoryAdapter(clockTolerance?: number): (model: string) => unknown;
}
