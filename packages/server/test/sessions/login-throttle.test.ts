/**
 * LoginThrottle under interleavings that a burst of parallel guesses produces. The cache
 * operations are atomic one by one, not as a sequence, so the order between two requests'
 * steps is forced here with a gate.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Cache } from '@gatehouse/core';
import { LoginThrottle } from '../../src/login/login-throttle.js';
import { createMemoryCache } from '../../src/storage/memory-cache.js';

const OPTIONS = { maxAttempts: 5, window: 60, lockout: 30, maxLockout: 900 };

/** A cache whose next `increment` waits until `open()` is called. */
function gatedCache(): { cache: Cache; holdNextIncrement(): { reached: Promise<void>; open(): void } } {
  const inner = createMemoryCache();
  let gate: { reached: () => void; opened: Promise<void> } | undefined;
  const cache: Cache = {
    kind: inner.kind,
    get: (k) => inner.get(k),
    set: (k, v, t) => inner.set(k, v, t),
    setIfAbsent: (k, v, t) => inner.setIfAbsent(k, v, t),
    delete: (k) => inner.delete(k),
    async increment(k, by, t) {
      const held = gate;
      gate = undefined;
      if (held) {
        held.reached();
        await held.opened;
      }
      return inner.increment(k, by, t);
    },
    windowHit: (k, i, w) => inner.windowHit(k, i, w),
    ttl: (k) => inner.ttl(k),
    setAdd: (k, m, t) => inner.setAdd(k, m, t),
    setRemove: (k, m) => inner.setRemove(k, m),
    setHas: (k, m) => inner.setHas(k, m),
    setMembers: (k) => inner.setMembers(k),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
  return {
    cache,
    holdNextIncrement() {
      let reached!: () => void;
      let open!: () => void;
      const reachedPromise = new Promise<void>((resolve) => {
        reached = resolve;
      });
      const opened = new Promise<void>((resolve) => {
        open = resolve;
      });
      gate = { reached, opened };
      return { reached: reachedPromise, open };
    },
  };
}

test('a request that read "not locked" before a racing failure locked the account is still refused', async () => {
  const { cache, holdNextIncrement } = gatedCache();
  const throttle = new LoginThrottle(cache, OPTIONS);
  const keys = throttle.keysFor('victim', '127.0.0.1');
  for (let i = 0; i < OPTIONS.maxAttempts; i++)
    assert.equal(await throttle.reserve(keys), 0, `attempt ${i + 1}`);

  // The racer passes the lock check, then stalls just before counting.
  const gate = holdNextIncrement();
  const racer = throttle.reserve(keys);
  await gate.reached;
  // Meanwhile the five checked guesses fail; the last one locks and clears the count.
  let locked = 0;
  for (let i = 0; i < OPTIONS.maxAttempts; i++) locked = Math.max(locked, await throttle.fail(keys));
  assert.equal(locked, OPTIONS.lockout);
  gate.open();

  // The racer counts 1 in a fresh window, but the lock it missed is read again.
  assert.ok((await racer) > 0, 'the racer is refused');
  assert.ok((await throttle.reserve(keys)) > 0, 'and so is the next attempt');
});

test('a burst of 12 parallel reservations lets at most 5 through, then the key is locked', async () => {
  const throttle = new LoginThrottle(createMemoryCache(), OPTIONS);
  const keys = throttle.keysFor('burst', '127.0.0.2');
  const results = await Promise.all(Array.from({ length: 12 }, () => throttle.reserve(keys)));
  assert.equal(results.filter((r) => r === 0).length, OPTIONS.maxAttempts);
  assert.ok((await throttle.lockedFor(keys)) > 0);
});

test('a success gives the account a fresh count', async () => {
  const throttle = new LoginThrottle(createMemoryCache(), OPTIONS);
  const keys = throttle.keysFor('owner', '127.0.0.3');
  for (let i = 0; i < OPTIONS.maxAttempts - 1; i++) {
    assert.equal(await throttle.reserve(keys), 0);
    assert.equal(await throttle.fail(keys), 0);
  }
  assert.equal(await throttle.reserve(keys), 0);
  await throttle.succeed(keys);
  // From another address, so only the account's count is in play.
  const elsewhere = throttle.keysFor('owner', '127.0.0.4');
  for (let i = 0; i < OPTIONS.maxAttempts - 1; i++) {
    assert.equal(await throttle.reserve(elsewhere), 0, `after success, attempt ${i + 1}`);
    assert.equal(await throttle.fail(elsewhere), 0);
  }
});
