import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOLD_MAX, HOLD_MS, HeldPackets } from './held.ts';
import type { Via } from './types.ts';

const relay: Via[] = [{ kind: 'tcp-relay', region: 'r1' }];
const pkt = (n: number) => new Uint8Array([n]);

test('held packets: bounded per peer (oldest dropped), copied, released once the peer has a route', () => {
  const h = new HeldPackets<string>();
  const reused = pkt(0);
  h.hold('a', reused, 0);
  reused[0] = 99; // the device reuses its buffer after send returns
  for (let i = 1; i <= HOLD_MAX + 4; i++) h.hold('a', pkt(i), 10);
  assert.deepEqual(h.release(20, () => []), [], 'no route yet: still held');
  const [out] = h.release(30, () => relay);
  assert.equal(out!.packets.length, HOLD_MAX);
  assert.deepEqual([...out!.packets.map((p) => p[0])].slice(0, 2), [5, 6], 'the oldest went first');
  assert.equal(h.size, 0);
});

test('held packets: stale holds and gone peers are dropped without asking for a route', () => {
  const h = new HeldPackets<string>();
  h.hold('old', pkt(1), 0);
  h.hold('gone', pkt(2), HOLD_MS);
  const asked: string[] = [];
  assert.deepEqual(h.release(HOLD_MS + 1, (p) => (asked.push(p), p === 'gone' ? undefined : relay)), []);
  assert.deepEqual(asked, ['gone']);
  assert.equal(h.size, 0);
  h.hold('x', pkt(1), 0);
  h.hold('x', pkt(2), HOLD_MS + 1); // a new hold after the old one went stale starts afresh
  assert.deepEqual(h.release(HOLD_MS + 2, () => relay)[0]!.packets.map((p) => p[0]), [2]);
});
