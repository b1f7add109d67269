/** W3C Trace Context as the gateway passes it upstream (traceparentOf in pipeline/mutate.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { traceparentOf } from '../../src/gateway/pipeline/mutate.js';

const FORMAT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const TRACE = '0af7651916cd43dd8448eb211c80319c';

test('a request without trace context starts a new sampled trace, each with its own ids', () => {
  const made = Array.from({ length: 2000 }, () => traceparentOf({}));
  for (const line of made) assert.match(line, FORMAT);
  assert.equal(new Set(made.map((l) => l.slice(3, 35))).size, made.length, 'trace ids differ');
  assert.equal(new Set(made.map((l) => l.slice(36, 52))).size, made.length, 'span ids differ');
  assert.ok(made.every((l) => l.endsWith('-01')));
  // Made in one reused buffer: an earlier answer must not change when the next one is made.
  const first = traceparentOf({});
  const copy = `${first}`;
  traceparentOf({ traceparent: `00-${TRACE}-b7ad6b7169203331-00` });
  assert.equal(first, copy);
});

test('a valid incoming trace continues with the gateway as the new parent, its flags kept', () => {
  for (const flags of ['01', '00']) {
    const line = traceparentOf({ traceparent: `00-${TRACE}-b7ad6b7169203331-${flags}` });
    const [, trace, span, kept] = FORMAT.exec(line) ?? [];
    assert.equal(trace, TRACE);
    assert.notEqual(span, 'b7ad6b7169203331');
    assert.equal(kept, flags);
  }
});

test('an invalid traceparent is replaced by a new trace, never passed on', () => {
  for (const bad of [
    `ff-${TRACE}-b7ad6b7169203331-01`, // version ff is forbidden
    `00-${'0'.repeat(32)}-b7ad6b7169203331-01`, // all-zero trace id
    `00-${TRACE}-${'0'.repeat(16)}-01`, // all-zero parent id
    `00-${TRACE.toUpperCase()}-b7ad6b7169203331-01`, // upper-case hex
    `00-${TRACE}-b7ad6b7169203331`, // no flags
    'garbage',
  ]) {
    const line = traceparentOf({ traceparent: bad });
    assert.match(line, FORMAT);
    assert.notEqual(line.slice(3, 35), bad.slice(3, 35), bad);
  }
});
