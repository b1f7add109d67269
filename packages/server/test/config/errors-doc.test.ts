import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const root = new URL('../../../../', import.meta.url).pathname;

test('every error code has a row in docs/errors.md', () => {
  const doc = readFileSync(`${root}docs/errors.md`, 'utf8');
  const sources = [
    readFileSync(`${root}packages/core/src/errors.ts`, 'utf8'),
    readFileSync(`${root}packages/server/src/http/oauth-error.ts`, 'utf8'),
    readFileSync(`${root}packages/server/src/runtime.ts`, 'utf8'),
  ].join('\n');
  const codes = new Set(
    sources.match(
      /'(ERR_[A-Z_]+|GH_[A-Z_]+|invalid_request|invalid_client|unauthorized_client|unsupported_grant_type|invalid_scope|invalid_target)'/g,
    ),
  );
  assert.ok(codes.size > 30, `found ${codes.size} codes`);
  const missing = [...codes].map((c) => c.slice(1, -1)).filter((code) => !doc.includes(`| \`${code}\` |`));
  assert.deepEqual(missing, []);
});
