import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REPLAY_WINDOW_SIZE, ReplayWindow } from './replay.ts';

test('replay window is at least 2000 packets', () => {
  assert.ok(REPLAY_WINDOW_SIZE >= 2000);
});

// The replay sequence the WireGuard reference implementations test their counter filters with
// (T_LIM = window + 1; LIMIT stands in for REJECT_AFTER_MESSAGES, which is not an exact number in JS).
test('replay window: reference vector sequence', () => {
  const T = REPLAY_WINDOW_SIZE + 1;
  const LIMIT = 2 ** 40;
  const steps: [number, boolean][] = [
    [0, true], [1, true], [1, false], [9, true], [8, true], [7, true], [7, false],
    [T, true], [T - 1, true], [T - 1, false], [T - 2, true], [2, true], [2, false],
    [T + 16, true], [3, false], [T + 16, false],
    [T * 4, true], [T * 4 - (T - 1), true], [10, false], [T * 4 - T, false], [T * 4 - (T + 1), false],
    [T * 4 - (T - 2), true], [T * 4 + 1 - T, false], [0, false],
    [LIMIT, false], [LIMIT - 1, true], [LIMIT, false], [LIMIT - 1, false], [LIMIT - 2, true],
    [LIMIT + 1, false], [LIMIT + 2, false], [LIMIT - 2, false], [LIMIT - 3, true], [0, false],
  ];
  const w = new ReplayWindow();
  steps.forEach(([counter, expected], i) => {
    assert.equal(w.accept(counter, LIMIT), expected, `step ${i + 1}: counter ${counter}`);
  });
});

test('replay window: every counter once, in bursts out of order, across many ring turns', () => {
  const w = new ReplayWindow();
  const LIMIT = 2 ** 53;
  for (let base = 0; base < 100_000; base += 64) {
    // deliver a block of 64 in reverse order, then replay it all
    for (let i = 63; i >= 0; i--) assert.equal(w.accept(base + i, LIMIT), true);
    for (let i = 0; i < 64; i++) assert.equal(w.accept(base + i, LIMIT), false);
  }
  // a jump far ahead clears the whole ring: old neighbours are now too old, new ones fresh
  assert.equal(w.accept(10_000_000, LIMIT), true);
  assert.equal(w.accept(10_000_000 - 1, LIMIT), true);
  assert.equal(w.accept(99_999, LIMIT), false);
  assert.equal(w.accept(10_000_000 - REPLAY_WINDOW_SIZE, LIMIT), true);
  assert.equal(w.accept(10_000_000 - REPLAY_WINDOW_SIZE - 1, LIMIT), false);
  // counters near 2^53 still work (block index past 2^32)
  assert.equal(w.accept(2 ** 52 + 5, LIMIT), true);
  assert.equal(w.accept(2 ** 52 + 5, LIMIT), false);
  assert.equal(w.accept(2 ** 52 + 4, LIMIT), true);
  assert.equal(w.accept(Infinity, LIMIT), false);
  w.reset();
  assert.equal(w.accept(0, LIMIT), true);
});
