import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../clock/clock.ts';
import type { Endpoint } from '../../wg/ports.ts';
import { decodeHeader, encodeData, type ControlMessage } from './codec.ts';
import { DEFAULT_LIMITS, UdpRelayCore, type UdpRelayLimits } from './server-core.ts';
import { openAt, sealFrom, testMap, testNode, testRandom, type Sent, type TestNode } from './testkit.ts';

const RELAY = testNode('relay');
const A = testNode('a');
const B = testNode('b');
const C = testNode('c');
const OUTSIDER = testNode('outsider');
const A_SRC: Endpoint = { address: '198.51.100.10', port: 40001 };
const B_SRC: Endpoint = { address: '203.0.113.20', port: 50002 };
const PUBLIC: Endpoint = { address: '192.0.2.1', port: 3479 };
const TX = new Uint8Array(12).fill(1);

function setup(limits: Partial<UdpRelayLimits> = {}) {
  const clock = new FakeClock(1_000_000);
  const sent: Sent[] = [];
  const pairEvents: { vni: number; sources: [Endpoint, Endpoint] | undefined }[] = [];
  const map = testMap([RELAY, A, B, C]);
  const core = new UdpRelayCore(
    {
      discoPrivate: RELAY.discoPrivate, discoPublic: RELAY.discoPublic, nodeForDisco: map.nodeForDisco, isMember: map.isMember,
      publicEndpoint: () => PUBLIC, randomBytes: testRandom(), send: (packet, to) => sent.push({ packet, to }),
      onPairChange: (vni, sources) => pairEvents.push({ vni, sources }),
    },
    { ...DEFAULT_LIMITS, ...limits },
    clock.nowMs(),
  );
  /** Sends a control message from `node` at `src` and returns the opened answer (undefined: none). */
  const ask = (node: TestNode, src: Endpoint, m: ControlMessage): ControlMessage | undefined => {
    const before = sent.length;
    core.onPacket(sealFrom(node, RELAY.discoPublic, m), src, clock.nowMs());
    if (sent.length === before) return undefined;
    assert.deepEqual(sent.at(-1)!.to, src);
    return openAt(node, sent.at(-1)!.packet);
  };
  const allocate = (node: TestNode, src: Endpoint, peer: TestNode): ControlMessage | undefined =>
    ask(node, src, { type: 'allocate', txId: TX, nodeKey: node.nodeKey, peerKey: peer.nodeKey });
  const bind = (node: TestNode, src: Endpoint, vni: number, answerFrom = src): ControlMessage | undefined => {
    const ch = ask(node, src, { type: 'bind', vni, generation: 1, nodeKey: node.nodeKey });
    if (ch?.type !== 'challenge') return ch;
    return ask(node, answerFrom, { type: 'answer', vni, generation: 1, mac: ch.mac });
  };
  const boundPair = (): number => {
    const r = allocate(A, A_SRC, B);
    assert.equal(r?.type === 'allocated' && r.status, 'ok');
    const vni = (r as { vni: number }).vni;
    assert.equal(bind(A, A_SRC, vni)?.type, 'bound');
    assert.equal(bind(B, B_SRC, vni)?.type, 'bound');
    return vni;
  };
  return { clock, sent, map, core, ask, allocate, bind, boundPair, pairEvents };
}

test('allocate: both sides of a pair get the same VNI and the relay endpoint', () => {
  const t = setup();
  const ra = t.allocate(A, A_SRC, B);
  const rb = t.allocate(B, B_SRC, A);
  assert.ok(ra?.type === 'allocated' && rb?.type === 'allocated');
  assert.equal(ra.status, 'ok');
  assert.equal(rb.vni, ra.vni);
  assert.notEqual(ra.vni, 0);
  assert.deepEqual(ra.relay, PUBLIC);
  assert.equal(ra.unboundLifetimeSec, 30);
  assert.deepEqual(t.core.allocation(ra.vni)?.bound, [false, false]);
});

test('allocate: unknown peer key refused; a sender not in the map gets no answer at all', () => {
  const t = setup();
  const r = t.allocate(A, A_SRC, OUTSIDER);
  assert.ok(r?.type === 'allocated');
  assert.equal(r.status, 'unknown-key');
  assert.equal(t.allocate(OUTSIDER, A_SRC, A), undefined);
  // Claiming another node's key, or a pair with oneself, is a bad request.
  const claimed = t.ask(A, A_SRC, { type: 'allocate', txId: TX, nodeKey: C.nodeKey, peerKey: B.nodeKey });
  assert.equal(claimed?.type === 'allocated' && claimed.status, 'bad-request');
  assert.equal((t.allocate(A, A_SRC, A) as { status: string }).status, 'bad-request');
  assert.equal(t.core.stats().allocations, 0);
});

