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

test('rekey: the initiator starts a new handshake after REKEY_AFTER_TIME and traffic never stops', async () => {
  const tb = makeTestbed({ seed: 'rekey' });
  const { a, b } = tb;
  const firstIndex = (): number => a.dev.peersById.values().next().value!.current!.localIndex;
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 30));
  await tb.net.idle();
  const before = firstIndex();
  let delivered = 1;
  for (let t = 0; t < 200; t += 5) {
    await tb.advance(5_000);
    a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 30));
    b.tun.inject(ipv4Packet(b.tunAddress, a.tunAddress, 30));
    await tb.net.idle();
    delivered++;
    assert.equal(b.tun.written.length, delivered, `A->B delivered at t=${t + 5}s`);
    assert.equal(a.tun.written.length, delivered - 1, `B->A delivered at t=${t + 5}s`);
  }
  const sa = a.dev.stats();
  assert.ok(sa.initiationsSent >= 2, `rekeyed (${sa.initiationsSent} initiations)`);
  assert.equal(b.dev.stats().initiationsSent, 0, 'only the initiator rekeys on time');
  assert.notEqual(firstIndex(), before, 'a new session is current');
  assert.equal(sa.drops.keyExpired + b.dev.stats().drops.keyExpired, 0);
  tb.stop();
});

test('roaming: B learns A\'s new address from an authenticated packet and answers there', async () => {
  const tb = makeTestbed({ seed: 'roam' });
  const { a, b } = tb;
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10));
  await tb.net.idle();
  const moved = { address: '203.0.113.50', port: 40001 };
  a.bind.rebind(moved);
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10));
  await tb.net.idle();
  assert.deepEqual(b.dev.peers()[0]!.endpoint, moved);
  b.tun.inject(ipv4Packet(b.tunAddress, a.tunAddress, 10));
  await tb.net.idle();
  assert.equal(a.tun.written.length, 1, 'the reply reached A at its new address');
  // A forged packet from a third address does not move the endpoint.
  b.dev.receiveUdp(new Uint8Array(32).fill(0).fill(4, 0, 1), { address: '198.51.100.66', port: 1 });
  assert.deepEqual(b.dev.peers()[0]!.endpoint, moved);
  tb.stop();
});

test('a lost initiation is retransmitted after REKEY_TIMEOUT; staged packets then flow', async () => {
  const tb = makeTestbed({ seed: 'lost' });
  const { a, b } = tb;
  let dropped = 0;
  tb.net.tap = (p) => (p[0] === 1 && dropped++ === 0 ? 'drop' : 'pass');
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10));
  await tb.net.idle();
  assert.equal(b.tun.written.length, 0);
  await tb.advance(5_000);
  assert.equal(b.tun.written.length, 1);
  assert.equal(a.dev.stats().initiationsSent, 2);
  tb.stop();
});

test('no answer at all: retries stop after REKEY_ATTEMPT_TIME and the staged packets are dropped', async () => {
  const tb = makeTestbed({ seed: 'silent' });
  const { a, b } = tb;
  tb.net.tap = () => 'drop';
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10));
  await tb.advance(150_000);
  assert.equal(a.dev.stats().initiationsSent, 20, 'the first initiation and 19 retries');
  const peer = a.dev.peersById.values().next().value!;
  assert.equal(peer.staged.length, 0);
  tb.net.tap = undefined;
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10));
  await tb.net.idle();
  assert.equal(b.tun.written.length, 1, 'a new packet starts over and gets through');
  tb.stop();
});

