import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ipv4Packet, makeTestbed, type Testbed } from './testbed.ts';
import type { DropReason } from './types.ts';

/** Drop counters that are not zero, as an object, so a failure shows every unexpected drop. */
function nonZeroDrops(tb: Testbed, side: 'a' | 'b'): Partial<Record<DropReason, number>> {
  return Object.fromEntries(Object.entries(tb[side].dev.stats().drops).filter(([, n]) => n > 0));
}

async function connected(seed: string): Promise<Testbed> {
  const tb = makeTestbed({ seed });
  tb.a.tun.inject(ipv4Packet(tb.a.tunAddress, tb.b.tunAddress, 10));
  await tb.net.idle();
  assert.equal(tb.b.tun.written.length, 1);
  return tb;
}

test('an initiation with a bad mac1 is dropped before any DH work and counted', async () => {
  const tb = makeTestbed({ seed: 'badmac' });
  tb.net.tap = (p) => {
    if (p[0] !== 1) return 'pass';
    const bad = Uint8Array.from(p);
    bad[120] = bad[120]! ^ 1;
    return bad;
  };
  tb.a.tun.inject(ipv4Packet(tb.a.tunAddress, tb.b.tunAddress, 10));
  await tb.net.idle();
  assert.deepEqual(nonZeroDrops(tb, 'b'), { badMac: 1 });
  assert.equal(tb.b.dev.stats().responsesSent, 0);
  // A response with a bad mac1 too
  tb.net.tap = (p) => (p[0] === 2 ? Uint8Array.from(p).fill(0, 60, 76) : 'pass');
  await tb.advance(5_000);
  assert.deepEqual(nonZeroDrops(tb, 'a'), { badMac: 1 });
  tb.stop();
});

test('replayed transport messages are dropped and counted; the TUN sees each packet once', async () => {
  const tb = await connected('replay');
  const seen: Uint8Array[] = [];
  tb.net.tap = (p) => {
    if (p[0] === 4) seen.push(Uint8Array.from(p));
    return 'pass';
  };
  for (let i = 0; i < 3; i++) tb.a.tun.inject(ipv4Packet(tb.a.tunAddress, tb.b.tunAddress, 10 + i));
  await tb.net.idle();
  assert.equal(tb.b.tun.written.length, 4);
  for (const p of seen) tb.b.dev.receiveUdp(p, tb.a.at);
  assert.equal(tb.b.tun.written.length, 4);
  assert.deepEqual(nonZeroDrops(tb, 'b'), { replay: 3 });
  tb.stop();
});

test('transport for an unknown receiver index, or with a forged tag, is dropped and counted', async () => {
  const tb = await connected('unknown');
  const junk = new Uint8Array(64);
  junk[0] = 4;
  junk.set([0xde, 0xad, 0xbe, 0xef], 4);
  tb.b.dev.receiveUdp(junk, tb.a.at);
  assert.deepEqual(nonZeroDrops(tb, 'b'), { unknownReceiver: 1 });
  let forged = 0;
  tb.net.tap = (p) => {
    if (p[0] !== 4) return 'pass';
    forged++;
    const bad = Uint8Array.from(p);
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 0x80;
    return bad;
  };
  tb.a.tun.inject(ipv4Packet(tb.a.tunAddress, tb.b.tunAddress, 10));
  await tb.net.idle();
  assert.equal(forged, 1);
  assert.deepEqual(nonZeroDrops(tb, 'b'), { unknownReceiver: 1, badAuth: 1 });
  tb.stop();
});

test('a decrypted packet whose inner source is outside the peer\'s allowed IPs is dropped', async () => {
  const tb = await connected('spoof');
  tb.a.dev.upsertPeer({ publicKey: tb.b.publicKey, allowedIps: ['0.0.0.0/0'] });
  tb.a.tun.inject(ipv4Packet('10.9.0.77', tb.b.tunAddress, 10)); // A spoofs a source B did not give it
  await tb.net.idle();
  assert.equal(tb.b.tun.written.length, 1);
  assert.deepEqual(nonZeroDrops(tb, 'b'), { badAllowedIp: 1 });
  tb.stop();
});

test('under load the responder answers with a cookie reply; the retry carries mac2 and succeeds', async () => {
  const tb = makeTestbed({ seed: 'load', configB: { handshakeLoadThreshold: 0 } });
  const { a, b } = tb;
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10));
  await tb.net.idle();
  assert.equal(b.dev.stats().cookieRepliesSent, 1);
  assert.equal(a.dev.stats().cookieRepliesReceived, 1);
  assert.equal(b.tun.written.length, 0);
  await tb.advance(5_000);
  assert.equal(b.tun.written.length, 1, 'the retransmitted initiation had a valid mac2');
  assert.equal(b.dev.stats().cookieRepliesSent, 1);
  assert.deepEqual(nonZeroDrops(tb, 'a'), {});
  assert.deepEqual(nonZeroDrops(tb, 'b'), {});
  // A cookie reply nobody asked for is rejected.
  const reply = new Uint8Array(64);
  reply[0] = 3;
  reply.set(new Uint8Array(new Uint32Array([a.dev.peersById.values().next().value!.current!.localIndex]).buffer), 4);
  a.dev.receiveUdp(reply, b.at);
  assert.deepEqual(nonZeroDrops(tb, 'a'), { cookieRejected: 1 });
  tb.stop();
});

