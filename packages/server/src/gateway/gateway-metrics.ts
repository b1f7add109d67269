import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

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