test('keepalives: passive after received data, and persistent keepalive establishes and holds a session', async () => {
  const tb = makeTestbed({ seed: 'ka', configA: { peers: [] } });
  const { a, b } = tb;
  a.dev.upsertPeer({ publicKey: b.publicKey, endpoint: b.at, allowedIps: [`${b.tunAddress}/32`], persistentKeepaliveSec: 25 });
  await tb.net.idle();
  assert.equal(b.dev.stats().initiationsReceived, 1, 'setting a persistent keepalive on a running device starts a handshake');
  const t0 = b.dev.stats().transportReceived;
  await tb.advance(100_000);
  const got = b.dev.stats().transportReceived - t0;
  assert.ok(got >= 4 && got <= 5, `about one keepalive per 25 s (${got})`);
  // passive keepalive: B got data from A and sent nothing back, so B acknowledges within 10 s
  const aBefore = a.dev.stats().transportReceived;
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10));
  await tb.net.idle();
  await tb.advance(9_999);
  assert.equal(a.dev.stats().transportReceived, aBefore);
  await tb.advance(1);
  assert.equal(a.dev.stats().transportReceived, aBefore + 1);
  assert.equal(a.tun.written.length, 0, 'keepalives never reach the TUN');
  tb.stop();
});

test('sessions expire: nothing can be sent on a key older than REJECT_AFTER_TIME, and all is zeroed later', async () => {
  const tb = makeTestbed({ seed: 'expire' });
  const { a, b } = tb;
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10));
  await tb.net.idle();
  tb.net.tap = () => 'drop'; // the peer vanishes
  await tb.advance(181_000);
  assert.equal(a.dev.peers()[0]!.hasSession, false);
  await tb.advance(540_000);
  assert.equal(a.dev.index.size, 0, 'no session or handshake index left');
  assert.equal(b.dev.index.size, 0);
  tb.stop();
});

test('IPv6 inside the tunnel, longest-prefix routing between two peers, no route counted', async () => {
  const tb = makeTestbed({ seed: 'v6' });
  const { a, b } = tb;
  a.dev.upsertPeer({ publicKey: b.publicKey, allowedIps: ['fd00:b::/64'] });
  b.dev.upsertPeer({ publicKey: a.publicKey, allowedIps: ['fd00:a::/64'] });
  const v6 = new Uint8Array(40 + 8);
  v6[0] = 0x60;
  v6[5] = 8;
  v6[6] = 17;
  v6.set([0xfd, 0, 0, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8);
  v6.set([0xfd, 0, 0, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 24);
  a.tun.inject(v6);
  await tb.net.idle();
  assert.equal(b.tun.written.length, 1);
  assert.deepEqual(new Uint8Array(b.tun.written[0]!), v6);
  a.tun.inject(ipv4Packet(a.tunAddress, '10.99.0.1', 10));
  assert.equal(a.dev.stats().drops.noRoute, 1);
  tb.stop();
});

test('peer configuration: replace/add allowed IPs, update-only, remove; stop leaves no timer', async () => {
  const tb = makeTestbed({ seed: 'cfg' });
  const { a, b } = tb;
  assert.equal(a.dev.upsertPeer({ publicKey: new Uint8Array(32).fill(9), updateOnly: true }), false);
  a.dev.upsertPeer({ publicKey: b.publicKey, allowedIps: ['10.50.0.0/16'] });
  assert.deepEqual(a.dev.peers()[0]!.allowedIps, ['10.9.0.2/32', '10.50.0.0/16']);
  a.dev.upsertPeer({ publicKey: b.publicKey, allowedIps: ['10.60.0.7/24'], replaceAllowedIps: true });
  assert.deepEqual(a.dev.peers()[0]!.allowedIps, ['10.60.0.0/24']);
  assert.throws(() => a.dev.upsertPeer({ publicKey: b.publicKey, allowedIps: ['nonsense'] }), RangeError);
  a.tun.inject(ipv4Packet(a.tunAddress, '10.60.0.9', 10));
  await tb.net.idle();
  assert.ok(tb.clock.pendingTimers() > 0);
  assert.ok(a.dev.removePeer(b.publicKey));
  assert.equal(a.dev.peers().length, 0);
  tb.stop();
  assert.equal(tb.clock.pendingTimers(), 0);
});

test('batches: sendIpBatch sends one bind batch per peer, receiveUdpBatch writes one TUN batch', async () => {
  const tb = makeTestbed({ seed: 'batch' });
  const { a, b } = tb;
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10));
  await tb.net.idle();
  const sends: number[] = [];
  const realSend = a.bind.send.bind(a.bind);
  a.bind.send = (packets, to) => {
    sends.push(Array.isArray(packets) ? packets.length : 1);
    return realSend(packets, to);
  };
  const captured: Uint8Array[] = [];
  tb.net.tap = (p) => (p[0] === 4 ? (captured.push(p), 'drop') : 'pass');
  a.dev.sendIpBatch(Array.from({ length: 10 }, (_, i) => ipv4Packet(a.tunAddress, b.tunAddress, 10 + i)));
  await tb.net.idle();
  assert.deepEqual(sends, [10]);
  assert.equal(captured.length, 10);
  const writes: number[] = [];
  const realWrite = b.tun.write.bind(b.tun);
  b.tun.write = (p) => {
    writes.push(Array.isArray(p) ? p.length : 1);
    realWrite(p);
  };
  b.dev.receiveUdpBatch([...captured, new Uint8Array(5)], a.at);
  assert.deepEqual(writes, [10]);
  assert.deepEqual(
    b.tun.written.slice(1).map((p) => p.length),
    Array.from({ length: 10 }, (_, i) => 30 + i),
  );
  assert.equal(b.dev.stats().drops.decode, 1);
  tb.stop();
});