test('bind: challenge, answer, bound; data is then forwarded by rewriting the header of the same buffer', () => {
  const t = setup();
  const vni = t.boundPair();
  assert.deepEqual(t.core.allocation(vni)?.bound, [true, true]);
  const p = encodeData('wireguard', vni, Uint8Array.of(4, 0, 0, 0, 42));
  t.core.onPacket(p, A_SRC, t.clock.nowMs());
  const out = t.sent.at(-1)!;
  assert.equal(out.packet, p, 'the received buffer itself is sent on');
  assert.deepEqual(out.to, B_SRC);
  assert.deepEqual(decodeHeader(out.packet), { flags: 1, protocol: 'wireguard', vni });
  assert.deepEqual([...out.packet.subarray(8)], [4, 0, 0, 0, 42]);
  t.core.onPacket(encodeData('disco', vni, Uint8Array.of(1)), B_SRC, t.clock.nowMs());
  assert.deepEqual(t.sent.at(-1)!.to, A_SRC);
  assert.equal(t.core.stats().forwarded, 2);
});

test('spoofing: an answer from another source, a bind by a node outside the pair, data from an unbound source are refused', () => {
  const t = setup();
  const r = t.allocate(A, A_SRC, B) as { vni: number };
  // The MAC covers the address and the port: changing either one is enough to fail.
  for (const elsewhere of [{ address: '203.0.113.66', port: A_SRC.port }, { address: A_SRC.address, port: 1 }]) {
    const spoofed = t.bind(A, A_SRC, r.vni, elsewhere);
    assert.equal(spoofed?.type === 'refused' && spoofed.reason, 'bad-challenge', JSON.stringify(elsewhere));
  }
  const outsider = t.bind(C, A_SRC, r.vni);
  assert.equal(outsider?.type === 'refused' && outsider.reason, 'not-in-pair');
  assert.deepEqual(t.core.allocation(r.vni)?.bound, [false, false]);
  // A bind naming another node's key is refused even when sealed by a member of the pair.
  const wrongKey = t.ask(A, A_SRC, { type: 'bind', vni: r.vni, generation: 1, nodeKey: B.nodeKey });
  assert.equal(wrongKey?.type === 'refused' && wrongKey.reason, 'unknown-key');
  const unknownVni = t.bind(A, A_SRC, (r.vni + 1) & 0xffffff);
  assert.equal(unknownVni?.type === 'refused' && unknownVni.reason, 'unknown-vni');
  t.bind(A, A_SRC, r.vni);
  t.bind(B, B_SRC, r.vni);
  const before = t.sent.length;
  t.core.onPacket(encodeData('wireguard', r.vni, new Uint8Array(40)), { address: '203.0.113.66', port: 1 }, t.clock.nowMs());
  t.core.onPacket(encodeData('wireguard', r.vni, new Uint8Array(40), 1), A_SRC, t.clock.nowMs());
  assert.equal(t.sent.length, before);
  assert.equal(t.core.stats().dropped['unknown-source'], 1);
  assert.equal(t.core.stats().dropped.loop, 1);
});

test('a re-bind from a new source (NAT rebinding) moves that side', () => {
  const t = setup();
  const vni = t.boundPair();
  const moved = { address: '198.51.100.10', port: 40777 };
  assert.equal(t.bind(A, moved, vni)?.type, 'bound');
  t.core.onPacket(encodeData('wireguard', vni, new Uint8Array(40)), B_SRC, t.clock.nowMs());
  assert.deepEqual(t.sent.at(-1)!.to, moved);
});

test('lifetimes: an endpoint not bound by both lives 30 s; a bound one dies after 5 min without data', () => {
  const t = setup();
  const r = t.allocate(A, A_SRC, B) as { vni: number };
  t.bind(A, A_SRC, r.vni);
  t.clock.advance(29_999);
  t.core.tick(t.clock.nowMs());
  assert.ok(t.core.allocation(r.vni));
  t.clock.advance(1);
  assert.equal(t.core.tick(t.clock.nowMs()) > t.clock.nowMs(), true);
  assert.equal(t.core.allocation(r.vni), undefined);

  const vni = t.boundPair();
  t.clock.advance(299_000);
  t.core.onPacket(encodeData('wireguard', vni, new Uint8Array(40)), A_SRC, t.clock.nowMs());
  t.clock.advance(299_000);
  t.core.tick(t.clock.nowMs());
  assert.ok(t.core.allocation(vni), 'data kept it alive');
  t.clock.advance(1_000);
  t.core.tick(t.clock.nowMs());
  assert.equal(t.core.allocation(vni), undefined);
});

