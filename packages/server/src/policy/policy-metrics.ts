import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The PDP's metrics; labels are bounded (outcome, source, cached, evaluator). */
export class PolicyMetrics {
  readonly decisions: Counter<'decision' | 'source' | 'cached' | 'evaluator'>;
  readonly evaluation: Histogram<'source'>;
  readonly version: Gauge;
  readonly reloads: Counter<'outcome'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.decisions = new Counter({
      name: 'gatehouse_policy_decisions_total',
      help: 'Policy decisions, by decision (allow, deny), source (api, gateway), whether the cache answered, and evaluator (in-process: the policy set compiled to JavaScript; cedar: deferred to cedar-wasm; none).',
      labelNames: ['decision', 'source', 'cached', 'evaluator'],
      registers,
    });
    this.evaluation = new Histogram({
      name: 'gatehouse_policy_evaluation_seconds',
      help: 'Time to evaluate one request against the policy set (cache misses), by source.',
      labelNames: ['source'],
      buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01],
      registers,
    });
    this.version = new Gauge({
      name: 'gatehouse_policy_version',
      help: 'Version of the policy set this instance evaluates.',
      registers,
    });
    this.reloads = new Counter({
      name: 'gatehouse_policy_reloads_total',
      help: 'Policy set loads, by outcome (loaded, rejected: the previous version stays).',
      labelNames: ['outcome'],
      registers,
    });
  }
}
