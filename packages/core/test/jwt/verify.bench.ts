/**
 * Microbenchmark: raw node:crypto verify() vs verifyJwt() for the same ES256 token.
 * Run: node --import tsx packages/core/test/jwt/verify.bench.ts [seconds-per-round]
 * Not a test file (no .test.ts): numbers depend on the machine and its load.
 */
import { verify } from 'node:crypto';
import { ManualClock } from '../../src/clock.js';
import { generateSigningKey } from '../../src/jwt/generate-signing-key.js';
import { KeySet } from '../../src/jwt/key-set.js';
import { signJwt } from '../../src/jwt/sign.js';
import type { SigningAlgorithm, VerifyOptions } from '../../src/jwt/types.js';
import { verifyJwt } from '../../src/jwt/verify.js';

const seconds = Number(process.argv[2] ?? 2);
const algs = (process.argv[3]?.split(',') ?? ['ES256']) as SigningAlgorithm[];

/** Runs `fn` in a tight loop for `seconds` and returns operations per second. */
function opsPerSecond(fn: () => unknown): number {
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  let ops = 0;
  while (process.hrtime.bigint() < deadline) {
    for (let i = 0; i < 100; i++) fn();
    ops += 100;
  }
  return ops / seconds;
}

for (const alg of algs) {
  const { signingKey, publicJwk } = generateSigningKey(alg);
  const keys = KeySet.fromJwks({ keys: [publicJwk] });
  const now = 1_700_000_000;
  const token = signJwt(
    { typ: 'at+jwt' },
    {
      iss: 'https://id.example',
      aud: 'api',
      sub: 'user-123',
      scope: 'read write',
      iat: now,
      exp: now + 600,
      jti: 'b1e7f0c2',
    },
    signingKey,
  );
  const options: VerifyOptions = {
    issuer: 'https://id.example',
    audience: 'api',
    typ: 'at+jwt',
    maxLifetimeSeconds: 3600,
    clock: new ManualClock(now * 1000),
  };
  // Raw baseline: the same bytes, Buffers prepared outside the loop, the same KeyObject.
  const dot = token.lastIndexOf('.');
  const data = Buffer.from(token.slice(0, dot));
  const signature = Buffer.from(token.slice(dot + 1), 'base64url');
  const key = keys.resolve(signingKey.kid)!.key;
  const hash = alg === 'EdDSA' ? null : 'sha256';
  const input = alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' as const } : key;
  if (!verify(hash, data, input, signature)) throw new Error('baseline does not verify');
  verifyJwt(token, keys, options);

  const rounds: { raw: number; ours: number; ratio: number }[] = [];
  for (let round = 0; round < 5; round++) {
    // Interleaved, and compared round by round, so drift in machine load hits both sides alike.
    const raw = opsPerSecond(() => verify(hash, data, input, signature));
    const ours = opsPerSecond(() => verifyJwt(token, keys, options));
    rounds.push({ raw, ours, ratio: ours / raw });
  }
  const median = rounds.map((r) => r.ratio).sort((a, b) => a - b)[2]!;
  const best = (pick: (r: { raw: number; ours: number }) => number) =>
    Math.round(Math.max(...rounds.map(pick)));
  console.log(
    `${alg}: raw crypto.verify ${best((r) => r.raw)} ops/s, verifyJwt ${best((r) => r.ours)} ops/s (best of 5); ` +
      `median round ratio ${median.toFixed(3)} (token ${token.length} B)`,
  );
}
