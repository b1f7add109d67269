import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { CLIENT_BINDING } from '../../src/sessions/refresh-families.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-users-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'kek'), randomBytes(32).toString('hex'), { mode: 0o600 });
const configFile = join(dir, 'gatehouse.yaml');
writeFileSync(configFile, `data_dir: ${dir}\nkeys:\n  kek: { source: file, path: ${join(dir, 'kek')} }\n`);

async function run(args: string[], stdin = ''): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['--config', configFile, ...args], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    readStdin: async () => stdin,
  });
  return { code, out, err };
}

/** The same runtime the CLI builds, for checking what a command did. */
async function withRuntime(fn: (runtime: Runtime) => Promise<void>): Promise<void> {
  const runtime = await createRuntime(
    { ...loadConfig({ file: configFile, env: {} }), log: { level: 'silent' } },
    { defaultMetrics: false },
  );
  try {
    await fn(runtime);
  } finally {
    await runtime.close();
  }
}

const HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXphYmNkZWY';

test('users create / passwd / disable / enable / delete; passwords only from stdin, never echoed', async () => {
  const created = await run(
    ['users', 'create', 'Alice', '--roles', 'admin,support', '--password-stdin'],
    'correct horse battery\n',
  );
  assert.equal(created.code, 0, created.err.join('\n'));
  const { user } = JSON.parse(created.out[0] ?? '{}') as {
    user: { id: string; roles: string[]; has_password: boolean };
  };
  assert.deepEqual(user.roles, ['admin', 'support']);
  assert.equal(user.has_password, true);
  assert.ok(!created.out.join('').includes('correct horse'), 'the password is never printed');

  const weak = await run(['users', 'create', 'bob', '--password-stdin'], 'short\n');
  assert.equal(weak.code, 1);
  assert.match(weak.err.join('\n'), /ERR_REQUEST_INVALID.*password/);

  const dup = await run(['users', 'create', 'ALICE']);
  assert.equal(dup.code, 1, 'usernames are unique case-insensitively');
  assert.match(dup.err.join('\n'), /ERR_STORE_CONFLICT/);

  assert.equal((await run(['users', 'passwd', user.id], 'another long passphrase')).code, 0);
  assert.equal((await run(['users', 'passwd', user.id], 'tiny')).code, 1);
  assert.equal((await run(['users', 'disable', user.id])).code, 0);
  assert.match(
    (await run(['users', 'list'])).out.join('\n'),
    new RegExp(`${user.id}\\tAlice\\tdisabled\\troles=admin,support`),
  );
  assert.equal((await run(['users', 'enable', user.id])).code, 0);
  assert.equal((await run(['users', 'delete', user.id])).code, 0);
  assert.equal((await run(['users', 'delete', user.id])).code, 1);
});

test('users import: CSV with progress, per-row errors without stopping, audited, chain intact', async () => {
  const lines = ['username,password_hash,roles,groups,attr.tenant,disabled'];
  for (let i = 0; i < 250; i++) lines.push(`user${i},"${HASH}",reader;writer,staff,acme,false`);
  lines.push('bad name,,,,,false'); // invalid username
  lines.push(`user7,"${HASH}",,,,false`); // duplicate in the file
  lines.push('withpass,,,,,false'); // no password: allowed (cannot log in with a password)
  const file = join(dir, 'users.csv');
  writeFileSync(file, `${lines.join('\r\n')}\r\n`);

  const result = await run(['users', 'import', file]);
  assert.equal(result.code, 1, 'some rows were refused');
  assert.ok(
    result.err.some((l) => /^import: 100\/251 rows$/.test(l)),
    result.err.join('\n'),
  );
  assert.ok(
    result.err.some((l) => /^import: 251\/251 rows$/.test(l)),
    'final progress line',
  );
  assert.match(result.out.join('\n'), /row 251\tusername\t/);
  assert.match(result.out.join('\n'), /row 252\tusername\t.*duplicate|row 252\t.*username/);
  assert.match(result.out.at(-1) ?? '', /^imported 251 users; 2 rows refused$/);

  const listed = (await run(['users', 'list'])).out;
  assert.equal(listed.length, 251);
  assert.ok(listed.some((l) => /\tuser42\tenabled\troles=reader,writer$/.test(l)));

  const verify = await run(['audit', 'verify']);
  assert.equal(verify.code, 0, verify.out.join('\n'));
  assert.match(verify.out.join('\n'), /intact/);
});

test("users sessions / logout: list a user's live sessions and end them all", async () => {
  const created = await run(['users', 'create', 'sessiony', '--password-stdin'], 'correct horse battery\n');
  const { user } = JSON.parse(created.out[0] ?? '{}') as { user: { id: string } };
  // Two logins through the same machinery the HTTP login uses.
  await withRuntime(async (runtime) => {
    const record = await runtime.users.authenticate('sessiony', 'correct horse battery');
    assert.ok(record);
    await runtime.sessions.start(record, CLIENT_BINDING);
    await runtime.sessions.start(record, CLIENT_BINDING);
  });
  const listed = await run(['users', 'sessions', user.id]);
  assert.equal(listed.code, 0, listed.err.join('\n'));
  const { sessions } = JSON.parse(listed.out[0] ?? '{}') as { sessions: { kind: string }[] };
  assert.deepEqual(
    sessions.map((s) => s.kind),
    ['native', 'native'],
  );
  const out = await run(['users', 'logout', user.id]);
  assert.equal(out.code, 0, out.err.join('\n'));
  assert.equal(out.out[0], `ended 2 sessions of ${user.id}`);
  assert.deepEqual(JSON.parse((await run(['users', 'sessions', user.id])).out[0] ?? '{}'), { sessions: [] });
  assert.equal((await run(['users', 'logout', 'usr_nobody'])).code, 1);
});

test('revoke token / session / subject / client from the CLI, durable before it answers', async () => {
  for (const [kind, value] of [
    ['token', 'jti-from-cli'],
    ['session', 'fam_unknown'],
    ['subject', 'usr_cli'],
    ['client', 'svc-cli'],
  ] as const) {
    const res = await run(['revoke', kind, value]);
    assert.equal(res.code, 0, res.err.join('\n'));
    assert.match(res.out[0] ?? '', new RegExp(`^revoked ${kind} ${value} \\(seq \\d+\\)$`));
  }
  const bad = await run(['revoke', 'everything', 'x']);
  assert.equal(bad.code, 1);
  assert.match(bad.err.join('\n'), /ERR_REQUEST_INVALID/);
  await withRuntime(async (runtime) => {
    assert.equal(await runtime.revocations.isRevoked('jti-from-cli'), true);
    assert.equal(await runtime.revocations.isTokenRevoked({ jti: 'x', sub: 'usr_cli', iat: 1 }), true);
  });
});
