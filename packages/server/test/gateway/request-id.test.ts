/** X-Request-ID as the gateway keeps or makes it (requestIdOf in pipeline/mutate.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newRequestId, requestIdOf } from '../../src/gateway/pipeline/mutate.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('a new request id is a random version-4 UUID, each one different', () => {
  const made = Array.from({ length: 4000 }, () => newRequestId());
  for (const id of made) assert.match(id, UUID_V4);
  assert.equal(new Set(made).size, made.length);
  // Every variant digit turns up: the two random bits under it are not stuck.
  assert.deepEqual(new Set(made.map((id) => id[19])), new Set(['8', '9', 'a', 'b']));
  // Made in one reused buffer: an earlier id must not change when the next one is made.
  const first = newRequestId();
  const copy = `${first}`;
  newRequestId();
  assert.equal(first, copy);
});

test('a valid incoming X-Request-ID is kept; a missing or invalid one is replaced', () => {
  assert.equal(requestIdOf({ 'x-request-id': 'req-123' }), 'req-123');
  assert.equal(requestIdOf({ 'x-request-id': 'a.b:c_d-1' }), 'a.b:c_d-1');
  for (const bad of [undefined, '', 'has space', 'semi;colon', 'x'.repeat(129), 'new\nline']) {
    const id = requestIdOf(bad === undefined ? {} : { 'x-request-id': bad });
    assert.match(id, UUID_V4, String(bad));
  }
});
