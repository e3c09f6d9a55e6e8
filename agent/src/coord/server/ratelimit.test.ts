import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBuckets } from './ratelimit.ts';

test('a burst is admitted, the next request refused, and one token returns after 1/perSec', () => {
  const tb = new TokenBuckets({ burst: 3, perSec: 2, maxKeys: 10 });
  assert.deepEqual([1, 2, 3, 4].map(() => tb.take('192.0.2.1', 0)), [true, true, true, false]);
  assert.equal(tb.retryAfterSec('192.0.2.1', 0), 1);
  assert.equal(tb.take('192.0.2.1', 499), false);
  assert.equal(tb.take('192.0.2.1', 1000), true);
  // another address has its own bucket
  assert.equal(tb.take('198.51.100.1', 0), true);
});

test('the table never grows past maxKeys', () => {
  const tb = new TokenBuckets({ burst: 1, perSec: 1, maxKeys: 100 });
  for (let i = 0; i < 10_000; i++) tb.take(`k${i}`, 0);
  assert.equal(tb.size, 100);
});

test('a clock going backwards does not mint tokens', () => {
  const tb = new TokenBuckets({ burst: 1, perSec: 1, maxKeys: 10 });
  assert.equal(tb.take('a', 10_000), true);
  assert.equal(tb.take('a', 0), false);
});
