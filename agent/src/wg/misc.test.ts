import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tai64n, tai64nAfter } from './tai64n.ts';
import { IndexTable } from './index-table.ts';
import { declaredLength, destinationOf, sourceOf } from './ip-packet.ts';
import { ipv4Packet, seededRandom } from './testbed.ts';

test('TAI64N: label 2^62 + 10 + unix seconds, big-endian; nanoseconds whitened; ordered bytewise', () => {
  const t = tai64n(Date.UTC(2026, 0, 1) + 500);
  const secs = 2n ** 62n + 10n + BigInt(Date.UTC(2026, 0, 1) / 1000);
  assert.equal(Buffer.from(t.subarray(0, 8)).readBigUInt64BE(), secs);
  assert.equal(Buffer.from(t.subarray(8)).readUInt32BE(), 500_000_000 & ~0xffffff);
  assert.ok(tai64nAfter(tai64n(2_000), tai64n(1_999)));
  assert.ok(!tai64nAfter(tai64n(1_000), tai64n(1_000)));
  assert.ok(tai64nAfter(tai64n(1_000), new Uint8Array(12)));
});

test('index table: random unique indices, promotion keeps the number, handshake deletion spares sessions', () => {
  // A generator that repeats itself forces the collision path.
  const rnd = seededRandom('idx');
  let calls = 0;
  const repeating = (n: number): Uint8Array => (calls++ < 2 ? new Uint8Array(n).fill(7) : rnd(n));
  const t = new IndexTable<string, number>(repeating);
  const i1 = t.newHandshakeIndex('p');
  const i2 = t.newHandshakeIndex('p');
  assert.notEqual(i1, i2);
  t.promote(i1, 'p', 42);
  t.deleteHandshake(i1, 'p');
  assert.deepEqual(t.get(i1), { kind: 'session', peer: 'p', session: 42 });
  t.deleteHandshake(i2, 'q');
  assert.equal(t.get(i2)?.kind, 'handshake');
  t.deleteHandshake(i2, 'p');
  assert.equal(t.get(i2), undefined);
  assert.equal(t.size, 1);
});

test('IP header helpers: addresses and declared length, refusing short or lying headers', () => {
  const p = ipv4Packet('10.0.0.1', '10.0.0.2', 12);
  assert.deepEqual(destinationOf(p), { offset: 16, len: 4 });
  assert.deepEqual(sourceOf(p), { offset: 12, len: 4 });
  const padded = new Uint8Array(48);
  padded.set(p);
  assert.equal(declaredLength(padded), 32);
  assert.equal(declaredLength(p.subarray(0, 30)), undefined, 'header claims more than arrived');
  assert.equal(declaredLength(new Uint8Array(19).fill(0x45)), undefined);
  const v6 = new Uint8Array(48);
  v6[0] = 0x60;
  v6[5] = 8;
  assert.equal(declaredLength(v6), 48);
  assert.deepEqual(destinationOf(v6), { offset: 24, len: 16 });
  assert.equal(destinationOf(Uint8Array.of(0x50)), undefined);
});
