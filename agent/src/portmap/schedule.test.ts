import { test } from 'node:test';
import assert from 'node:assert/strict';
import { natpmpSchedule, pcpSchedule, truncateSchedule } from './schedule.ts';

test('schedule: NAT-PMP is 250 ms doubling, 9 sends, 127.75 s in all (RFC 6886 3.1)', () => {
  assert.deepEqual(natpmpSchedule(), { sendAtMs: [0, 250, 750, 1750, 3750, 7750, 15750, 31750, 63750], giveUpAtMs: 127750 });
});

test('schedule: PCP starts at IRT 3 s, doubles, jitter within ±10%, capped at MRT', () => {
  assert.deepEqual(pcpSchedule(() => 0.5, 4), { sendAtMs: [0, 3000, 9000, 21000], giveUpAtMs: 45000 });
  const lo = pcpSchedule(() => 0, 3);
  assert.deepEqual(lo.sendAtMs, [0, 2700, 7560]);
  const capped = pcpSchedule(() => 0.5, 14);
  const gaps = capped.sendAtMs.slice(1).map((t, i) => t - capped.sendAtMs[i]!);
  assert.equal(Math.max(...gaps), 1024_000);
});

test('schedule: truncation keeps the first send and gives up at the budget', () => {
  assert.deepEqual(truncateSchedule(natpmpSchedule(), 2000), { sendAtMs: [0, 250, 750, 1750], giveUpAtMs: 2000 });
  assert.deepEqual(pcpSchedule(() => 0.5, 4, { maxDurationMs: 5000 }), { sendAtMs: [0, 3000], giveUpAtMs: 5000 });
});
