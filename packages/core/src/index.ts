export { type Clock, epochSeconds, ManualClock, systemClock } from './clock.js';
export {
  type ClientConfig,
  type ConfigInput,
  clientConfigSchema,
  configSchema,
  type GatehouseConfig,
  isResourceIndicator,
  resourceIndicator,
} from './config/schema.js';
export {
  ConfigError,
  type ErrorCode,
  GatehouseError,
  type GatehouseErrorOptions,
  JwtError,
} from './errors.js';
export { RandomIds } from './ids.js';
export {
  generateSigningKey,
  type JwsAlgorithm,
  type JwtHeader,
  type JwtPayload,
  KeySet,
  type KeyResolver,
  type PublicJwk,
  publicJwkOf,
  RemoteKeySet,
  type RemoteKeySetOptions,
  type RemoteKeySetStatus,
  type SigningAlgorithm,
  type SigningKey,
  signJwt,
  signJwtAsync,
  type VerificationKey,
  type VerifiedJwt,
  type VerifyOptions,
  verificationKeyFromJwk,
  verifyJwt,
  verifyJwtWithRemote,
} from './jwt/index.js';
export type { Bus, BusHandler, BusMessage, Unsubscribe } from './ports/bus.js';
export type { Cache } from './ports/cache.js';
export type {
  AccessTokenFormat,
  AuditEntry,
  AuditRecord,
  AuditRepository,
  ClientPatch,
  ClientRecord,
  ClientRepository,
  OpaqueTokenRecord,
  RevokedTokenRecord,
  SigningKeyRecord,
  SigningKeyRepository,
  SigningKeyState,
  Store,
  TokenRepository,
  UserPatch,
  UserRecord,
  UserRepository,
} from './ports/store.js';
