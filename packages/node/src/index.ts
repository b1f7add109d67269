/**
 * `@gatehouse/node`: what a Node service behind the Gatehouse gateway needs. Verify the
 * internal token ({@link ServiceVerifier}), check scopes ({@link assertScopes}), keep a copy of
 * the revocation fabric ({@link RevocationFeed}), and call other services as itself or as the
 * user ({@link ServiceClient}). Framework adapters: `@gatehouse/node/express`, `/fastify`, `/http`.
 */
export { CircuitBreaker, type CircuitBreakerOptions, type CircuitState } from '@gatehouse/core';
export { AccessError } from './errors.js';
export type { GatehouseEndpoint } from './gatehouse-endpoint.js';
export { type ActorClaim, identityOf, type ServiceIdentity } from './identity.js';
export {
  authorize,
  type EvaluationAnswer,
  type EvaluationRequest,
  localDecider,
  type PolicyDecider,
  RemotePolicies,
  type RemotePoliciesOptions,
  subjectOf,
} from './policies.js';
export { assertScopes } from './require-scopes.js';
export { type RevocableClaims, RevocationFeed, type RevocationFeedOptions } from './revocation-feed.js';
export { type CallOptions, ServiceClient, type ServiceClientOptions } from './service-client.js';
export {
  ACCESS_TOKEN_TYP,
  INTERNAL_TOKEN_TYP,
  ServiceVerifier,
  type ServiceVerifierOptions,
} from './service-verifier.js';
