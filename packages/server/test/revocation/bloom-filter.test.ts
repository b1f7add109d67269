import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RandomIds } from '@gatehouse/core';
import { BloomFilter } from '../../src/revocation/bloom-filter.js';

test('no false negatives, and false positives near the rate it was sized for', () => {
  const ids = new RandomIds();
  const filter = new BloomFilter(100_000, 0.001);
  const added: string[] = [];
  for (let i = 0; i < 100_000; i++) {
    const id = ids.next(16);
    added.push(id);
    filter.add(id);
  }
  for (const id of added) assert.equal(filter.mightContain(id), true);
  let positives = 0;
  const probes = 200_000;
  for (let i = 0; i < probes; i++) if (filter.mightContain(ids.next(16))) positives++;
  const rate = positives / probes;
  assert.ok(rate < 0.002, `false-positive rate ${rate}`);
  assert.equal(filter.count, 100_000);
});

test('sized by the standard formulas: 10 million ids at 0.1 % fit in 18 MB with 10 hashes', () => {
  const filter = new BloomFilter(10_000_000, 0.001);
  assert.equal(filter.hashes, 10);
  assert.ok(filter.byteLength <= 18 * 1024 * 1024, `${filter.byteLength} bytes`);
  assert.throws(() => new BloomFilter(0, 0.01), RangeError);
  assert.throws(() => new BloomFilter(10, 1), RangeError);
});

test('a namespace is hashed as a prefix of the id: the same bits as the joined string, apart from other namespaces', () => {
  const ids = new RandomIds();
  const filter = new BloomFilter(10_000, 0.001);
  const added = Array.from({ length: 1000 }, () => ids.next(16));
  for (const id of added) filter.add(id, 'jti:');
  for (const id of added) {
    assert.equal(filter.mightContain(id, 'jti:'), true);
    assert.equal(filter.mightContain(`jti:${id}`), true, 'namespace + id is the joined string');
  }
  const crossed = added.filter((id) => filter.mightContain(id, 'sid:')).length;
  assert.ok(crossed <= 5, `${crossed} of 1000 ids also seen in another namespace`);
  assert.equal(added.filter((id) => filter.mightContain(id)).length <= 5, true, 'nor without one');
});
