import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffMs } from './backoff.ts';

test('back-off doubles from 1 s to a 60 s cap with jitter in the upper half', () => {
  assert.deepEqual([0, 1, 2, 3, 6, 7, 50].map((a) => backoffMs(a, 0)), [500, 1000, 2000, 4000, 30000, 30000, 30000]);
  assert.deepEqual([0, 1, 6, 50].map((a) => backoffMs(a, 0.999999)), [1000, 2000, 60000, 60000]);
});
