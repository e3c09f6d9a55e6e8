import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipv4Packet, makeTestbed, WALL_EPOCH_MS } from './testbed.ts';

const eq = (a: Uint8Array | undefined, b: Uint8Array): void => assert.deepEqual(a && new Uint8Array(a), new Uint8Array(b));

test('A initiates on first packet; packets flow both ways; stats and peer status reflect it', async () => {
  const tb = makeTestbed();
  const { a, b } = tb;
  const p1 = ipv4Packet(a.tunAddress, b.tunAddress, 100);
  a.tun.inject(p1);
  await tb.net.idle();
  assert.equal(b.tun.written.length, 1);
  eq(b.tun.written[0], p1);
  const p2 = ipv4Packet(b.tunAddress, a.tunAddress, 1380);
  b.tun.inject(p2);
  await tb.net.idle();
  assert.equal(a.tun.written.length, 1);
  eq(a.tun.written[0], p2);
  const sa = a.dev.stats();
  const sb = b.dev.stats();
  assert.equal(sa.initiationsSent, 1);
  assert.equal(sb.initiationsReceived, 1);
  assert.equal(sb.responsesSent, 1);
  assert.equal(sa.responsesReceived, 1);
  assert.deepEqual(Object.values(sa.drops).filter((n) => n > 0), []);
  assert.deepEqual(Object.values(sb.drops).filter((n) => n > 0), []);
  assert.equal(sa.internalErrors + sb.internalErrors, 0);
  const [pa] = a.dev.peers();
  const [pb] = b.dev.peers();
  assert.equal(pa!.lastHandshakeWallMs, WALL_EPOCH_MS + tb.clock.nowMs());
  assert.equal(pb!.lastHandshakeWallMs, WALL_EPOCH_MS + tb.clock.nowMs());
  assert.ok(pa!.hasSession && pb!.hasSession);
  // out: initiation 148 + transport (120-byte packet padded to 128, + 16 header + 16 tag);
  // in: response 92 + transport (1400 padded to 1408, + 32)
  assert.equal(pa!.txBytes, 148 + 160);
  assert.equal(pa!.rxBytes, 92 + 1440);
  assert.equal(pb!.rxBytes, pa!.txBytes);
  assert.equal(pb!.txBytes, pa!.rxBytes);
  assert.deepEqual(pa!.allowedIps, ['10.9.0.2/32']);
  assert.deepEqual(pb!.endpoint, a.at);
  tb.stop();
  assert.equal(tb.clock.pendingTimers(), 0);
});

test('B initiates when only B has traffic (the other direction)', async () => {
  const tb = makeTestbed({ seed: 'other-way' });
  const { a, b } = tb;
  for (let i = 0; i < 5; i++) b.tun.inject(ipv4Packet(b.tunAddress, a.tunAddress, 40 + i));
  await tb.net.idle();
  assert.equal(a.tun.written.length, 5, 'all staged packets delivered after the handshake');
  assert.equal(b.dev.stats().initiationsSent, 1);
  assert.equal(a.dev.stats().initiationsSent, 0);
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10));
  await tb.net.idle();
  assert.equal(b.tun.written.length, 1);
  tb.stop();
});