test('challenge secret rotates every 2 min: an answer one rotation late still binds, two rotations late does not', () => {
  const t = setup();
  const vni = t.boundPair();
  const challenge = (generation: number): Uint8Array => {
    const ch = t.ask(A, A_SRC, { type: 'bind', vni, generation, nodeKey: A.nodeKey });
    assert.ok(ch?.type === 'challenge');
    return ch.mac;
  };
  const answer = (generation: number, mac: Uint8Array): ControlMessage | undefined => t.ask(A, A_SRC, { type: 'answer', vni, generation, mac });
  const mac2 = challenge(2);
  t.clock.advance(120_000);
  t.core.tick(t.clock.nowMs());
  assert.equal(answer(2, mac2)?.type, 'bound');
  const mac3 = challenge(3);
  assert.equal(answer(4, mac3)?.type, 'refused', 'the MAC covers the generation');
  t.clock.advance(120_000);
  t.core.tick(t.clock.nowMs());
  t.clock.advance(120_000);
  t.core.tick(t.clock.nowMs());
  const late = answer(3, mac3);
  assert.equal(late?.type === 'refused' && late.reason, 'bad-challenge');
});

test('limits: allocations bounded, control messages rate limited per source, data rate limited per side', () => {
  const t = setup({ maxAllocations: 1, controlBurst: 5, controlPerSec: 1, packetsBurst: 3, packetsPerSec: 1 });
  assert.equal((t.allocate(A, A_SRC, B) as { status: string }).status, 'ok');
  assert.equal((t.allocate(A, A_SRC, C) as { status: string }).status, 'full');
  for (let i = 0; i < 10; i++) t.allocate(C, { address: '203.0.113.99', port: i + 1 }, A);
  assert.equal(t.core.stats().dropped['rate-limited'], 5);
  // A different source address still gets its answers.
  assert.ok(t.allocate(B, B_SRC, A));
  const vni = (t.allocate(B, B_SRC, A) as { vni: number }).vni;
  t.bind(A, A_SRC, vni);
  t.bind(B, B_SRC, vni);
  const before = t.core.stats().forwarded;
  for (let i = 0; i < 10; i++) t.core.onPacket(encodeData('wireguard', vni, new Uint8Array(40)), A_SRC, t.clock.nowMs());
  assert.equal(t.core.stats().forwarded - before, 3);
});

test('a node removed from the map loses its allocations', () => {
  const t = setup();
  const vni = t.boundPair();
  t.map.remove(B);
  t.core.onMapChange();
  assert.equal(t.core.allocation(vni), undefined);
});

test('garbage and client-only messages never get an answer', () => {
  const t = setup();
  for (const b of [new Uint8Array(0), Uint8Array.of(0xcb), new Uint8Array(100).fill(0xcb), encodeData('wireguard', 5, new Uint8Array(3))]) {
    t.core.onPacket(b, A_SRC, t.clock.nowMs());
  }
  assert.equal(t.ask(A, A_SRC, { type: 'bound', vni: 1, generation: 1, idleLifetimeSec: 1 }), undefined);
  assert.equal(t.sent.length, 0);
});

test('pair events for the kernel fast path: bound on both sides, a rebind to a new source, not a same-source rebind, expiry, a node leaving', () => {
  const t = setup();
  // Sides are in node-key order; which one is A does not matter here.
  const ev = (i: number) => ({ vni: t.pairEvents.at(i)!.vni, sources: t.pairEvents.at(i)!.sources && [...t.pairEvents.at(i)!.sources!].sort((x, y) => x.port - y.port) });
  const vni = t.boundPair();
  assert.equal(t.pairEvents.length, 1);
  assert.deepEqual(ev(0), { vni, sources: [A_SRC, B_SRC] });
  assert.equal(t.bind(A, A_SRC, vni)?.type, 'bound');
  assert.equal(t.pairEvents.length, 1, 'a periodic rebind from the same source changes nothing');
  const moved: Endpoint = { address: A_SRC.address, port: A_SRC.port + 1 };
  assert.equal(t.bind(A, moved, vni)?.type, 'bound');
  assert.deepEqual(ev(-1), { vni, sources: [moved, B_SRC] });
  t.clock.advance(DEFAULT_LIMITS.idleLifetimeMs + 1);
  t.core.tick(t.clock.nowMs());
  assert.deepEqual(t.pairEvents.at(-1), { vni, sources: undefined });
  const vni2 = t.boundPair();
  t.map.remove(B);
  t.core.onMapChange();
  assert.deepEqual(t.pairEvents.at(-1), { vni: vni2, sources: undefined });
});

test('kernel activity keeps a bound pair alive: noteActivity restarts its idle clock', () => {
  const t = setup();
  const vni = t.boundPair();
  t.clock.advance(DEFAULT_LIMITS.idleLifetimeMs - 1000);
  t.core.noteActivity([vni, 0xabcdef], t.clock.nowMs());
  t.clock.advance(DEFAULT_LIMITS.idleLifetimeMs - 1000);
  t.core.tick(t.clock.nowMs());
  assert.ok(t.core.allocation(vni), 'still there: the kernel forwarded its data');
  t.clock.advance(2000);
  t.core.tick(t.clock.nowMs());
  assert.equal(t.core.allocation(vni), undefined);
});
