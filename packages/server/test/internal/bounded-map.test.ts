import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeRoom } from '../../src/internal/bounded-map.js';

test('makeRoom keeps a map under its limit by dropping the oldest tenth, newest kept', () => {
  const map = new Map<number, number>();
  for (let i = 0; i < 1000; i++) {
    makeRoom(map, 100);
    map.set(i, i);
    assert.ok(map.size <= 100);
  }
  assert.equal(map.has(999), true, 'the newest stays');
  assert.equal(map.has(0), false, 'the oldest went');
  const small = new Map([[1, 1]]);
  makeRoom(small, 10);
  assert.equal(small.size, 1, 'below the limit nothing is dropped');
});

test('steady churn stays linear: a million inserts through a 10,000-entry map', () => {
  const map = new Map<string, number>();
  for (let i = 0; i < 1_000_000; i++) {
    makeRoom(map, 10_000);
    map.set(`k${i}`, i);
  }
  assert.ok(map.size <= 10_000);
});
