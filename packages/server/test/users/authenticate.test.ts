/**
 * Password login checks in the user directory: one answer for every failure, and an argon2id
 * hash made with older parameters replaced by one with the current parameters on success.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hash as argon2Hash } from '@node-rs/argon2';
import { parsePhc } from '../../src/users/password-hasher.js';
import { type InProcessApp, openInProcessApp } from '../support/in-process-app.js';

const PASSWORD = 'correct horse battery staple';
let opened: InProcessApp;

before(async () => {
  opened = await openInProcessApp('authenticate');
});
after(() => opened.close());

test('a hash with older parameters is rehashed with the current ones at the next successful login', async () => {
  const { users } = opened.runtime;
  // argon2id with 4 MiB and 3 passes: weaker than OWASP's 19 MiB / 2 passes in force now.
  const legacy = await argon2Hash(PASSWORD, { algorithm: 2, memoryCost: 4096, timeCost: 3, parallelism: 1 });
  const created = await users.create({ username: 'legacy', password_hash: legacy }, 'test');
  assert.equal((await users.authenticate('legacy', 'wrong password')) ?? null, null);
  assert.equal((await users.get(created.id))?.passwordHash, legacy, 'a failed login changes nothing');
  const user = await users.authenticate('LEGACY', PASSWORD);
  assert.equal(user?.id, created.id, 'usernames match case-insensitively');
  const stored = (await users.get(created.id))?.passwordHash ?? '';
  assert.notEqual(stored, legacy);
  assert.deepEqual(parsePhc(stored)?.params, { memoryCost: 19456, timeCost: 2, parallelism: 1 });
  assert.equal((await users.authenticate('legacy', PASSWORD))?.id, created.id, 'the new hash verifies');
});

test('unknown, passwordless, disabled and control-character usernames all fail the same way', async () => {
  const { users } = opened.runtime;
  await users.create({ username: 'nopass' }, 'test');
  const off = await users.create({ username: 'off', password: PASSWORD }, 'test');
  await users.setDisabled(off.id, true, 'test');
  for (const name of ['nobody', 'nopass', 'off', 'a\u0000b', 'x'.repeat(300)]) {
    assert.equal(await users.authenticate(name, PASSWORD), undefined, name.slice(0, 20));
  }
});
