import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkNatpmpEpoch, checkPcpEpoch } from './epoch.ts';

test('epoch: NAT-PMP accepts 7/8 of elapsed time minus 2 s, flags less (RFC 6886 3.6)', () => {
  const prev = { epochSec: 1000, atMs: 0 };
  assert.deepEqual(checkNatpmpEpoch(undefined, 5, 0), { ok: true });
  assert.deepEqual(checkNatpmpEpoch(prev, 1100, 100_000), { ok: true });
  // expected 1000 + 87.5 = 1087.5; more than 2 s below is a reset
  assert.deepEqual(checkNatpmpEpoch(prev, 1086, 100_000), { ok: true });
  assert.deepEqual(checkNatpmpEpoch(prev, 1085, 100_000), { ok: false, reason: 'too-slow' });
  assert.deepEqual(checkNatpmpEpoch(prev, 3, 100_000), { ok: false, reason: 'went-back' });
});

test('epoch: PCP tolerates 1 s of going back, flags more, and clocks running too slow or fast (RFC 6887 8.5)', () => {
  const prev = { epochSec: 1000, atMs: 0 };
  assert.deepEqual(checkPcpEpoch(prev, 999, 0), { ok: true });
  assert.deepEqual(checkPcpEpoch(prev, 998, 0), { ok: false, reason: 'went-back' });
  assert.deepEqual(checkPcpEpoch(prev, 1100, 100_000), { ok: true });
  assert.deepEqual(checkPcpEpoch(prev, 1090, 100_000), { ok: false, reason: 'too-slow' });
  assert.deepEqual(checkPcpEpoch(prev, 1200, 100_000), { ok: false, reason: 'too-fast' });
});
