import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { boundChild } from '../internal/bounded-map.js';

type CounterChild = ReturnType<Counter<string>['labels']>;
type HistogramChild = ReturnType<Histogram<string>['labels']>;

/** The gateway's Prometheus series; labels are route ids and closed reason sets only. */
export interface GatewayMetrics {
  requests: Counter<'route' | 'status'>;
  duration: Histogram<'route'>;
  authResults: Counter<'result'>;
  upstreamSeconds: Histogram<'route'>;
  rateLimited: Counter<'route'>;
  circuit: Gauge<'route' | 'target'>;
}

export function gatewayMetrics(registry: Registry): GatewayMetrics {
  const registers = [registry];
  return {
    requests: new Counter({
      name: 'gatehouse_gateway_requests_total',
      help: 'Gateway requests by route id (or unmatched) and answered status.',
      labelNames: ['route', 'status'],
      registers,
    }),
    duration: new Histogram({
      name: 'gatehouse_gateway_request_duration_seconds',
      help: 'Time the gateway spent on a request before forwarding or refusing it, by route.',
      labelNames: ['route'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers,
    }),
    authResults: new Counter({
      name: 'gatehouse_gateway_auth_results_total',
      help: 'Authentication results: accepted_<credential>, a refusal reason, or no_credentials.',
      labelNames: ['result'],
      registers,
    }),
    upstreamSeconds: new Histogram({
      name: 'gatehouse_gateway_upstream_duration_seconds',
      help: 'Upstream response time (to the end of the body), by route.',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
    rateLimited: new Counter({
      name: 'gatehouse_gateway_rate_limited_total',
      help: 'Requests refused by a rate limit, by route.',
      labelNames: ['route'],
      registers,
    }),
    circuit: new Gauge({
      name: 'gatehouse_gateway_circuit_state',
      help: 'Upstream circuit state per route target: 0 closed, 1 half-open, 2 open.',
      labelNames: ['route', 'target'],
      registers,
    }),
  };
}

/**
 * The per-request series with their children bound once per label set: prom-client hashes the
 * label object on every labelled call, which showed in the gateway's profile. Label values are
 * route ids (bounded by the config), statuses and closed reason sets, so the maps stay small.
 */
export class GatewaySeries {
  readonly #metrics: GatewayMetrics;
  readonly #requests = new Map<string, CounterChild>();
  readonly #durations = new Map<string, HistogramChild>();
  readonly #upstream = new Map<string, HistogramChild>();
  readonly #auth = new Map<string, CounterChild>();
  readonly #limited = new Map<string, CounterChild>();

  constructor(metrics: GatewayMetrics) {
    this.#metrics = metrics;
  }

  /** A request answered with `status` after `seconds` in the gateway. */
  finished(route: string, status: number, seconds?: number): void {
    const key = `${route} ${status}`;
    boundChild(this.#requests, key, () => this.#metrics.requests.labels(route, String(status))).inc();
    if (seconds !== undefined) {
      boundChild(this.#durations, route, () => this.#metrics.duration.labels(route)).observe(seconds);
    }
  }

  upstream(route: string, seconds: number): void {
    boundChild(this.#upstream, route, () => this.#metrics.upstreamSeconds.labels(route)).observe(seconds);
  }

  authResult(result: string): void {
    boundChild(this.#auth, result, () => this.#metrics.authResults.labels(result)).inc();
  }

  rateLimited(route: string): void {
    boundChild(this.#limited, route, () => this.#metrics.rateLimited.labels(route)).inc();
  }
}
