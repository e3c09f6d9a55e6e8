import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseState, restore, snapshot } from './state.ts';
import { announceOffsetsMs, announcementSchedule } from './announce.ts';
import { Epoch } from './epoch.ts';
import type { Mapping } from './table.ts';

const M: Mapping = { id: 'udp-10-0-0-2-5000', via: 'pmp', client: '10.0.0.2', transport: 'udp', internalAddress: '10.0.0.2', internalPort: 5000, externalPort: 5000, lifetimeSec: 600, expiresAtMs: 600_000 };

test('state snapshot/restore carries remaining lifetimes and the epoch across the downtime', () => {
  const s = snapshot({ mappings: [M, { ...M, id: 'b', internalPort: 5001, expiresAtMs: 20_000 }], epochSec: 100, nowMs: 10_000, wallNowMs: 1_000_000, clean: true, externalAddress: '203.0.113.1', backend: 'memory' });
  assert.deepEqual(s.mappings.map((m) => m.remainingSec), [590, 10]);
  const r = restore(parseState(JSON.stringify(s)), 5_000, 1_030_000);
  assert.equal(r.epochSec, 130);
  assert.deepEqual(r.mappings.map((m) => [m.id, m.expiresAtMs]), [['udp-10-0-0-2-5000', 5_000 + 560_000]]);
});

test('state files that are not ours are CG_STATE_CORRUPT, never a crash', () => {
  for (const text of ['', 'null', '[]', '{"version":2}', '{"version":1,"clean":true,"epochSec":1,"savedAtWallMs":1,"backend":"x","mappings":[{"id":1}]}']) {
    assert.throws(() => parseState(text), { code: 'CG_STATE_CORRUPT' }, text);
  }
});

test('epoch counts seconds, resets to 0, continues from a base', () => {
  const e = new Epoch(1000, 50);
  assert.equal(e.sec(1000), 50);
  assert.equal(e.sec(3999), 52);
  e.reset(4000);
  assert.equal(e.sec(4500), 0);
});

test('announcement schedule: 10 sends per group, 250 ms doubling (RFC 6886 3.2.1)', () => {
  assert.deepEqual(announceOffsetsMs(), [0, 250, 750, 1750, 3750, 7750, 15750, 31750, 63750, 127750]);
  const s = announcementSchedule(100, { ipv6: true });
  assert.equal(s.length, 30);
  assert.deepEqual(s.slice(0, 3), [
    { atMs: 100, protocol: 'pmp', group: '224.0.0.1', port: 5350 },
    { atMs: 100, protocol: 'pcp', group: '224.0.0.1', port: 5350 },
    { atMs: 100, protocol: 'pcp', group: 'ff02::1', port: 5350 },
  ]);
});
