import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configJsonSchema, configReferenceMarkdown } from '../../src/config/config-reference.js';

const root = new URL('../../../../', import.meta.url).pathname;

test('docs/config.schema.json is generated from the current schema (npm run gen:docs)', () => {
  const committed = JSON.parse(readFileSync(`${root}docs/config.schema.json`, 'utf8')) as unknown;
  assert.deepEqual(committed, JSON.parse(JSON.stringify(configJsonSchema())));
});

test('docs/configuration.md is generated from the current schema and lists every key', () => {
  const committed = readFileSync(`${root}docs/configuration.md`, 'utf8');
  assert.equal(committed, configReferenceMarkdown());
  for (const key of [
    'server.port',
    'storage.store.url',
    'keys.kek.env',
    'tokens.access_token_ttl',
    'clients[].secret_digest',
  ]) {
    assert.ok(committed.includes(`\`${key}\``), key);
  }
});