test('crossed initiations (both sides start at once) settle on working sessions', async () => {
  // Without jitter two identical peers would cross again on every retry; jitter is what breaks the tie.
  const tb = makeTestbed({ seed: 'crossed', jitterB: 150 });
  const { a, b } = tb;
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10));
  b.tun.inject(ipv4Packet(b.tunAddress, a.tunAddress, 10));
  await tb.advance(15_000);
  assert.equal(a.tun.written.length, 1);
  assert.equal(b.tun.written.length, 1);
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 11));
  b.tun.inject(ipv4Packet(b.tunAddress, a.tunAddress, 11));
  await tb.net.idle();
  assert.equal(a.tun.written.length, 2);
  assert.equal(b.tun.written.length, 2);
  assert.equal(a.dev.stats().internalErrors + b.dev.stats().internalErrors, 0);
  tb.stop();
});

test('crossed initiations complete within one round trip: no retransmit, no REKEY_TIMEOUT wait', async () => {
  // No jitter and no clock advance: only the crossing itself may produce the sessions.
  const tb = makeTestbed({ seed: 'crossed-rtt' });
  const { a, b } = tb;
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10));
  b.tun.inject(ipv4Packet(b.tunAddress, a.tunAddress, 10));
  await tb.net.idle();
  for (const [name, n] of [['a', a], ['b', b]] as const) {
    const st = n.dev.stats();
    assert.equal(st.initiationsSent, 1, `${name}: one initiation, no retry`);
    assert.equal(st.initiationsReceived, 1, `${name}: the initiations crossed`);
    assert.equal(st.responsesReceived, 1, `${name}: the response to its own initiation was used`);
    assert.deepEqual(Object.entries(st.drops).filter(([, v]) => v > 0), [], `${name}: nothing dropped`);
  }
  assert.equal(a.tun.written.length, 1, 'b -> a delivered');
  assert.equal(b.tun.written.length, 1, 'a -> b delivered');
  for (let i = 0; i < 3; i++) {
    a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 20 + i));
    b.tun.inject(ipv4Packet(b.tunAddress, a.tunAddress, 20 + i));
    await tb.net.idle();
  }
  assert.equal(a.tun.written.length, 4);
  assert.equal(b.tun.written.length, 4);
  assert.equal(a.dev.stats().internalErrors + b.dev.stats().internalErrors, 0);
  tb.stop();
  assert.equal(tb.clock.pendingTimers(), 0);
});

