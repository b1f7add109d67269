export { BatchedVerifier, type SignatureKey } from './batched-verifier.js';
export { generateSigningKey } from './generate-signing-key.js';
export { KeySet } from './key-set.js';
export { publicJwkOf } from './public-jwk.js';
export { RemoteKeySet, type RemoteKeySetOptions, type RemoteKeySetStatus } from './remote-key-set.js';
export { signJwt, signJwtAsync } from './sign.js';
export type {
  JwsAlgorithm,
  JwtHeader,
  JwtPayload,
  KeyResolver,
  PublicJwk,
  SigningAlgorithm,
  SigningKey,
  VerificationKey,
  VerifiedJwt,
  VerifyOptions,
} from './types.js';
export { verificationKeyFromJwk } from './verification-key-from-jwk.js';
export { verifyJwt, verifyJwtAsync } from './verify.js';
export { verifyJwtWithRemote } from './verify-with-remote.js';
