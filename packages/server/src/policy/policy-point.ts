import type { Bus, Clock, PolicyVersionRecord, Store, Unsubscribe } from '@gatehouse/core';
import { GatehouseError } from '@gatehouse/core';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import {
  batchItems,
  type Evaluation,
  type Evaluations,
  type EvaluationsSemantic,
  type SubjectResolver,
  translateEvaluation,
} from './authzen.js';
import { BASE_SCHEMA } from './base-schema.js';
import type { DecisionQuestion } from './decision-cache.js';
import { DecisionLog } from './decision-log.js';
import { clientEntities, uid, userEntities } from './entities.js';
import { readPolicyDir } from './policy-dir.js';
import { type CedarRequest, type PolicyDecision, PolicyEngine } from './policy-engine.js';
import { PolicyMetrics } from './policy-metrics.js';
import { type CompiledPolicySet, compilePolicySources, type PolicySources } from './policy-set.js';
import { NetworkZones } from './request-context.js';

/** Bus topic announcing a new policy-set version (`{ version }`); instances then load it from the store. */
export const POLICY_CHANGED_TOPIC = 'policy.version_changed';

/** An AuthZEN evaluation response. */
export interface EvaluationAnswer {
  decision: boolean;
  context: {
    /** Why: the determining policies, or what made it a deny without one. */
    reason: string;
    policies: string[];
    errors: string[];
    policy_version: number;
    error?: { status: number; code: string; message: string };
  };
}

export interface PolicyPointOptions {
  /** Policy directory loaded at start (a new version when it differs from the stored one). */
  dir?: string | undefined;
  networks: Readonly<Record<string, readonly string[]>>;
  allowSample: number;
  cacheSize: number;
  /** How often the stored head is checked, in case a bus message was lost. */
  resyncSeconds: number;
}

/**
 * The policy decision point of one instance: the current policy-set version from the store,
 * evaluated in process, kept current over the bus (and a periodic resync, the bus being
 * at-most-once), with every deny and sampled allows in the decision log.
 */
export class PolicyPoint {
  /** The durable store the versions and decisions live in (the admin API reads it). */
  readonly store: Store;
  readonly #bus: Bus;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #options: PolicyPointOptions;
  readonly #engine: PolicyEngine;
  readonly #metrics: PolicyMetrics;
  /** The configured network zones (the gateway builds its contexts with them too). */
  readonly zones: NetworkZones;
  readonly log: DecisionLog;
  #record: PolicyVersionRecord | undefined;
  #unsubscribe: Unsubscribe | undefined;
  #timer: NodeJS.Timeout | undefined;
  #loading: Promise<void> = Promise.resolve();

  constructor(
    deps: { store: Store; bus: Bus; clock: Clock; logger: Logger; registry: Registry; random?: () => number },
    options: PolicyPointOptions,
  ) {
    this.store = deps.store;
    this.#bus = deps.bus;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#options = options;
    this.#engine = new PolicyEngine({ cacheSize: options.cacheSize });
    this.#metrics = new PolicyMetrics(deps.registry);
    this.zones = new NetworkZones(options.networks);
    this.log = new DecisionLog(
      {
        store: deps.store,
        clock: deps.clock,
        logger: deps.logger,
        ...(deps.random && { random: deps.random }),
      },
      { allowSample: options.allowSample },
    );
  }

  /** Loads the stored version (or the directory's, when it differs), then follows changes. */
  async start(): Promise<void> {
    this.#unsubscribe = await this.#bus.subscribe(POLICY_CHANGED_TOPIC, () => void this.resync());
    await this.resync();
    if (this.#options.dir !== undefined) {
      await this.publish(readPolicyDir(this.#options.dir), `config:${this.#options.dir}`);
    }
    if (this.#engine.version < 0)
      this.#engine.load(0, compilePolicySources({ schema: BASE_SCHEMA, policies: {} }));
    this.#timer = setInterval(() => void this.resync(), this.#options.resyncSeconds * 1000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#unsubscribe?.();
    await this.#loading;
    await this.log.flush();
  }

  /** Version in force here (0: nothing stored, everything denied). */
  get version(): number {
    return this.#engine.version;
  }

  /** The version in force with its sources, for SDKs that evaluate locally. */
  current(): { version: number; sources: PolicySources; digest: string } {
    const set = this.#set();
    return { version: this.#engine.version, sources: set.sources, digest: set.digest };
  }

  /**
   * Stores a new version after Cedar validated it, loads it here and announces it. Sources equal
   * to the current version change nothing.
   *
   * @throws GatehouseError `ERR_POLICY_INVALID` / `ERR_POLICY_SCHEMA_INVALID` (400) with
   *   Cedar's message; nothing is stored.
   */
  async publish(
    sources: PolicySources,
    createdBy: string,
  ): Promise<{ record: PolicyVersionRecord; changed: boolean }> {
    const compiled = compilePolicySources(sources);
    for (let attempt = 0; attempt < 8; attempt++) {
      const head = await this.store.policies.current();
      if (head?.digest === compiled.digest) {
        await this.resync();
        return { record: head, changed: false };
      }
      const record: PolicyVersionRecord = {
        version: (head?.version ?? 0) + 1,
        schema: sources.schema,
        policies: sources.policies,
        createdBy,
        createdAt: this.#clock.nowMs(),
        digest: compiled.digest,
      };
      try {
        await this.store.policies.append(record);
      } catch (error) {
        // Another instance stored a version first: chain onto it.
        if (error instanceof GatehouseError && error.code === 'ERR_STORE_CONFLICT') continue;
        throw error;
      }
      this.#apply(record, compiled);
      this.#logger.info(
        { version: record.version, createdBy, policies: Object.keys(compiled.policies).length },
        'policy set stored',
      );
      await this.#bus.publish(POLICY_CHANGED_TOPIC, { version: record.version }).catch((err: unknown) => {
        this.#logger.warn({ err }, 'policy change not announced; other instances resync on their timer');
      });
      return { record, changed: true };
    }
    throw new GatehouseError('ERR_STORE_UNAVAILABLE', 'the policy store is too contended', { status: 503 });
  }

  /** Loads the stored head when it is newer than the version in force; serialized. */
  resync(): Promise<void> {
    this.#loading = this.#loading.then(async () => {
      try {
        const head = await this.store.policies.current();
        if (!head || head.version <= this.#engine.version) return;
        this.#apply(head, compilePolicySources({ schema: head.schema, policies: head.policies }));
        this.#logger.info({ version: head.version }, 'policy set loaded');
      } catch (err) {
        this.#metrics.reloads.inc({ outcome: 'rejected' });
        this.#logger.error({ err }, 'policy set not loaded; the previous version stays');
      }
    });
    return this.#loading;
  }