test('under load, a source replaying a cookie-bearing initiation is rate limited', async () => {
  const tb = makeTestbed({ seed: 'ratelimit', configB: { handshakeLoadThreshold: 0 } });
  const { a, b } = tb;
  const inits: Uint8Array[] = [];
  tb.net.tap = (p) => (p[0] === 1 && inits.push(Uint8Array.from(p)), 'pass');
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10));
  await tb.advance(5_000);
  assert.equal(b.tun.written.length, 1);
  assert.equal(inits.length, 2, 'one answered with a cookie, one with mac2');
  for (let i = 0; i < 10; i++) b.dev.receiveUdp(inits[1]!, a.at);
  const d = b.dev.stats().drops;
  assert.equal(d.replayedHandshake + d.rateLimited, 10);
  assert.equal(d.replayedHandshake, 4, 'the burst of 5 minus the genuine one');
  tb.stop();
});

test('fuzz: random and mutated datagrams never throw, are counted, and the devices keep working', async () => {
  const tb = await connected('fuzz');
  const captured: Uint8Array[] = [];
  tb.net.tap = (p) => {
    captured.push(Uint8Array.from(p));
    return 'pass';
  };
  tb.b.tun.inject(ipv4Packet(tb.b.tunAddress, tb.a.tunAddress, 50));
  tb.a.dev.initiateHandshake(tb.b.publicKey);
  await tb.advance(6_000);
  tb.a.dev.initiateHandshake(tb.b.publicKey);
  await tb.net.idle();
  tb.net.tap = undefined;
  assert.ok(captured.some((p) => p[0] === 1) && captured.some((p) => p[0] === 2) && captured.some((p) => p[0] === 4));
  const src = fc.constantFrom(tb.a.at, tb.b.at, { address: '198.51.100.9', port: 9 }, { address: '2001:db8::9', port: 99 });
  const mutated = fc
    .tuple(fc.constantFrom(...captured), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.integer({ min: -3, max: 3 }))
    .map(([p, flips, resize]) => {
      const out = new Uint8Array(Math.max(0, p.length + resize));
      out.set(p.subarray(0, out.length));
      for (const [i, v] of flips) if (out.length) out[i % out.length] = v;
      return out;
    });
  // Well-formed headers and exact sizes with random bodies: these get past the classifier.
  const header = fc
    .tuple(fc.integer({ min: 1, max: 4 }), fc.constantFrom(32, 64, 92, 148, 200))
    .chain(([t, n]) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => (b.set([t, 0, 0, 0]), b)));
  const datagram = fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated, header, fc.constantFrom(...captured));
  fc.assert(
    fc.property(datagram, src, fc.boolean(), (d, from, toA) => {
      (toA ? tb.a : tb.b).dev.receiveUdp(d, from);
    }),
    { numRuns: 3000, seed: 7 },
  );
  await tb.net.idle();
  for (const side of ['a', 'b'] as const) {
    const s = tb[side].dev.stats();
    assert.equal(s.internalErrors, 0, `${side}: no exception inside the device`);
    assert.ok(Object.values(s.drops).reduce((x, y) => x + y, 0) > 0);
  }
  // Still works both ways (a fresh handshake if the fuzz disturbed the sessions).
  const aGot = tb.a.tun.written.length;
  const bGot = tb.b.tun.written.length;
  tb.a.tun.inject(ipv4Packet(tb.a.tunAddress, tb.b.tunAddress, 33));
  tb.b.tun.inject(ipv4Packet(tb.b.tunAddress, tb.a.tunAddress, 44));
  await tb.advance(20_000);
  assert.ok(tb.b.tun.written.length > bGot, 'A->B still delivers');
  assert.ok(tb.a.tun.written.length > aGot, 'B->A still delivers');
  tb.stop();
});

test('junk that is not WireGuard, and anything before a private key is set, is counted not thrown', async () => {
  const tb = makeTestbed({ seed: 'junk' });
  tb.a.dev.receiveUdp(new Uint8Array(0), tb.b.at);
  tb.a.dev.receiveUdp(Uint8Array.of(0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42), tb.b.at);
  assert.deepEqual(nonZeroDrops(tb, 'a'), { decode: 2 });
  tb.a.tun.inject(new Uint8Array(3));
  assert.equal(tb.a.dev.stats().drops.badIpPacket, 1);
  tb.stop();
});
