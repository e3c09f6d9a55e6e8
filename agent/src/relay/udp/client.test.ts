import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../clock/clock.ts';
import type { Endpoint } from '../../wg/ports.ts';
import { decodeHeader, encodeData } from './codec.ts';
import { createUdpRelayClient } from './client.ts';
import { DEFAULT_LIMITS, UdpRelayCore } from './server-core.ts';
import { openAt, sealFrom, testMap, testNode, testRandom, type TestNode } from './testkit.ts';
import type { UdpRelayNode, UdpRelayVia } from './types.ts';
import { KernelForwarder } from './kernel-forward.ts';
import { MemoryKernelTable } from './kernel-table-memory.ts';
import { counterNames } from './kernel-forward-plan.ts';

const RELAY = testNode('relay');
const A = testNode('a');
const B = testNode('b');
const RELAY_EP: Endpoint = { address: '192.0.2.1', port: 3479 };
const key = (e: Endpoint): string => `${e.address}:${e.port}`;

/** Two clients and a relay core on a memory network; each client's NAT maps its socket to `nat[name]`. */
function world() {
  const clock = new FakeClock(5_000);
  const queue: (() => void)[] = [];
  const nat: Record<string, Endpoint> = { a: { address: '198.51.100.10', port: 40001 }, b: { address: '203.0.113.20', port: 50002 } };
  const clients = new Map<string, ReturnType<typeof createUdpRelayClient>>();
  let relayUp = true;
  /** The relay node's kernel fast path (memory twin); set by tests that want it. */
  const kernel: { table?: MemoryKernelTable; forwarder?: KernelForwarder } = {};
  const relaySent = { count: 0 };
  const mkRelay = (seed: string): UdpRelayCore =>
    new UdpRelayCore(
      {
        discoPrivate: RELAY.discoPrivate, discoPublic: RELAY.discoPublic, ...testMap([RELAY, A, B]), publicEndpoint: () => RELAY_EP,
        randomBytes: testRandom(seed),
        onPairChange: (vni, sources) => kernel.forwarder?.setPair(vni, sources),
        send: (packet, to) => {
          relaySent.count++;
          const name = Object.keys(nat).find((n) => key(nat[n]!) === key(to));
          if (name) queue.push(() => clients.get(name)!.receive(packet.slice(), RELAY_EP, 0));
        },
      },
      DEFAULT_LIMITS,
      clock.nowMs(),
    );
  const w = { clock, nat, clients, relay: mkRelay('r1'), received: [] as [string, string, string, number][], changes: [] as [string, UdpRelayVia | undefined][] };
  const client = (me: TestNode, name: string) => {
    const c = createUdpRelayClient({
      discoPrivate: me.discoPrivate, discoPublic: me.discoPublic, nodeKey: me.nodeKey, clock, randomBytes: testRandom(name),
      sockets: {
        send: (_s, packet, to) => {
          if (!relayUp || key(to) !== key(RELAY_EP)) return;
          // What the kernel rules take never reaches the relay process: same bytes, from the relay's address.
          const dest = kernel.table?.forward(packet, nat[name]!, to);
          const peer = dest && Object.keys(nat).find((n) => key(nat[n]!) === key(dest));
          if (peer) queue.push(() => clients.get(peer)!.receive(packet.slice(), RELAY_EP, 0));
          else queue.push(() => w.relay.onPacket(packet.slice(), nat[name]!, clock.nowMs()));
        },
      },
    });
    c.onPacket((peer, payload, proto) => w.received.push([name, peer, proto, payload.length]));
    c.onChange((peer, via) => w.changes.push([`${name}->${peer.slice(0, 4)}`, via]));
    clients.set(name, c);
    return c;
  };
  const flush = (): void => {
    for (let i = 0; queue.length && i < 10_000; i++) queue.shift()!();
  };
  const advance = (ms: number): void => {
    for (let t = 0; t < ms; t += 500) {
      clock.advance(Math.min(500, ms - t));
      w.relay.tick(clock.nowMs());
      flush();
    }
  };
  const relayNode: UdpRelayNode = { endpoint: RELAY_EP, nodeKey: RELAY.nodeHex, discoKey: RELAY.discoHex };
  return {
    ...w, w, client, flush, advance, relayNode, relaySent, kernel,
    setRelayUp: (up: boolean) => void (relayUp = up),
    restartRelay: () => void (w.relay = mkRelay('r2')),
  };
}

