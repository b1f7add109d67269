import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, GatehouseError } from '@gatehouse/core';
import { type Algorithm, hash as argon2Hash } from '@node-rs/argon2';
import {
  checkPasswordPolicy,
  OWASP_ARGON2ID,
  PasswordHasher,
  parsePhc,
} from '../../src/users/password-hasher.js';

// Cheap parameters keep the suite fast where cost is not what a test is about.
const CHEAP = { memoryCost: 64, timeCost: 1, parallelism: 1 };
const cheap = new PasswordHasher(CHEAP);
const PASSWORD = 'correct horse battery staple';

describe('PasswordHasher', () => {
  test('defaults to the OWASP argon2id recommendation (m=19456 KiB, t=2, p=1)', async () => {
    const hasher = new PasswordHasher();
    assert.deepEqual({ ...hasher.params }, { memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    assert.deepEqual({ ...OWASP_ARGON2ID }, { memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    const stored = await hasher.hash(PASSWORD);
    assert.match(stored, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  });

  test('hash then verify round-trips; a fresh salt makes each hash different', async () => {
    const a = await cheap.hash(PASSWORD);
    const b = await cheap.hash(PASSWORD);
    assert.notEqual(a, b);
    assert.equal(await cheap.verify(a, PASSWORD), true);
    assert.equal(await cheap.verify(b, PASSWORD), true);
    assert.match(a, /^\$argon2id\$v=19\$m=64,t=1,p=1\$/);
  });

  test('a wrong password does not verify', async () => {
    const stored = await cheap.hash(PASSWORD);
    assert.equal(await cheap.verify(stored, 'correct horse battery stapler'), false);
    assert.equal(await cheap.verify(stored, PASSWORD.toUpperCase()), false);
    assert.equal(await cheap.verify(stored, ''), false);
  });

  test('verify answers false, never throws, for malformed stored hashes', async () => {
    const good = await cheap.hash(PASSWORD);
    const malformed = [
      '',
      'garbage',
      good.slice(0, -10),
      good.replace('$v=19', ''),
      good.replace('m=64', 'm=064'),
      good.replace('argon2id', 'argon2x'),
      `${good}$extra`,
      '$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy',
      '$argon2id$v=19$m=64,t=1,p=1$!!!!$!!!!',
      'x'.repeat(100_000),
    ];
    for (const stored of malformed) {
      assert.equal(await cheap.verify(stored, PASSWORD), false, `for ${JSON.stringify(stored.slice(0, 40))}`);
    }
  });

  test('verify refuses a password over 256 code points without hashing it', async () => {
    const stored = await cheap.hash(PASSWORD);
    assert.equal(await cheap.verify(stored, 'a'.repeat(257)), false);
    assert.equal(await cheap.verify(stored, 'a'.repeat(10_000_000)), false);
  });

  test('needsRehash: true for other parameters or algorithm, false for the configured ones', async () => {
    const defaults = new PasswordHasher();
    const cheapHash = await cheap.hash(PASSWORD);
    assert.equal(defaults.needsRehash(cheapHash), true);
    assert.equal(cheap.needsRehash(cheapHash), false);

    const sameAsDefault = cheapHash.replace('m=64,t=1,p=1', 'm=19456,t=2,p=1');
    assert.equal(defaults.needsRehash(sameAsDefault), false);
    for (const params of ['m=19456,t=3,p=1', 'm=19455,t=2,p=1', 'm=19456,t=2,p=2']) {
      assert.equal(defaults.needsRehash(cheapHash.replace('m=64,t=1,p=1', params)), true, params);
    }

    // argon2i with the very same cost is still a different algorithm.
    const argon2i = await argon2Hash(PASSWORD, { ...CHEAP, algorithm: 1 as Algorithm });
    assert.match(argon2i, /^\$argon2i\$/);
    assert.equal(cheap.needsRehash(argon2i), true);
    assert.equal(
      await cheap.verify(argon2i, PASSWORD),
      true,
      'old algorithms still verify, then get rehashed',
    );

    assert.equal(cheap.needsRehash(cheapHash.replace('v=19', 'v=16')), true);
    assert.equal(cheap.needsRehash('not a hash'), true);
  });

  test('verifyDummy resolves false, even for the password the dummy might have been', async () => {
    assert.equal(await cheap.verifyDummy(PASSWORD), false);
    assert.equal(await cheap.verifyDummy(''), false);
    assert.equal(await cheap.verifyDummy('a'.repeat(300)), false);
  });

  test('verifyDummy costs about as much as a real verify', async () => {
    // Expensive enough (~10 ms) that scheduling noise is small next to the hash.
    const hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 3, parallelism: 1 });
    const stored = await hasher.hash(PASSWORD);
    await hasher.verifyDummy(PASSWORD); // waits for the construction-time hash
    // Interleaved, and the fastest of each kept: other suites share the CPU, and load only ever
    // adds time, so the minimums are the fairest comparison.
    const elapsed = async (run: () => Promise<unknown>) => {
      const start = process.hrtime.bigint();
      await run();
      return Number(process.hrtime.bigint() - start);
    };
    let real = Number.POSITIVE_INFINITY;
    let dummy = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 9; i++) {
      real = Math.min(real, await elapsed(() => hasher.verify(stored, 'wrong password!')));
      dummy = Math.min(dummy, await elapsed(() => hasher.verifyDummy('wrong password!')));
    }
    const ratio = dummy / real;
    assert.ok(ratio > 0.5 && ratio < 2, `dummy/real = ${ratio.toFixed(2)}`);
  });

  test('hash refuses a password that fails the policy, without echoing it', async () => {
    await assert.rejects(cheap.hash('hunter2'), (error: unknown) => {
      assert.ok(error instanceof GatehouseError);
      assert.equal(error.code, 'ERR_PASSWORD_POLICY');
      assert.equal(error.status, 400);
      assert.ok(!error.message.includes('hunter2'));
      return true;
    });
    await assert.rejects(cheap.hash('x'.repeat(257)), { code: 'ERR_PASSWORD_POLICY' });
  });

  test('bad cost parameters fail at construction with the key name', () => {
    assert.throws(
      () => new PasswordHasher({ memoryCost: 7 }),
      (error: unknown) => error instanceof ConfigError && error.issues[0]?.path === 'memoryCost',
    );
    assert.throws(() => new PasswordHasher({ timeCost: 0 }), /timeCost/);
    assert.throws(() => new PasswordHasher({ parallelism: 1.5 }), /parallelism/);
    assert.throws(() => new PasswordHasher({ parallelism: 4, memoryCost: 16 }), /memoryCost/);
  });
});

describe('parsePhc', () => {
  test('reads algorithm, version, parameters and lengths', async () => {
    const stored = await cheap.hash(PASSWORD);
    assert.deepEqual(parsePhc(stored), {
      algorithm: 'argon2id',
      version: 19,
      params: CHEAP,
      saltBytes: 16,
      hashBytes: 32,
    });
  });

  test('refuses malformed strings', () => {
    for (const bad of [
      '',
      '$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ',
      '$argon2id$v=19$m=64,t=1$c2FsdHNhbHQ$aGFzaGhhc2g',
      '$argon2id$v=19$m=64,t=1,p=1,keyid=x$c2FsdHNhbHQ$aGFzaGhhc2g',
      '$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ=$aGFzaGhhc2g',
      '$argon2id$v=19$m=4,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g',
      // 13 base64 characters (1 mod 4) decode to no whole byte string
      '$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2gxY',
    ]) {
      assert.equal(parsePhc(bad), undefined, bad);
    }
  });
});

describe('checkPasswordPolicy', () => {
  const ok = { ok: true };
  test('length counts Unicode code points, 8 to 256', () => {
    assert.deepEqual(checkPasswordPolicy('abcdefg'), { ok: false, reason: 'must be at least 8 characters' });
    assert.deepEqual(checkPasswordPolicy('abcdefgh'), ok);
    // Seven emoji are 14 UTF-16 units but 7 characters.
    assert.equal('😀'.repeat(7).length, 14);
    assert.deepEqual(checkPasswordPolicy('😀'.repeat(7)), {
      ok: false,
      reason: 'must be at least 8 characters',
    });
    assert.deepEqual(checkPasswordPolicy('😀'.repeat(8)), ok);
    assert.deepEqual(checkPasswordPolicy('a'.repeat(256)), ok);
    assert.deepEqual(checkPasswordPolicy('a'.repeat(257)), {
      ok: false,
      reason: 'must be at most 256 characters',
    });
    assert.deepEqual(checkPasswordPolicy('😀'.repeat(256)), ok);
    assert.deepEqual(checkPasswordPolicy('😀'.repeat(257)), {
      ok: false,
      reason: 'must be at most 256 characters',
    });
    assert.equal(checkPasswordPolicy('a'.repeat(5_000_000)).ok, false);
  });

  test('refuses all-whitespace, allows spaces inside; no composition rules', () => {
    const whitespace = { ok: false, reason: 'must not be only whitespace' };
    assert.deepEqual(checkPasswordPolicy('        '), whitespace);
    assert.deepEqual(checkPasswordPolicy(' \t\n\r\u3000\u00a0  '), whitespace);
    assert.deepEqual(checkPasswordPolicy('  correct horse  '), ok);
    assert.deepEqual(checkPasswordPolicy('aaaaaaaa'), ok);
    assert.deepEqual(checkPasswordPolicy('пароль-пароль'), ok);
  });

  test('refuses unpaired surrogates, which would collide after UTF-8 encoding', () => {
    assert.deepEqual(checkPasswordPolicy('abcdefgh\ud800'), {
      ok: false,
      reason: 'must be valid Unicode text',
    });
  });
});
