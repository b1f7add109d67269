/**
 * @gatehouse/server — the Gatehouse program as a library: build a runtime from a validated
 * config, build the HTTP app over it, or run the CLI. The `gatehouse` binary uses the same calls.
 */
export { buildApp } from './app.js';
export { type CliIo, main } from './cli/main.js';
export { type ConfigSource, loadConfig, type ResolvedConfig } from './config/load-config.js';
export { createRuntime, type Runtime, type RuntimeOptions, VERSION } from './runtime.js';
export {
  type BusOptions,
  type CacheOptions,
  createBus,
  createCache,
  createStore,
  type StoreOptions,
} from './storage/index.js';
export { LocalPolicies, type LocalPoliciesOptions } from './policy/local-policies.js';
export { type CedarRequest, type PolicyDecision, PolicyEngine } from './policy/policy-engine.js';
export { type CompiledPolicySet, compilePolicySources, type PolicySources } from './policy/policy-set.js';