test('two clients allocate the same VNI, bind, report the path, and exchange WireGuard and discovery packets', () => {
  const t = world();
  const a = t.client(A, 'a');
  const b = t.client(B, 'b');
  a.want(B.nodeHex, t.relayNode);
  b.want(A.nodeHex, t.relayNode);
  t.flush();
  const va = a.via(B.nodeHex);
  const vb = b.via(A.nodeHex);
  assert.ok(va && vb);
  assert.equal(va.vni, vb.vni);
  assert.deepEqual(va, { kind: 'udp-relay', relay: RELAY_EP, vni: va.vni, socket: 0 });
  assert.equal(t.w.changes.length, 2);
  a.send(va, new Uint8Array(1200));
  b.send(vb, new Uint8Array(62), 'disco');
  t.flush();
  assert.deepEqual(t.w.received, [
    ['b', A.nodeHex, 'wireguard', 1200],
    ['a', B.nodeHex, 'disco', 62],
  ]);
  assert.deepEqual(a.status().map((s) => s.state), ['bound']);
});

test('re-bind every minute keeps the path; a NAT rebinding is picked up by the next re-bind', () => {
  const t = world();
  const a = t.client(A, 'a');
  const b = t.client(B, 'b');
  a.want(B.nodeHex, t.relayNode);
  b.want(A.nodeHex, t.relayNode);
  t.flush();
  t.w.nat.a = { address: '198.51.100.10', port: 41111 };
  const vb = b.via(A.nodeHex)!;
  b.send(vb, new Uint8Array(100));
  t.flush();
  assert.equal(t.w.received.length, 0, 'the relay still sends to the old mapping');
  t.advance(60_000);
  b.send(vb, new Uint8Array(100));
  t.flush();
  assert.equal(t.w.received.length, 1);
  // 10 minutes of re-binds and no data: the endpoint stays (the clients still want it).
  t.advance(600_000);
  assert.ok(a.via(B.nodeHex));
  assert.equal(t.w.changes.length, 2);
});

test('a relay that forgot the endpoint refuses the re-bind; the client allocates again and the path comes back', () => {
  const t = world();
  const a = t.client(A, 'a');
  const b = t.client(B, 'b');
  a.want(B.nodeHex, t.relayNode);
  b.want(A.nodeHex, t.relayNode);
  t.flush();
  const before = a.via(B.nodeHex)!.vni;
  t.restartRelay();
  t.advance(61_000);
  const after = a.via(B.nodeHex);
  assert.ok(after);
  assert.notEqual(after.vni, before);
  assert.equal(after.vni, b.via(A.nodeHex)?.vni);
  const changes = t.w.changes.slice(2).map(([who, via]) => [who, via === undefined]);
  assert.deepEqual([...changes.filter(([w]) => String(w).startsWith('a')), ...changes.filter(([w]) => String(w).startsWith('b'))], [
    [`a->${B.nodeHex.slice(0, 4)}`, true],
    [`a->${B.nodeHex.slice(0, 4)}`, false],
    [`b->${A.nodeHex.slice(0, 4)}`, true],
    [`b->${A.nodeHex.slice(0, 4)}`, false],
  ]);
});

test('an unreachable relay: 5 tries a second apart, then failed for 30 s, then tried again', () => {
  const t = world();
  t.setRelayUp(false);
  const a = t.client(A, 'a');
  a.want(B.nodeHex, t.relayNode);
  t.advance(5_000);
  assert.deepEqual(a.status().map((s) => [s.state, s.error]), [['failed', 'timeout']]);
  t.setRelayUp(true);
  t.advance(29_000);
  assert.equal(a.status()[0]!.state, 'failed');
  t.advance(1_000);
  // One side binds on its own; data flows once the peer has bound too (the engine confirms with a ping).
  assert.equal(a.status()[0]!.state, 'bound');
});

test('packets that are not from the relay, or for an unknown VNI, are consumed and dropped; others are not ours', () => {
  const t = world();
  const a = t.client(A, 'a');
  const b = t.client(B, 'b');
  a.want(B.nodeHex, t.relayNode);
  b.want(A.nodeHex, t.relayNode);
  t.flush();
  const vni = a.via(B.nodeHex)!.vni;
  assert.equal(a.receive(encodeData('wireguard', vni, new Uint8Array(40), 1), { address: '203.0.113.66', port: 3479 }, 0), true);
  assert.equal(a.receive(encodeData('wireguard', (vni + 1) & 0xffffff, new Uint8Array(40), 1), RELAY_EP, 0), true);
  // Unflagged: WireGuard from the relay is the kernel fast path's (accepted, see the kernel test below);
  // discovery is only ever relayed by the relay process, which flags it.
  assert.equal(a.receive(encodeData('disco', vni, new Uint8Array(40), 0), RELAY_EP, 0), true);
  assert.equal(a.receive(encodeData('wireguard', vni, new Uint8Array(40), 0), { address: '203.0.113.66', port: 3479 }, 0), true);
  assert.equal(a.receive(encodeData('wireguard', (vni + 1) & 0xffffff, new Uint8Array(40), 0), RELAY_EP, 0), true);
  assert.equal(a.receive(Uint8Array.of(4, 0, 0, 0, 1, 2, 3, 4, 5, 6), RELAY_EP, 0), false);
  assert.equal(t.w.received.length, 0);
  assert.equal(a.counters().dropped, 5);
  a.drop(B.nodeHex);
  assert.equal(a.via(B.nodeHex), undefined);
  a.close();
  b.close();
  assert.equal(t.clock.pendingTimers(), 0);
});

