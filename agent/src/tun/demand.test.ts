import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DemandMeter, idleSince } from './demand.ts';

describe('DemandMeter', () => {
  const policy = { startPackets: 4, windowMs: 100, idleStopMs: 1000 };

  it('asks for the thread once a window holds startPackets', () => {
    const m = new DemandMeter(policy);
    assert.deepEqual([0, 10, 20].map((t) => m.note(t)), [false, false, false]);
    assert.equal(m.note(30), true);
  });

  it('a slow stream (keepalives, handshakes) never starts it', () => {
    const m = new DemandMeter(policy);
    for (let t = 0; t < 10_000; t += 40) assert.equal(m.note(t), false, `at ${t} ms`);
  });

  it('counts batches and starts over after reset()', () => {
    const m = new DemandMeter(policy);
    assert.equal(m.note(0, 4), true);
    m.reset();
    assert.equal(m.note(1, 3), false);
    assert.equal(m.note(150, 3), false, 'a new window');
  });

  it('idleSince: only an unchanged head over a whole period is idle', () => {
    assert.equal(idleSince(undefined, 0), false);
    assert.equal(idleSince(5, 6), false);
    assert.equal(idleSince(6, 6), true);
  });
});
