import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { FakeClock } from '../../clock/clock.ts';
import { connectVerified } from '../../node/tls-connect.ts';
import { decodeServerKey, encodeClientInfo, encodeFrame, encodeRecv, encodeSend, encodeWatchConns, encodePing, FrameType } from '../frames.ts';
import { sealJson } from '../frames-seal.ts';
import { staticAdmission } from './admission.ts';
import { MemoryTransport } from './memory-transport.ts';
import { connectClient, newNode, startTestRelay, waitUntil, type TestRelay } from './testing.ts';

const rnd = (n: number) => Uint8Array.from(randomBytes(n));

/** A TLS connection that did the HTTP upgrade and then does whatever the test says. */
async function rawUpgraded(r: TestRelay) {
  const sock = await connectVerified('127.0.0.1', r.port, { fingerprint: r.fingerprint });
  sock.write('GET /relay HTTP/1.1\r\nHost: relay\r\nUpgrade: conegate-relay\r\nConnection: Upgrade\r\n\r\n');
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  sock.on('error', () => {});
  let got = Buffer.alloc(0);
  sock.on('data', (c: Buffer) => (got = Buffer.concat([got, c])));
  await waitUntil(() => got.includes('\r\n\r\n') && got.length > got.indexOf('\r\n\r\n') + 4, 5_000, '101 and server key');
  return { sock, closed };
}

async function assertStillServing(r: TestRelay, a = newNode(), b = newNode()) {
  r.admission.keys?.add(a.hex);
  r.admission.keys?.add(b.hex);
  const ca = await connectClient(r, a);
  const cb = await connectClient(r, b);
  ca.link.write(encodeSend(b.key, Buffer.from('still here')));
  await cb.waitFor((m) => m.kind === 'recv' && Buffer.from(m.data).toString() === 'still here');
  ca.link.close();
  cb.link.close();
}

test('slowloris: an upgraded connection that never logs in is cut at the 10 s login deadline', async () => {
  const clock = new FakeClock();
  const r = await startTestRelay({ clock });
  try {
    const { closed, sock } = await rawUpgraded(r);
    sock.write(Uint8Array.of(FrameType.CLIENT_INFO, 0, 0)); // half a header, then silence
    clock.advance(9_999);
    assert.equal(sock.destroyed, false);
    clock.advance(1);
    await closed;
    await assertStillServing(r);
  } finally {
    await r.stop();
  }
});

test('oversized and forged frames close that connection only', async () => {
  const [a, b] = [newNode(), newNode()];
  const r = await startTestRelay({ admission: staticAdmission([a.hex, b.hex]) });
  try {
    const cb = await connectClient(r, b);
    const header = (type: number, len: number) => {
      const h = new Uint8Array(5);
      h[0] = type;
      new DataView(h.buffer).setUint32(1, len);
      return h;
    };
    const attacks: Uint8Array[] = [
      header(FrameType.SEND, 70_000), // over the 64 KiB packet limit
      header(FrameType.CLIENT_INFO, 300_000),
      header(0x7f, 0xffffffff), // unknown type, absurd length
      encodeRecv(b.key, Buffer.from('forged recv')), // server-to-client frame from a client
      encodeWatchConns(), // needs the mesh key
      encodeFrame(FrameType.FORWARD, new Uint8Array(70)), // relay-to-relay only
      encodeFrame(FrameType.PING, new Uint8Array(9)), // ping body must be 8 bytes
      encodeFrame(FrameType.SEND, new Uint8Array(10)), // no full destination key
    ];
    for (const bytes of attacks) {
      const ca = await connectClient(r, a);
      ca.link.write(bytes);
      await ca.closed;
    }
    cb.link.write(encodePing(Buffer.alloc(8)));
    await cb.waitFor((m) => m.kind === 'pong');
    assert.equal(cb.messages.some((m) => m.kind === 'recv'), false, 'nothing forged reached b');
    cb.link.close();
  } finally {
    await r.stop();
  }
});

test('fuzz: 10,000 random frames on fresh and logged-in connections leave the relay serving', async () => {
  const r = await startTestRelay({ admission: staticAdmission([]) });
  try {
    const frame = fc.tuple(fc.integer({ min: 0, max: 0x18 }), fc.uint8Array({ maxLength: 200 })).map(([t, b]) => encodeFrame(t, b));
    const samples = fc.sample(fc.oneof(frame, fc.uint8Array({ maxLength: 64 })), { numRuns: 10_000, seed: 17 });
    const server = r.relay;
    for (let i = 0; i < samples.length; i += 50) {
      const t = new MemoryTransport();
      server.accept(t);
      if ((i / 50) % 2 === 1) {
        // log in first, so the junk reaches the post-login dispatcher too
        const node = newNode();
        r.admission.keys!.add(node.hex);
        const serverKey = decodeServerKey(t.frames()[0]!.body);
        t.deliver(encodeClientInfo(node.key, sealJson({ version: 1 }, node.secret, serverKey, rnd)));
        await waitUntil(() => t.frames().some((f) => f.type === FrameType.SERVER_INFO) || t.closed, 5_000, 'login');
      }
      for (const s of samples.slice(i, i + 50)) t.deliver(s);
      t.close();
    }
    assert.equal(server.stats().clients, 0);
    await assertStillServing(r);
  } finally {
    await r.stop();
  }
});

test('a flooding client is back-pressured (its reads paused) while another client keeps being served', async () => {
  const clock = new FakeClock();
  const r = await startTestRelay({ admission: staticAdmission([]), clock, config: { clientReadLimit: { perSec: 100_000, burst: 70_000 } } });
  try {
    const login = async () => {
      const t = new MemoryTransport();
      r.relay.accept(t);
      const node = newNode();
      r.admission.keys!.add(node.hex);
      const serverKey = decodeServerKey(t.frames()[0]!.body);
      t.deliver(encodeClientInfo(node.key, sealJson({ version: 1 }, node.secret, serverKey, rnd)));
      await waitUntil(() => t.frames().some((f) => f.type === FrameType.SERVER_INFO), 5_000, 'login');
      return { t, node };
    };
    const flood = await login();
    const calm = await login();
    const sink = await login();
    const big = encodeSend(sink.node.key, new Uint8Array(60_000));
    for (let i = 0; i < 3; i++) flood.t.deliver(big); // 180 KB against a 70 KB burst
    assert.equal(flood.t.paused, true, 'the flooder is paused');
    calm.t.deliver(encodeSend(sink.node.key, Buffer.from('calm')));
    await new Promise<void>((res) => queueMicrotask(res));
    assert.equal(calm.t.paused, false, 'the calm client is not');
    assert.ok(sink.t.frames().some((f) => f.type === FrameType.RECV && Buffer.from(f.body.subarray(32)).toString() === 'calm'));
    clock.advance(1_200); // 110 KB of debt at 100 KB/s
    assert.equal(flood.t.paused, false, 'resumed once the debt is paid');
  } finally {
    await r.stop();
  }
});
