import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedTokenBuckets, TokenBucket } from './ratelimit.ts';

test('keyed buckets: each key its own burst; the least recently used key is forgotten past maxKeys, in O(1)', () => {
  const kb = new KeyedTokenBuckets({ perSec: 1, burst: 2 }, 2);
  assert.deepEqual([kb.take('a', 0), kb.take('a', 0), kb.take('a', 0)], [true, true, false]);
  assert.equal(kb.retryAfterSec('a', 0), 1);
  assert.equal(kb.take('b', 0), true);
  assert.equal(kb.take('a', 0), false, 'a was touched last-but-one: still remembered');
  assert.equal(kb.take('c', 0), true);
  assert.equal(kb.size, 2);
  assert.equal(kb.take('b', 0), true, 'b was the least recent: forgotten, so it starts full again');
  for (let i = 0; i < 10_000; i++) kb.take(`k${i}`, 0);
  assert.equal(kb.size, 2);
});

test('charge overdraws the bucket and says how long to pause until the debt is paid', () => {
  const b = new TokenBucket({ perSec: 1000, burst: 500 }, 0);
  assert.equal(b.charge(400, 0), 0, 'within the burst: no pause');
  assert.equal(b.charge(600, 0), 500, '500 tokens of debt at 1000/s: 500 ms');
  assert.equal(b.charge(0, 500), 0, 'paid back after 500 ms');
  assert.equal(b.charge(100, 500), 100);
  assert.equal(b.level(10_000), 500, 'refills to the burst, never above');
});
