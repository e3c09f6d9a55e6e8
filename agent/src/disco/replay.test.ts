import { test } from 'node:test';
import assert from 'node:assert/strict';
import { x25519 } from '@noble/curves/ed25519.js';
import { DecodeError } from '../errors.ts';
import { ReplayGuard } from './replay.ts';
import { DiscoSealer } from './sealer.ts';

test('replay window: fresh once, the same nonce again refused, too old and too far ahead refused', () => {
  const g = new ReplayGuard();
  const now = 1_000_000;
  assert.equal(g.check('a', 'n1', now - 1000, now), 'ok');
  assert.equal(g.check('a', 'n1', now - 1000, now + 5000), 'replayed');
  assert.equal(g.check('b', 'n1', now - 1000, now), 'ok', 'nonces are per sender');
  assert.equal(g.check('a', 'n2', now - 30_001, now), 'stale');
  assert.equal(g.check('a', 'n3', now + 30_001, now), 'future');
  assert.equal(g.check('a', 'n4', now + 29_000, now), 'ok', 'inside the skew');
  // The future message stays remembered until it would be stale.
  assert.equal(g.check('a', 'n4', now + 29_000, now + 58_000), 'replayed');
});

test('replay window: memory stays bounded per sender and a forgotten nonce is still refused', () => {
  const g = new ReplayGuard({ perSenderNonces: 8 });
  const now = 50_000;
  for (let i = 0; i < 100; i++) assert.equal(g.check('a', `n${i}`, now - 100 + i, now), 'ok');
  assert.equal(g.size(), 8);
  // n0 was forgotten: its send time is under the floor, so it is refused anyway.
  assert.equal(g.check('a', 'n0', now - 100, now), 'replayed');
  assert.equal(g.check('a', 'n95', now - 5, now), 'replayed');
  // Entries that can no longer pass the time check are dropped.
  assert.equal(g.check('a', 'late', now + 40_000, now + 40_000), 'ok');
  assert.equal(g.size(), 1);
});

test('replay window: the number of senders is bounded', () => {
  const g = new ReplayGuard({ maxSenders: 3 });
  for (const s of ['a', 'b', 'c']) assert.equal(g.check(s, 'x', 0, 0), 'ok');
  assert.equal(g.check('d', 'x', 0, 0), 'busy');
  assert.equal(g.check('d', 'x', 100_000, 100_000), 'ok', 'idle senders are pruned when time has passed');
  assert.ok(g.senderCount() <= 3);
});

test('sealer: a captured datagram replayed is refused; unknown senders are refused before any crypto', () => {
  let wall = 1_700_000_000_000;
  let seed = 1;
  const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => (seed = (seed * 1103515245 + 12345) >>> 0) & 0xff);
  const mk = (sk: Uint8Array) => new DiscoSealer(sk, x25519.getPublicKey(sk), { randomBytes, wallMs: () => wall });
  const a = mk(new Uint8Array(32).fill(1));
  const b = mk(new Uint8Array(32).fill(2));
  const known = (k: string) => k === a.publicKeyHex;
  const pkt = a.seal(b.publicKeyHex, { type: 'call-me-maybe', hardNat: false, endpoints: [] });
  assert.equal(b.open(pkt, known).message?.type, 'call-me-maybe');
  assert.throws(() => b.open(pkt, known), (e) => e instanceof DecodeError && e.reason === 'replay: replayed');
  const pkt2 = a.seal(b.publicKeyHex, { type: 'call-me-maybe', hardNat: false, endpoints: [] });
  wall += 31_000;
  assert.throws(() => b.open(pkt2, known), (e) => e instanceof DecodeError && e.reason === 'replay: stale');
  assert.throws(() => b.open(a.seal(b.publicKeyHex, { type: 'call-me-maybe', hardNat: false, endpoints: [] }), () => false), (e) => e instanceof DecodeError && e.reason === 'unknown sender');
  assert.equal(b.replayMemory(), 1);
});
