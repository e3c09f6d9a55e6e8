import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from './clock.ts';

test('FakeClock fires timers in time order, including timers armed by timers', () => {
  const clock = new FakeClock(1000);
  const fired: string[] = [];
  clock.setTimer(300, () => fired.push(`b@${clock.nowMs()}`));
  clock.setTimer(100, () => {
    fired.push(`a@${clock.nowMs()}`);
    clock.setTimer(50, () => fired.push(`c@${clock.nowMs()}`));
  });
  const cancel = clock.setTimer(200, () => fired.push('cancelled'));
  cancel();
  clock.advance(250);
  assert.deepEqual(fired, ['a@1100', 'c@1150']);
  assert.equal(clock.nowMs(), 1250);
  clock.advance(50);
  assert.deepEqual(fired, ['a@1100', 'c@1150', 'b@1300']);
  assert.equal(clock.pendingTimers(), 0);
});

test('FakeClock keeps creation order for timers due at the same time', () => {
  const clock = new FakeClock();
  const fired: number[] = [];
  for (let i = 0; i < 5; i++) clock.setTimer(10, () => fired.push(i));
  clock.advance(10);
  assert.deepEqual(fired, [0, 1, 2, 3, 4]);
});
