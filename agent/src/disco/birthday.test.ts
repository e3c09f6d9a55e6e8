// The easy side's probe pacing, as data: the budget and at most 200 probes in any second.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BIRTHDAY_MAX_PROBES, BIRTHDAY_MAX_RATE_PER_SEC, nextProbeMs, probesDue, recordProbe, startEasySide, type BirthdayState } from './birthday.ts';

/** Runs the pacing with wakes at `wakes` (ms after the probe start); returns each probe's send time. */
function pace(wakes: number[]): number[] {
  const st: BirthdayState = { attempts: 0 };
  const { attempt: a } = startEasySide(st, '203.0.113.9', { address: '198.51.100.1', port: 41641 }, 0);
  a.probeStartMs = 100;
  const sent: number[] = [];
  for (const w of wakes) {
    const now = 100 + w;
    for (let n = probesDue(a, now); n > 0; n--) {
      recordProbe(a, now);
      sent.push(now);
    }
  }
  return sent;
}

const peak = (times: number[]) => times.reduce((m, t, i) => Math.max(m, times.filter((u, j) => j >= i && u - t < 1000).length), 0);

test('pacing: wakes on time give 200 a second up to the budget of 1,024', () => {
  const st: BirthdayState = { attempts: 0 };
  const { attempt: a } = startEasySide(st, '203.0.113.9', { address: '198.51.100.1', port: 41641 }, 0);
  const sent: number[] = [];
  for (let w = nextProbeMs(a); w !== undefined; w = nextProbeMs(a)) {
    for (let n = probesDue(a, w); n > 0; n--) {
      recordProbe(a, w);
      sent.push(w);
    }
  }
  assert.equal(sent.length, BIRTHDAY_MAX_PROBES);
  assert.equal(peak(sent), BIRTHDAY_MAX_RATE_PER_SEC);
});

test('pacing: a late first wake, or a stalled event loop catching up, never sends more than 200 in a second', () => {
  // First wake 1 ms late, then on the 5 ms grid: the window starting at the first probe must not hold 201.
  const late = pace([1, ...Array.from({ length: 400 }, (_, i) => 5 * (i + 1))]);
  assert.ok(peak(late) <= 200, `late first wake: ${peak(late)} in a second`);
  // Nothing for 3 s (a busy machine), then wakes every millisecond: no burst of 600 owed probes.
  const stalled = pace([0, 3_000, ...Array.from({ length: 3_000 }, (_, i) => 3_001 + i)]);
  assert.ok(peak(stalled) <= 200, `after a stall: ${peak(stalled)} in a second`);
  assert.ok(stalled.length > 400, 'it still catches up within the rate');
});
