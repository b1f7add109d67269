import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { parse } from 'yaml';
import { main } from '../../src/cli/main.js';
import { digestSecret } from '../../src/clients/client-secrets.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'kek'), randomBytes(32).toString('hex'), { mode: 0o600 });
const configFile = join(dir, 'gatehouse.yaml');
writeFileSync(configFile, `data_dir: ${dir}\nkeys:\n  kek: { source: file, path: ${join(dir, 'kek')} }\n`);

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['--config', configFile, ...args], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test('clients create / list / reset-secret / delete against the store', async () => {
  const created = await run(
    'clients',
    'create',
    'billing',
    '--scopes',
    'invoices:read invoices:write',
    '--opaque',
  );
  assert.equal(created.code, 0, created.err);
  const body = JSON.parse(created.out) as {
    client: { client_id: string; scopes: string[]; access_token_format: string };
    client_secret: string;
  };
  assert.equal(body.client.client_id, 'billing');
  assert.deepEqual(body.client.scopes, ['invoices:read', 'invoices:write']);
  assert.equal(body.client.access_token_format, 'opaque');
  assert.match(body.client_secret, /^[\w-]{43}$/);

  const listed = await run('clients', 'list');
  assert.match(listed.out, /^billing\tapi\tscopes=invoices:read invoices:write\tformat=opaque$/m);

  const reset = await run('clients', 'reset-secret', 'billing');
  const { client_secret: next } = JSON.parse(reset.out) as { client_secret: string };
  assert.notEqual(next, body.client_secret);

  assert.equal((await run('clients', 'create', 'billing')).code, 1, 'duplicate id refused');
  assert.equal((await run('clients', 'delete', 'billing')).code, 0);
  const missing = await run('clients', 'delete', 'billing');
  assert.equal(missing.code, 1);
  assert.match(missing.err, /ERR_STORE_NOT_FOUND/);
});

test('clients create --print-config prints a digest (never stored) that config check accepts', async () => {
  const printed = await run('clients', 'create', 'orders', '--scopes', 'a', '--print-config');
  assert.equal(printed.code, 0);
  const secret = /client_secret \(shown once[^)]*\): (\S+)/.exec(printed.out)?.[1];
  assert.ok(secret);
  const yamlText = printed.out.split('\n').slice(1).join('\n');
  const entry = (parse(yamlText) as { clients: { id: string; secret_digest: string }[] }).clients[0];
  assert.equal(entry?.secret_digest, digestSecret(secret));
  const file = join(dir, 'with-client.yaml');
  writeFileSync(file, yamlText);
  assert.equal(await main(['config', 'check', file], { out: () => {}, err: () => {} }), 0);
  assert.doesNotMatch((await run('clients', 'list')).out, /orders/, 'print-config writes nothing');
});

test('keys rotate publishes a new key; keys list shows both; bad delay is refused', async () => {
  assert.equal((await run('keys', 'list')).out.split('\n').length, 1);
  const rotated = await run('keys', 'rotate', '--activation-delay', '120');
  assert.equal(rotated.code, 0, rotated.err);
  assert.match(rotated.out, /published key [\w-]+ \(ES256\); it signs from /);
  const listed = (await run('keys', 'list')).out.split('\n');
  assert.equal(listed.length, 2);
  assert.ok(listed.some((l) => l.includes('\tactive\t')));
  assert.ok(listed.some((l) => l.includes('\tnext\t')));
  const bad = await run('keys', 'rotate', '--activation-delay', '-5');
  assert.equal(bad.code, 1);
  assert.match(bad.err, /activation-delay/);
});

test('a wrong key-encryption key refuses to start instead of serving unsigned', async () => {
  const other = join(dir, 'other.yaml');
  writeFileSync(join(dir, 'kek2'), randomBytes(32).toString('hex'));
  writeFileSync(other, `data_dir: ${dir}\nkeys:\n  kek: { source: file, path: ${join(dir, 'kek2')} }\n`);
  const err: string[] = [];
  const code = await main(['--config', other, 'keys', 'list'], { out: () => {}, err: (l) => err.push(l) });
  assert.equal(code, 1);
  assert.match(err.join('\n'), /ERR_KEY_DECRYPT_FAILED/);
});

test('audit verify: CLI changes are audited; an edited row is reported with its sequence number', async () => {
  const intact = await run('audit', 'verify');
  assert.equal(intact.code, 0, intact.out + intact.err);
  const count = Number(/intact: (\d+) entries/.exec(intact.out)?.[1]);
  assert.ok(count >= 4, `client create, reset, delete and key rotation are audited (saw ${count})`);

  const db = new Database(join(dir, 'gatehouse.db'));
  const row = db
    .prepare("select seq from audit_log where action = 'client.deleted' order by seq limit 1")
    .get() as { seq: number } | undefined;
  assert.ok(row, 'the delete was audited');
  db.prepare("update audit_log set actor = 'admin:nobody' where seq = ?").run(row.seq);
  db.close();

  const tampered = await run('audit', 'verify');
  assert.equal(tampered.code, 1);
  assert.match(tampered.out, new RegExp(`TAMPERED: entry ${row.seq} altered`));
});
