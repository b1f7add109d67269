import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of one Gatehouse instance; a registry per instance, no global state. */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly tokensIssued: Counter<'grant_type'>;
  readonly introspections: Counter<'active'>;
  readonly revocations: Counter<'outcome'>;
  readonly clientAuthFailures: Counter<'method'>;
  readonly signingKeys: Gauge<'state'>;
  readonly readiness: Gauge<'check'>;
  readonly logins: Counter<'outcome'>;
  readonly refreshes: Counter<'outcome'>;
  readonly sessionsEnded: Counter<'reason'>;

  constructor(version: string, options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics !== false)
      collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_' });
    new Gauge({
      name: 'gatehouse_build_info',
      help: 'Build information; the value is always 1.',
      labelNames: ['version', 'node_version'],
      registers,
    }).set({ version, node_version: process.version }, 1);
    this.httpRequestDuration = new Histogram({
      name: 'gatehouse_http_request_duration_seconds',
      help: 'HTTP request duration by route template, method and status.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.tokensIssued = new Counter({
      name: 'gatehouse_tokens_issued_total',
      help: 'Access tokens issued, by grant type.',
      labelNames: ['grant_type'],
      registers,
    });
    this.introspections = new Counter({
      name: 'gatehouse_introspections_total',
      help: 'Token introspections, by whether the token was active.',
      labelNames: ['active'],
      registers,
    });
    this.revocations = new Counter({
      name: 'gatehouse_revocations_total',
      help: 'Revocation requests, by outcome (revoked, unknown, not_owner).',
      labelNames: ['outcome'],
      registers,
    });
    this.clientAuthFailures = new Counter({
      name: 'gatehouse_client_auth_failures_total',
      help: 'Failed client authentications, by method tried.',
      labelNames: ['method'],
      registers,
    });
    this.logins = new Counter({
      name: 'gatehouse_logins_total',
      help: 'Password logins at /auth/login, by outcome (success, failure, throttled).',
      labelNames: ['outcome'],
      registers,
    });
    this.refreshes = new Counter({
      name: 'gatehouse_refreshes_total',
      help: 'Refresh token uses, by outcome (rotated, caught_up, or why refused: unknown, wrong_binding, csrf, revoked, expired, reused).',
      labelNames: ['outcome'],
      registers,
    });
    this.sessionsEnded = new Counter({
      name: 'gatehouse_sessions_ended_total',
      help: 'Refresh families ended, by reason (logout, reuse_detected, password_changed, user_disabled, user_deleted, admin).',
      labelNames: ['reason'],
      registers,
    });
    this.signingKeys = new Gauge({
      name: 'gatehouse_signing_keys',
      help: 'Signing keys by state (next, active, retired).',
      labelNames: ['state'],
      registers,
    });
    this.readiness = new Gauge({
      name: 'gatehouse_readiness_check',
      help: 'Readiness checks of /readyz, evaluated at every scrape: 1 passing (ok or degraded), 0 failing; by check (store, cache, bus, keys, revocations, jwks:<name>).',
      labelNames: ['check'],
      registers,
    });
  }
}