test('a crossing where only one initiation arrives (the other lost on the way) still completes at once', async () => {
  const tb = makeTestbed({ seed: 'crossed-half' });
  const { a, b } = tb;
  // A's initiation is lost (B's NAT had not opened yet); B's arrives while A's is pending.
  let dropped = 0;
  tb.net.tap = (p, _from, to) => (p[0] === 1 && to.address === b.at.address && dropped++ === 0 ? 'drop' : 'pass');
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10));
  b.tun.inject(ipv4Packet(b.tunAddress, a.tunAddress, 10));
  await tb.net.idle();
  assert.equal(dropped, 1);
  assert.equal(a.tun.written.length, 1);
  assert.equal(b.tun.written.length, 1, "A's staged packet went out on B's session");
  tb.stop();
});

test('REKEY_AFTER_MESSAGES and REJECT_AFTER_MESSAGES at the device (small limits)', async () => {
  const tb = makeTestbed({ seed: 'msglimits', limits: { rekeyAfterMessages: 5, rejectAfterMessages: 8 } });
  const { a, b } = tb;
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10)); // counter 0
  await tb.net.idle();
  await tb.advance(5_000); // past the one-initiation-per-REKEY_TIMEOUT limit
  tb.net.tap = (p) => (p[0] === 1 ? 'drop' : 'pass'); // no new handshake can complete
  for (let i = 0; i < 10; i++) a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10));
  await tb.net.idle();
  assert.equal(a.dev.stats().initiationsSent, 2, 'a rekey was attempted once past 5 messages');
  // counters 1..7 are still usable; the last 3 packets wait for a new session
  assert.equal(b.tun.written.length, 8);
  tb.net.tap = undefined;
  await tb.advance(5_000);
  assert.equal(b.tun.written.length, 11, 'the staged packets go out on the new session');
  tb.stop();
});

test('an initiator that only receives rekeys shortly before REJECT_AFTER_TIME', async () => {
  const tb = makeTestbed({ seed: 'lastminute' });
  const { a, b } = tb;
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10));
  await tb.net.idle();
  // Quiet (after B's passive keepalive), so A never sends and never rekeys on sending.
  await tb.advance(164_000);
  b.tun.inject(ipv4Packet(b.tunAddress, a.tunAddress, 10));
  await tb.net.idle();
  assert.equal(a.dev.stats().initiationsSent, 1, 'at 164 s: not yet');
  await tb.advance(2_000);
  b.tun.inject(ipv4Packet(b.tunAddress, a.tunAddress, 10));
  await tb.net.idle();
  assert.equal(a.dev.stats().initiationsSent, 2, 'at 166 s, within KEEPALIVE + REKEY_TIMEOUT of REJECT_AFTER_TIME');
  await tb.advance(30_000);
  b.tun.inject(ipv4Packet(b.tunAddress, a.tunAddress, 99));
  await tb.net.idle();
  assert.equal(a.tun.written.at(-1)!.length, 119, "traffic continues past the old session's REJECT_AFTER_TIME");
  assert.equal(b.dev.stats().drops.keyExpired + a.dev.stats().drops.keyExpired, 0);
  tb.stop();
});

test('a new private key drops every session; the next packet handshakes with the new identity', async () => {
  const tb = makeTestbed({ seed: 'newkey' });
  const { a, b } = tb;
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 10));
  await tb.net.idle();
  const newKey = new Uint8Array(32).fill(0x21);
  newKey[0] = 0x20;
  newKey[31] = 0x61;
  a.dev.setPrivateKey(newKey);
  assert.equal(a.dev.peers()[0]!.hasSession, false);
  b.dev.removePeer(a.publicKey);
  b.dev.upsertPeer({ publicKey: a.dev.publicKey!, allowedIps: [`${a.tunAddress}/32`] });
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 12));
  await tb.net.idle();
  assert.equal(b.tun.written.length, 2);
  tb.stop();
});
