import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryBindPair, MemoryNetwork } from './memory-bind.ts';
import { MemoryTun } from './memory-tun.ts';

test('memory network: tap drops and rewrites, unknown destinations are dropped, rebind moves a bind', async () => {
  const net = new MemoryNetwork();
  const a = net.bind({ address: '192.0.2.1', port: 1 });
  const b = net.bind({ address: '192.0.2.2', port: 2 });
  assert.throws(() => net.bind({ address: '192.0.2.2', port: 2 }));
  const got: number[] = [];
  b.onReceive((p) => got.push(p[0]!));
  net.tap = (p) => (p[0] === 0 ? 'drop' : p[0] === 1 ? Uint8Array.of(11) : 'pass');
  a.send([Uint8Array.of(0), Uint8Array.of(1), Uint8Array.of(2)], b.local);
  a.send(Uint8Array.of(3), { address: '192.0.2.9', port: 9 });
  await net.idle();
  assert.deepEqual(got, [11, 2]);
  assert.equal(net.dropped, 2);
  b.rebind({ address: '203.0.113.1', port: 5 });
  a.send(Uint8Array.of(4), { address: '203.0.113.1', port: 5 });
  await net.idle();
  assert.deepEqual(got, [11, 2, 4]);
  b.close();
  a.send(Uint8Array.of(5), b.local);
  await net.idle();
  assert.deepEqual(got, [11, 2, 4]);
});

test('memory network: a ping-pong between handlers is delivered in order without recursion', async () => {
  const { a, b, net } = createMemoryBindPair();
  let hops = 0;
  a.onReceive((p, from) => {
    hops++;
    if (p[0]! < 200) a.send(Uint8Array.of(p[0]! + 1), from);
  });
  b.onReceive((p, from) => {
    hops++;
    b.send(Uint8Array.of(p[0]! + 1), from);
  });
  a.send(Uint8Array.of(0), b.local);
  await net.idle();
  assert.equal(hops, 202); // b gets 0, 2 .. 200; a gets 1, 3 .. 201
});

test('memory TUN: inject reaches the handler, writes are recorded, close stops both', () => {
  const tun = new MemoryTun('t0', 1280);
  assert.equal(tun.mtu, 1280);
  const read: number[] = [];
  tun.onPacket((p) => read.push(p[0]!));
  tun.inject(Uint8Array.of(0x45));
  tun.write([Uint8Array.of(1), Uint8Array.of(2)]);
  assert.deepEqual(read, [0x45]);
  assert.deepEqual(tun.written.map((p) => p[0]), [1, 2]);
  tun.close();
  tun.inject(Uint8Array.of(0x46));
  tun.write(Uint8Array.of(3));
  assert.deepEqual(read, [0x45]);
  assert.equal(tun.written.length, 2);
});
