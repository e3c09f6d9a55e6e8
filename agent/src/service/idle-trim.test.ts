import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../clock/clock.ts';
import { exposedGc, idleTrimComponent, TRIM_EVERY_MS } from './idle-trim.ts';

test('the idle trim runs a scavenge every TRIM_EVERY_MS and leaves no timer after stop', async () => {
  const clock = new FakeClock();
  const calls: unknown[] = [];
  const c = idleTrimComponent({ clock, gc: (o) => calls.push(o) });
  await c.start();
  await c.start();
  clock.advance(TRIM_EVERY_MS - 1);
  assert.equal(calls.length, 0);
  clock.advance(1);
  clock.advance(TRIM_EVERY_MS);
  assert.deepEqual(calls, [{ type: 'minor' }, { type: 'minor' }]);
  assert.equal((c.status?.() as { trims: number }).trims, 2);
  await c.stop();
  assert.equal(clock.pendingTimers(), 0);
});

test('without a collector the trim arms nothing; status still reports memory', async () => {
  const clock = new FakeClock();
  const c = idleTrimComponent({ clock, gc: null });
  await c.start();
  assert.equal(clock.pendingTimers(), 0);
  const st = c.status?.() as { rssMb: number; gc: boolean };
  assert.equal(st.gc, false);
  assert.ok(st.rssMb > 0);
  await c.stop();
});

test('this runtime hands out gc() through a fresh context, and not into our global scope', () => {
  const gc = exposedGc();
  assert.equal(typeof gc, 'function');
  gc!({ type: 'minor' });
  assert.equal((globalThis as { gc?: unknown }).gc, undefined);
});
