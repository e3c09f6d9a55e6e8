import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../clock/clock.ts';
import { decodeRecv, encodePing, encodeRecv, FrameType, type Frame } from '../frames.ts';
import { RelayConn, type ConnHost, type ConnOptions } from './conn.ts';
import { MemoryTransport } from './memory-transport.ts';

const OPTS: ConnOptions = { queueDepth: 32, writeTimeoutMs: 2_000, keepaliveMs: 60_000, keepaliveJitterMs: 5_000, maxBufferedBytes: 1 << 20, writeBatchBytes: 32 * 1024, socketBufferBytes: 1 };
const SRC = new Uint8Array(32).fill(7);
const tick = () => new Promise<void>((r) => queueMicrotask(r));

function setup(opts: Partial<ConnOptions> = {}) {
  const clock = new FakeClock();
  const t = new MemoryTransport();
  const seen: Frame[] = [];
  const closes: string[] = [];
  const host: ConnHost = { onFrame: (_c, f) => void seen.push({ type: f.type, body: f.body.slice() }), onClose: (_c, r) => void closes.push(r) };
  const conn = new RelayConn(t, { ...OPTS, ...opts }, host, { clock, random: () => 0.5 });
  return { clock, t, conn, seen, closes };
}

const packet = (n: number, disco = false) => encodeRecv(SRC, Uint8Array.from(disco ? [0x43, 0x47, 0x44, 0x53, 0x43, 0x01, n] : [n]));
const payloads = (frames: Frame[]) => frames.filter((f) => f.type === FrameType.RECV).map((f) => { const d = decodeRecv(f.body).data; return d.length === 1 ? `d${d[0]}` : `x${d[6]}`; });

test('a congested client keeps only the newest 32 data packets (head drop), in order, after the drain', async () => {
  const { t, conn } = setup();
  t.congested = true;
  conn.sendPacket(packet(0), false);
  await tick(); // the first write finds the buffer full
  for (let i = 1; i <= 40; i++) conn.sendPacket(packet(i), false);
  await tick();
  t.frames();
  t.drain();
  assert.deepEqual(payloads(t.frames()), Array.from({ length: 32 }, (_, i) => `d${i + 9}`));
  assert.equal(conn.droppedPackets, 8);
});

test('discovery packets go out before queued bulk data: hole punching never waits behind it', async () => {
  const { t, conn } = setup();
  t.congested = true;
  conn.sendPacket(packet(0), false);
  await tick();
  t.frames();
  for (let i = 1; i <= 32; i++) conn.sendPacket(packet(i), false);
  conn.sendPacket(packet(1, true), true);
  conn.sendPacket(packet(2, true), true);
  t.drain();
  const order = payloads(t.frames());
  assert.deepEqual(order.slice(0, 2), ['x1', 'x2']);
  assert.equal(order.length, 34);
});

test('a write that does not drain within the write timeout closes the connection', async () => {
  const { t, conn, clock, closes } = setup();
  t.congested = true;
  conn.sendPacket(packet(1), false);
  await tick();
  clock.advance(1_999);
  assert.equal(conn.isClosed, false);
  clock.advance(1);
  assert.deepEqual(closes, ['write timeout']);
  assert.equal(t.closed, true);
  assert.equal(clock.pendingTimers(), 0);
});

test('read back-pressure: a client over its byte budget is paused until the bucket refills', () => {
  const { t, clock } = setup({ readLimit: { perSec: 10_000, burst: 2_000 } });
  t.deliver(new Uint8Array(1_500));
  assert.equal(t.paused, false);
  t.deliver(new Uint8Array(1_500)); // 1,000 bytes of debt at 10,000/s: 100 ms
  assert.equal(t.paused, true);
  clock.advance(99);
  assert.equal(t.paused, true);
  clock.advance(1);
  assert.equal(t.paused, false);
});

test('keepalive every 60 s plus jitter after start; stop leaves no timer', () => {
  const { t, conn, clock } = setup();
  conn.startKeepalive();
  clock.advance(62_499);
  assert.equal(t.frames().length, 0);
  clock.advance(1);
  assert.deepEqual(t.frames().map((f) => f.type), [FrameType.KEEPALIVE]);
  conn.close('done');
  assert.equal(clock.pendingTimers(), 0);
});

test('a bad frame header closes the connection at once, without buffering the announced body', () => {
  const { t, seen, closes } = setup();
  t.deliver(encodePing(new Uint8Array(8)));
  const bad = new Uint8Array(5);
  bad[0] = FrameType.SEND;
  new DataView(bad.buffer).setUint32(1, 0xffffffff);
  t.deliver(bad);
  assert.deepEqual(seen.map((f) => f.type), [FrameType.PING]);
  assert.match(closes[0]!, /bad frame/);
  assert.equal(t.closed, true);
});

test('one read carrying more packets than a queue holds loses none while the socket takes them', () => {
  const { t, conn } = setup({ socketBufferBytes: 1 << 20 });
  for (let i = 0; i < 100; i++) conn.sendPacket(packet(i % 250), false);
  assert.equal(conn.droppedPackets, 0);
  assert.equal(payloads(t.frames()).length, 100 - (conn as any).data.length);
});
