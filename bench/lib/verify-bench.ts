import { createPublicKey, verify } from 'node:crypto';
import {
  generateSigningKey,
  KeySet,
  type SigningAlgorithm,
  signJwt,
  type VerifyOptions,
  verificationKeyFromJwk,
  verifyJwt,
} from '@gatehouse/core';
import { importJWK, jwtVerify } from 'jose';
import type { Settings } from './settings.js';

export interface VerifyFigures {
  alg: SigningAlgorithm;
  /** Median round, operations per second. */
  raw: number;
  verifyJwt: number;
  jose: number;
  tokenBytes: number;
}

const ISSUER = 'https://id.bench';
const AUDIENCE = 'https://api.bench';

/** Runs `fn` in batches of 100 for `seconds`; operations per second. */
function syncOpsPerSecond(fn: () => unknown, seconds: number): number {
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let ops = 0;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 100; i++) fn();
    ops += 100;
    now = process.hrtime.bigint();
  }
  return ops / (Number(now - start) / 1e9);
}

/** Awaits `fn` one call at a time for `seconds`; operations per second. */
async function asyncOpsPerSecond(fn: () => Promise<unknown>, seconds: number): Promise<number> {
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let ops = 0;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 20; i++) await fn();
    ops += 20;
    now = process.hrtime.bigint();
  }
  return ops / (Number(now - start) / 1e9);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Raw node:crypto verify() of the JWS signing input vs `verifyJwt` (full checks) vs jose
 * `jwtVerify` (async WebCrypto), interleaved per round so machine drift hits all alike.
 */
export async function benchVerify(alg: SigningAlgorithm, settings: Settings): Promise<VerifyFigures> {
  const { signingKey, publicJwk } = generateSigningKey(alg);
  const now = Math.floor(Date.now() / 1000);
  const token = signJwt(
    { typ: 'at+jwt' },
    {
      iss: ISSUER,
      aud: AUDIENCE,
      sub: 'bench',
      client_id: 'bench',
      scope: 'read',
      iat: now,
      exp: now + 3000,
      jti: 'bench-0001',
    },
    signingKey,
  );
  const keys = KeySet.fromKeys([verificationKeyFromJwk(publicJwk)]);
  const options: VerifyOptions = {
    issuer: ISSUER,
    audience: AUDIENCE,
    typ: 'at+jwt',
    maxLifetimeSeconds: 3600,
  };

  // Raw baseline: the same signing input and signature, Buffers and KeyObject prepared once.
  const dot = token.lastIndexOf('.');
  const data = Buffer.from(token.slice(0, dot));
  const signature = Buffer.from(token.slice(dot + 1), 'base64url');
  const key = createPublicKey({ key: { ...publicJwk }, format: 'jwk' });
  const hash = alg === 'EdDSA' ? null : 'sha256';
  const input = alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' as const } : key;
  const raw = () => verify(hash, data, input, signature);
  const ours = () => verifyJwt(token, keys, options);

  const joseKey = await importJWK({ ...publicJwk }, alg);
  const joseOptions = { issuer: ISSUER, audience: AUDIENCE, typ: 'at+jwt', algorithms: [alg] };
  const viaJose = () => jwtVerify(token, joseKey, joseOptions);

  // Everything must verify before anything is timed.
  if (!raw()) throw new Error(`${alg}: raw baseline does not verify`);
  ours();
  await viaJose();

  // Warm-up: let the JIT settle on all three paths.
  const warm = Math.min(settings.verifyRound, 0.3);
  syncOpsPerSecond(raw, warm);
  syncOpsPerSecond(ours, warm);
  await asyncOpsPerSecond(viaJose, warm);

  const rounds = { raw: [] as number[], ours: [] as number[], jose: [] as number[] };
  for (let round = 0; round < settings.verifyRounds; round++) {
    process.stderr.write(`  verify ${alg}: round ${round + 1}/${settings.verifyRounds}\n`);
    rounds.raw.push(syncOpsPerSecond(raw, settings.verifyRound));
    rounds.ours.push(syncOpsPerSecond(ours, settings.verifyRound));
    rounds.jose.push(await asyncOpsPerSecond(viaJose, settings.verifyRound));
  }
  return {
    alg,
    raw: median(rounds.raw),
    verifyJwt: median(rounds.ours),
    jose: median(rounds.jose),
    tokenBytes: token.length,
  };
}