test('a peer the relay does not know: allocation refused, the path fails with that reason', () => {
  const t = world();
  const a = t.client(A, 'a');
  a.want(testNode('stranger').nodeHex, t.relayNode);
  t.flush();
  assert.deepEqual(a.status().map((s) => [s.state, s.error]), [['failed', 'unknown-key']]);
});

test('a relay that refuses every fresh endpoint ("unknown-vni" right after allocating) gets a few requests, not a loop', () => {
  const clock = new FakeClock(0);
  let requests = 0;
  const queue: (() => void)[] = [];
  const a = createUdpRelayClient({
    discoPrivate: A.discoPrivate, discoPublic: A.discoPublic, nodeKey: A.nodeKey, clock, randomBytes: testRandom('a'),
    sockets: {
      send: (_s, packet) => {
        requests++;
        assert.equal(decodeHeader(packet).protocol, 'control');
        const m = openAt(RELAY, packet);
        const reply =
          m.type === 'allocate'
            ? sealFrom(RELAY, A.discoPublic, { type: 'allocated', txId: m.txId, status: 'ok', vni: 77, unboundLifetimeSec: 30, relay: RELAY_EP })
            : m.type === 'bind'
              ? sealFrom(RELAY, A.discoPublic, { type: 'refused', vni: m.vni, generation: m.generation, reason: 'unknown-vni' })
              : undefined;
        const flagged = reply?.slice();
        if (flagged) flagged[1]! |= 1;
        if (flagged) queue.push(() => a.receive(flagged, RELAY_EP, 0));
      },
    },
  });
  a.want(B.nodeHex, { endpoint: RELAY_EP, nodeKey: RELAY.nodeHex, discoKey: RELAY.discoHex });
  for (let i = 0; queue.length && i < 1000; i++) queue.shift()!();
  assert.deepEqual(a.status().map((s) => [s.state, s.error]), [['failed', 'unknown-vni']]);
  for (let t = 0; t < 60; t++) {
    clock.advance(1000);
    for (let i = 0; queue.length && i < 1000; i++) queue.shift()!();
  }
  // One allocate and one bind per 30 s back-off: 2 at the start, 2 more after each of the two back-offs.
  assert.ok(requests <= 6, `requests: ${requests}`);
  a.close();
});

test('kernel fast path: WireGuard of a bound pair goes through the kernel rules without the "from relay" flag and is accepted; discovery stays in the relay process', async () => {
  const t = world();
  t.kernel.table = new MemoryKernelTable();
  t.kernel.forwarder = new KernelForwarder({ table: t.kernel.table, mode: 'auto', decision: { use: true, reason: 'test' }, relay: () => RELAY_EP });
  const a = t.client(A, 'a');
  const b = t.client(B, 'b');
  a.want(B.nodeHex, t.relayNode);
  b.want(A.nodeHex, t.relayNode);
  t.flush();
  await t.kernel.forwarder.settle();
  const va = a.via(B.nodeHex)!;
  assert.deepEqual((await t.kernel.table.installed()).map((p) => p.vni), [va.vni]);
  const forwardedBefore = t.w.relay.stats().forwarded;
  for (let i = 0; i < 10; i++) a.send(va, new Uint8Array(1200));
  b.send(b.via(A.nodeHex)!, new Uint8Array(62), 'disco');
  t.flush();
  assert.equal(t.w.received.filter((r) => r[0] === 'b' && r[2] === 'wireguard').length, 10);
  assert.deepEqual(t.w.received.at(-1), ['a', B.nodeHex, 'disco', 62]);
  assert.equal(t.w.relay.stats().forwarded, forwardedBefore + 1, 'only the discovery packet went through the relay process');
  const act = await t.kernel.forwarder.poll();
  assert.deepEqual(act?.active, [va.vni]);
  const c = await t.kernel.table.readCounters();
  assert.equal(counterNames(va.vni).pre.reduce((n, name) => n + c.get(name)!.packets, 0), 10);
  assert.equal(t.kernel.forwarder.status().packets, 10);
  a.close();
  b.close();
  await t.kernel.forwarder.close();
  assert.equal(t.kernel.table.closed, true);
});
