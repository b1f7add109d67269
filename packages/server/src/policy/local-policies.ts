import { type Bus, GatehouseError, type Unsubscribe } from '@gatehouse/core';
import { type Evaluation, evaluationSchema, translateEvaluation } from './authzen.js';
import { describedSubjects } from './described-subjects.js';
import { parseInput, policyError } from './policy-errors.js';
import { type PolicyDecision, PolicyEngine } from './policy-engine.js';
import { compilePolicySources } from './policy-set.js';
import { NetworkZones } from './request-context.js';

/** Bus topic Gatehouse announces new policy-set versions on (same as the server's). */
const POLICY_CHANGED_TOPIC = 'policy.version_changed';

export interface LocalPoliciesOptions {
  /** Base URL of the Gatehouse policy decision point, e.g. `https://auth.example.com`. */
  url: string;
  /** An access token with scope `gatehouse:authz`; called per fetch so it can be refreshed. */
  token: () => string | Promise<string>;
  /** The bus Gatehouse announces new versions on; without one, call {@link LocalPolicies.refresh}. */
  bus?: Bus;
  /** Network zones for `context.network.zone`, as in the server's `policy.networks`. */
  networks?: Record<string, string[]>;
  cacheSize?: number;
  fetch?: typeof fetch;
  /** Time source (ms since the epoch) for `context.time`. */
  now?: () => number;
}

/**
 * Decides in process, with the central policies: pulls the current policy set from Gatehouse
 * (`GET /access/v1/policies/current`) and pulls again whenever Gatehouse announces a new
 * version on the bus. Subjects are described by the request (`subject.properties`: roles,
 * groups, attributes of the caller's token), so no round trip is needed per decision. Kept free
 * of server internals: it is the core of the Node SDK's local mode.
 *
 * @example
 * ```ts
 * const policies = new LocalPolicies({ url: 'https://auth.example.com', token: () => serviceToken, bus });
 * await policies.start();
 * const { decision } = await policies.evaluate({
 *   subject: { type: 'user', id: 'alice', properties: { roles: ['editor'] } },
 *   action: { name: 'write' },
 *   resource: { type: 'Document', id: 'd1' },
 *   context: { ip: '10.1.2.3' },
 * });
 * ```
 */
export class LocalPolicies {
  readonly #options: LocalPoliciesOptions;
  readonly #engine: PolicyEngine;
  readonly #zones: NetworkZones;
  #unsubscribe: Unsubscribe | undefined;
  #refreshing: Promise<void> = Promise.resolve();

  constructor(options: LocalPoliciesOptions) {
    this.#options = options;
    this.#engine = new PolicyEngine({ cacheSize: options.cacheSize ?? 10_000 });
    this.#zones = new NetworkZones(options.networks ?? {});
  }

  /** Version of the policy set in force here; -1 before the first successful pull. */
  get version(): number {
    return this.#engine.version;
  }

  /**
   * Pulls the current policy set and follows announcements.
   *
   * @throws GatehouseError `ERR_POLICY_UNAVAILABLE` when the first pull fails.
   */
  async start(): Promise<void> {
    await this.refresh();
    this.#unsubscribe = await this.#options.bus?.subscribe(POLICY_CHANGED_TOPIC, (message) => {
      if (typeof message.version === 'number' && message.version > this.#engine.version)
        void this.refresh().catch(() => undefined);
    });
  }

  async stop(): Promise<void> {
    await this.#unsubscribe?.();
    await this.#refreshing.catch(() => undefined);
  }

  /** Pulls the policy set now (serialized); keeps the old one when the pull fails. */
  refresh(): Promise<void> {
    this.#refreshing = this.#refreshing.catch(() => undefined).then(() => this.#pull());
    return this.#refreshing;
  }

  /**
   * Decides one AuthZEN-shaped request locally.
   *
   * @throws GatehouseError `ERR_POLICY_REQUEST_INVALID` for a request that does not fit.
   */
  async evaluate(request: Evaluation): Promise<PolicyDecision> {
    const set = this.#engine.policySet;
    if (!set) throw policyError('ERR_POLICY_UNAVAILABLE', 'no policy set pulled yet: call start()');
    const evaluation = parseInput(evaluationSchema, request, 'the request does not match the AuthZEN schema');
    const translated = await translateEvaluation(evaluation, {
      set,
      resolve: describedSubjects,
      zones: this.#zones,
      nowMs: (this.#options.now ?? Date.now)(),
    });
    if (!translated) throw policyError('ERR_POLICY_REQUEST_INVALID', 'the subject cannot be described');
    return this.#engine.evaluate(translated.request, translated.question);
  }

  async #pull(): Promise<void> {
    const doFetch = this.#options.fetch ?? fetch;
    let body: { version?: unknown; schema?: unknown; policies?: unknown };
    try {
      const res = await doFetch(new URL('/access/v1/policies/current', this.#options.url), {
        headers: { authorization: `Bearer ${await this.#options.token()}`, accept: 'application/json' },
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      body = (await res.json()) as typeof body;
    } catch (error) {
      throw new GatehouseError(
        'ERR_POLICY_UNAVAILABLE',
        `policy set not fetched: ${(error as Error).message}`,
        {
          status: 503,
          cause: error,
        },
      );
    }
    const { version, schema, policies } = body;
    if (
      typeof version !== 'number' ||
      typeof schema !== 'string' ||
      typeof policies !== 'object' ||
      policies === null
    ) {
      throw new GatehouseError(
        'ERR_POLICY_UNAVAILABLE',
        'the policy set answer is not { version, schema, policies }',
        {
          status: 503,
        },
      );
    }
    if (version <= this.#engine.version) return;
    // Validated again here: a service never runs a policy set its own Cedar does not accept.
    this.#engine.load(
      version,
      compilePolicySources({ schema, policies: policies as Record<string, string> }),
    );
  }
}
