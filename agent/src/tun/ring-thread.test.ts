import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { koffiPath } from './libc.ts';
import { RingThread, threadModeFrom, type ThreadMode } from './ring-thread.ts';
import { createWriteRing, ringConsumerSource, ringPush, type WriteRing } from './write-ring.ts';

/** A consumer that takes every packet and fails the ones whose first byte is 0xff. */
const SOURCE = ringConsumerSource('const { data, slotBytes } = ring;', 'data[slot * slotBytes] !== 0xff');

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function harness(mode: ThreadMode, idleStopMs = 60_000) {
  const counts = { failed: 0, errors: 0, created: 0 };
  const t = new RingThread<WriteRing>(
    mode,
    {
      create: () => {
        counts.created++;
        const ring = createWriteRing(16, 64);
        return { ring, worker: new Worker(SOURCE, { eval: true, workerData: { koffiPath: koffiPath(), libcName: 'libc.so.6', ring, waitMs: 20 } }) };
      },
      onFailed: (n) => (counts.failed += n),
      onError: () => counts.errors++,
    },
    { startPackets: 8, windowMs: 60_000, idleStopMs },
  );
  return { t, counts };
}

describe('RingThread (on-demand consumer thread)', () => {
  it("'auto': no thread for a trickle; packets come fast -> the thread starts, the ring is handed out once it is ready", async () => {
    const { t, counts } = harness('auto');
    try {
      t.noteMain(7);
      assert.equal(t.running, false);
      assert.equal(t.ring, undefined);
      t.noteMain();
      assert.equal(t.running, true);
      await until('ready', () => t.ring !== undefined);
      const ring = t.ring!;
      assert.ok(ringPush(ring, Uint8Array.of(1, 2)));
      assert.ok(ringPush(ring, Uint8Array.of(0xff)));
      t.wake();
      await until('the failure report', () => counts.failed === 1);
      assert.equal(Atomics.load(ring.ctrl, 1), 2, 'both packets consumed');
      assert.equal(counts.created, 1);
    } finally {
      await t.close();
    }
  });

  it("'auto': an idle thread is stopped, producers fall back, and load starts a new one", async () => {
    const { t, counts } = harness('auto', 100);
    try {
      t.noteMain(8);
      await until('ready', () => t.ring !== undefined);
      ringPush(t.ring!, Uint8Array.of(1));
      t.wake();
      await until('stopped when idle', () => !t.running, 10_000);
      assert.equal(t.ring, undefined);
      t.noteMain(8);
      await until('ready again', () => t.ring !== undefined);
      assert.equal(counts.created, 2);
      assert.equal(counts.errors, 0);
    } finally {
      await t.close();
    }
  });

  it("'thread' starts at once and is never stopped for idleness; 'main' never starts; close() is idempotent", async () => {
    const th = harness('thread', 50);
    const main = harness('main');
    try {
      assert.equal(th.t.running, true);
      await until('ready', () => th.t.ring !== undefined);
      await new Promise((r) => setTimeout(r, 300)); // several idle periods: a bound of the negative claim, not a timing assertion
      assert.equal(th.t.running, true);
      main.t.noteMain(1000);
      assert.equal(main.t.running, false);
    } finally {
      await th.t.close();
      await th.t.close();
      await main.t.close();
    }
    assert.equal(th.t.running, false);
  });

  it('close() while the worker is still starting ends it', async () => {
    const { t } = harness('thread');
    await t.close();
    assert.equal(t.running, false);
  });

  it('threadModeFrom: the environment picks a mode, anything else is the default', () => {
    assert.equal(threadModeFrom('main'), 'main');
    assert.equal(threadModeFrom('thread'), 'thread');
    assert.equal(threadModeFrom(undefined), 'auto');
    assert.equal(threadModeFrom('bogus', 'thread'), 'thread');
  });
});
