import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '@gatehouse/core';
import { main } from '../../src/cli/main.js';
import { loadConfig } from '../../src/config/load-config.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const issuesOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.issues;
  }
  assert.fail('expected the config to be rejected');
};

test('no file: the embedded default with derived issuer and data paths', () => {
  const config = loadConfig({ file: null, env: {}, cwd: dir });
  assert.equal(config.storage.store.kind, 'embedded');
  assert.equal(config.issuer, 'http://127.0.0.1:8080');
  assert.equal(config.tokens.access_token_ttl, 900);
  assert.equal(config.keys.algorithm, 'ES256');
  assert.equal(config.example_client, true);
  assert.equal(
    config.storage.store.kind === 'embedded' && config.storage.store.path,
    join(dir, '.data', 'gatehouse.db'),
  );
});

test('a wrong type names the dotted key and what was expected', () => {
  const issues = issuesOf(() => loadConfig({ file: file('a.yaml', 'server:\n  port: "eighty"\n'), env: {} }));
  assert.equal(issues[0]?.path, 'server.port');
  assert.match(issues[0]?.message ?? '', /expected number/);
});

test('an unknown key is an error naming it', () => {
  const issues = issuesOf(() =>
    loadConfig({ file: file('b.yaml', 'tokens:\n  acces_token_ttl: 60\n'), env: {} }),
  );
  assert.equal(issues[0]?.path, 'tokens');
  assert.match(issues[0]?.message ?? '', /acces_token_ttl/);
});

test('client entries are validated: bad digest, bad scope, duplicate id', () => {
  const yaml = [
    'clients:',
    '  - id: a',
    '    secret_digest: plain-secret',
    '  - id: a',
    `    secret_digest: sha256:${'A'.repeat(43)}`,
    '    scopes: ["has space"]',
  ].join('\n');
  const issues = issuesOf(() => loadConfig({ file: file('c.yaml', yaml), env: {} }));
  const paths = issues.map((i) => i.path);
  assert.ok(paths.includes('clients[0].secret_digest'), paths.join());
  assert.ok(paths.includes('clients[1].scopes[0]'), paths.join());
});

test('duplicate client ids are rejected at the second one', () => {
  const digest = `sha256:${'A'.repeat(43)}`;
  const yaml = `clients:\n  - id: a\n    secret_digest: ${digest}\n  - id: a\n    secret_digest: ${digest}\n`;
  const issues = issuesOf(() => loadConfig({ file: file('dup.yaml', yaml), env: {} }));
  assert.equal(issues[0]?.path, 'clients[1].id');
  assert.match(issues[0]?.message ?? '', /duplicate client id/);
});

test('GATEHOUSE_* environment overrides, parsed as YAML scalars', () => {
  const config = loadConfig({
    file: null,
    env: {
      GATEHOUSE_SERVER__PORT: '9090',
      GATEHOUSE_TOKENS__ACCESS_TOKEN_TTL: '300',
      GATEHOUSE_KEK: 'ignored',
    },
    cwd: dir,
  });
  assert.equal(config.server.port, 9090);
  assert.equal(config.issuer, 'http://127.0.0.1:9090');
  assert.equal(config.tokens.access_token_ttl, 300);
});

test('an override that only looks like YAML structure stays text; flow lists are lists', () => {
  const config = loadConfig({
    file: null,
    env: {
      GATEHOUSE_STORAGE__CACHE__KIND: 'redis',
      GATEHOUSE_STORAGE__CACHE__URL: 'redis://127.0.0.1:6379',
      GATEHOUSE_STORAGE__CACHE__KEY_PREFIX: 'gh:',
      GATEHOUSE_POLICY__NETWORKS__INTERNAL: '[10.0.0.0/8, 192.0.2.0/24]',
    },
    cwd: dir,
  });
  assert.equal((config.storage.cache as { key_prefix?: string }).key_prefix, 'gh:');
  assert.deepEqual(config.policy.networks.internal, ['10.0.0.0/8', '192.0.2.0/24']);
});

test('a bad environment override is reported under its config path', () => {
  const issues = issuesOf(() => loadConfig({ file: null, env: { GATEHOUSE_SERVER__PORTT: '1' }, cwd: dir }));
  assert.match(issues[0]?.message ?? '', /portt/);
  const proto = issuesOf(() => loadConfig({ file: null, env: { GATEHOUSE___PROTO____X: '1' }, cwd: dir }));
  assert.match(proto[0]?.message ?? '', /malformed/);
});

test('YAML syntax errors and duplicate keys are rejected', () => {
  const issues = issuesOf(() =>
    loadConfig({ file: file('d.yaml', 'server:\n  port: 1\n  port: 2\n'), env: {} }),
  );
  assert.match(issues[0]?.message ?? '', /not valid YAML/);
});

test('cross-field rule: access_token_ttl must not exceed max_access_token_ttl', () => {
  const issues = issuesOf(() =>
    loadConfig({
      file: file('e.yaml', 'tokens:\n  access_token_ttl: 7200\n  max_access_token_ttl: 3600\n'),
      env: {},
    }),
  );
  assert.equal(issues[0]?.path, 'tokens.access_token_ttl');
});

test('`gatehouse config check` exits 0 for a good file and 2 naming the bad key', async () => {
  const lines: string[] = [];
  const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
  assert.equal(await main(['config', 'check', file('ok.yaml', 'server:\n  port: 8081\n')], io), 0);
  assert.match(lines.join('\n'), /configuration is valid/);
  lines.length = 0;
  assert.equal(await main(['config', 'check', file('bad.yaml', 'keys:\n  algorithm: HS256\n')], io), 2);
  assert.match(lines.join('\n'), /keys\.algorithm/);
});

test('override list indexes are bounded and must index a list', () => {
  const huge = issuesOf(() =>
    loadConfig({ file: null, env: { GATEHOUSE_CLIENTS__4000000000__ID: 'x' }, cwd: dir }),
  );
  assert.equal(huge[0]?.path, 'GATEHOUSE_CLIENTS__4000000000__ID');
  const mapping = file('mapping.yaml', 'server:\n  port: 8081\n');
  const notList = issuesOf(() => loadConfig({ file: mapping, env: { GATEHOUSE_SERVER__0: 'x' } }));
  assert.match(notList[0]?.message ?? '', /cannot index a mapping/);
});

test('the variable named by keys.kek.env is the KEK, not an override', () => {
  const file = join(dir, 'kek-env.yaml');
  writeFileSync(file, 'keys:\n  kek: { source: env, env: GATEHOUSE_MY_KEK }\n');
  const config = loadConfig({ file, env: { GATEHOUSE_MY_KEK: 'ab'.repeat(32) }, cwd: dir });
  assert.equal(config.keys.kek?.source, 'env');
});

test('an issuer with a path is refused: endpoints are served at the root', () => {
  const issues = issuesOf(() =>
    loadConfig({ file: null, env: { GATEHOUSE_ISSUER: 'https://id.example/tenant' }, cwd: dir }),
  );
  assert.equal(issues[0]?.path, 'issuer');
  assert.equal(
    loadConfig({ file: null, env: { GATEHOUSE_ISSUER: 'https://id.example' }, cwd: dir }).issuer,
    'https://id.example',
  );
});