  /**
   * Decides a Cedar request built by the caller (the gateway), logging and counting it.
   *
   * @throws GatehouseError `ERR_POLICY_REQUEST_INVALID` when it does not fit the schema.
   */
  decide(request: CedarRequest, question: DecisionQuestion | undefined, source: string): PolicyDecision {
    const decision = this.#engine.evaluate(request, question);
    this.#metrics.decisions.inc({
      decision: decision.decision,
      source,
      cached: String(decision.cached),
      evaluator: decision.evaluator,
    });
    if (!decision.cached) this.#metrics.evaluation.observe({ source }, decision.latencyUs / 1e6);
    this.log.record(request, decision, source);
    return decision;
  }

  /** Answers one AuthZEN evaluation; bad input throws a 400 `GatehouseError`. */
  async evaluate(evaluation: Evaluation, source = 'api'): Promise<EvaluationAnswer> {
    const translated = await translateEvaluation(evaluation, {
      set: this.#set(),
      resolve: this.#resolve,
      zones: this.zones,
      nowMs: this.#clock.nowMs(),
    });
    if (!translated) {
      // Still a deny, so still in the decision log (with no policy: nothing was evaluated).
      const type = evaluation.subject.type.toLowerCase() === 'client' ? 'Client' : 'User';
      const unknown: PolicyDecision = {
        decision: 'deny',
        policies: [],
        errors: ['unknown subject: no such user or client'],
        version: this.#engine.version,
        latencyUs: 0,
        cached: false,
        evaluator: 'none',
      };
      const request: CedarRequest = {
        principal: uid(type, evaluation.subject.id),
        action: uid('Action', evaluation.action.name),
        resource: uid(evaluation.resource.type, evaluation.resource.id),
        context: {},
        entities: [],
      };
      this.#metrics.decisions.inc({ decision: 'deny', source, cached: 'false', evaluator: 'none' });
      this.log.record(request, unknown, source);
      return answer(false, 'unknown subject: no such user or client', [], [], this.#engine.version);
    }
    const d = this.decide(translated.request, translated.question, source);
    const reason =
      d.decision === 'allow'
        ? `permitted by ${d.policies.join(', ')}`
        : d.policies.length > 0
          ? `forbidden by ${d.policies.join(', ')}`
          : 'no policy permits this (default deny)';
    return answer(d.decision === 'allow', reason, d.policies, d.errors, d.version);
  }

  /**
   * Answers an AuthZEN batch with its semantics: every item (execute_all), or up to and
   * including the first deny (deny_on_first_deny) or permit (permit_on_first_permit). An item's
   * own bad input is its deny with an `error`, not a failure of the batch.
   */
  async evaluateBatch(request: Evaluations): Promise<{ evaluations: EvaluationAnswer[] }> {
    const items = batchItems(request);
    const semantic: EvaluationsSemantic = request.options?.evaluations_semantic ?? 'execute_all';
    const evaluations: EvaluationAnswer[] = [];
    for (const item of items) {
      let result: EvaluationAnswer;
      try {
        result = await this.evaluate(item);
      } catch (error) {
        if (!(error instanceof GatehouseError) || error.status >= 500) throw error;
        result = answer(false, 'the request is invalid', [], [], this.#engine.version);
        result.context.error = { status: error.status, code: error.code, message: error.message };
      }
      evaluations.push(result);
      if (semantic === 'deny_on_first_deny' && !result.decision) break;
      if (semantic === 'permit_on_first_permit' && result.decision) break;
    }
    return { evaluations };
  }

  readonly #resolve: SubjectResolver = async (type, id) => {
    if (type === 'User') {
      const user = await this.store.users.get(id);
      return user && userEntities(user);
    }
    const client = await this.store.clients.get(id);
    return client && clientEntities(client);
  };

  #set(): CompiledPolicySet {
    const set = this.#engine.policySet;
    if (!set)
      throw new GatehouseError('ERR_POLICY_UNAVAILABLE', 'the policy decision point is starting', {
        status: 503,
      });
    return set;
  }

  #apply(record: PolicyVersionRecord, compiled: CompiledPolicySet): void {
    if (record.version <= this.#engine.version) return;
    this.#engine.load(record.version, compiled);
    this.#record = record;
    this.#metrics.version.set(record.version);
    this.#metrics.reloads.inc({ outcome: 'loaded' });
  }

  /** When the version in force was stored, and by whom. */
  get record(): PolicyVersionRecord | undefined {
    return this.#record;
  }
}

function answer(
  decision: boolean,
  reason: string,
  policies: string[],
  errors: string[],
  version: number,
): EvaluationAnswer {
  return { decision, context: { reason, policies, errors, policy_version: version } };
}
