import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RandomIds } from '../../src/ids.js';

test('RandomIds hands out distinct base64url ids of the asked size across refills', () => {
  const ids = new RandomIds(64);
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = ids.next(16);
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    seen.add(id);
  }
  assert.equal(seen.size, 1000);
  assert.match(ids.next(32), /^[A-Za-z0-9_-]{43}$/);
  assert.throws(() => ids.next(65), RangeError);
});
