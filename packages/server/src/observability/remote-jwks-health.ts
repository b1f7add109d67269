import type { RemoteKeySet } from '@gatehouse/core';
import { Gauge, type Registry } from 'prom-client';

/**
 * The remote JWKS this instance trusts (other issuers' keys, used by the gateway and SDK
 * roles), reported in `/readyz` and `/metrics`. A key set that cannot be refreshed keeps serving
 * its bounded last-known-good keys: that is `degraded` but still ready; once it is older than
 * its maximum staleness it serves nothing and the instance is not ready.
 */
export class RemoteJwksHealth {
  readonly #sets = new Map<string, RemoteKeySet>();

  constructor(registry: Registry) {
    const sets = this.#sets;
    const gauge = (name: string, help: string, value: (set: RemoteKeySet) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['jwks'],
        registers: [registry],
        collect() {
          this.reset();
          for (const [label, set] of sets) this.set({ jwks: label }, value(set));
        },
      });
    gauge('gatehouse_jwks_keys', 'Keys held for each remote JWKS.', (s) => s.status().keys);
    gauge(
      'gatehouse_jwks_last_success_timestamp_seconds',
      'When each remote JWKS was last fetched successfully (0 = never).',
      (s) => (s.status().lastSuccessMs ?? 0) / 1000,
    );
    gauge(
      'gatehouse_jwks_last_known_good',
      '1 while a remote JWKS serves its last-known-good keys after a failed refresh.',
      (s) => (s.status().usingLastKnownGood ? 1 : 0),
    );
    gauge(
      'gatehouse_jwks_stale',
      '1 when a remote JWKS is older than its maximum staleness and serves no key.',
      (s) => (s.status().stale ? 1 : 0),
    );
  }

  /** Starts reporting a key set under `name` (a bounded label: the issuer's name, never a raw URL from a request). */
  register(name: string, keys: RemoteKeySet): void {
    this.#sets.set(name, keys);
  }

  /** Readiness entries: `ok`, `degraded` (last-known-good) or `failing` (stale). */
  checks(): Record<string, 'ok' | 'degraded' | 'failing'> {
    const out: Record<string, 'ok' | 'degraded' | 'failing'> = {};
    for (const [name, set] of this.#sets) {
      const status = set.status();
      out[`jwks:${name}`] = status.stale ? 'failing' : status.usingLastKnownGood ? 'degraded' : 'ok';
    }
    return out;
  }
}
