import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../clock/clock.ts';
import { silentLogger } from '../log/logger.ts';
import { DISCO_MAGIC } from '../mesh/demux.ts';
import { WgDevice } from '../wg/device.ts';
import { generatePrivateKey, keyToHex, publicKey } from '../wg/keys.ts';
import { MemoryNetwork } from '../wg/memory-bind.ts';
import { MemoryTun } from '../wg/memory-tun.ts';
import type { Endpoint } from '../wg/ports.ts';
import { ipv4Packet, seededRandom } from '../wg/testbed.ts';
import type { DiscoMessage } from '../disco/types.ts';
import { MapEngine } from './map-engine.ts';
import { MemorySocketSet } from './memory-sockets.ts';
import { HOLD_MS, PathRouter, RECEIVE_EVERY_MS, ROUTE_CACHE_MS, TRAFFIC_EVERY_MS } from './router.ts';
import { DiscoSealer } from '../disco/sealer.ts';
import { MemoryRelayFabric } from '../relay/memory.ts';
import { sealerBox } from './disco-box.ts';
import { MESH_SOCKET, type NodeKeyHex, type PathAction, type PathEngine, type PathPeer, type Via } from './types.ts';
import { createUdpRelayClient } from '../relay/udp/client.ts';
import { DEFAULT_LIMITS, UdpRelayCore } from '../relay/udp/server-core.ts';
import type { UdpRelayVia } from '../relay/udp/types.ts';

/** The map engine with a route the test can override, and a record of every call the router made. */
class ScriptedEngine extends MapEngine {
  forced: Via[] | undefined;
  routeCalls = 0;
  sourceCalls = 0;
  traffic: number[] = [];
  received: { peer: string; via: Via; nowMs: number }[] = [];
  discos: { from: string; message: DiscoMessage; via: Via }[] = [];
  sendErrors: { peer: string; via: Via }[] = [];
  ticks: number[] = [];
  opened: { peer: string; ids: number[] }[] = [];
  wakeAt: number | undefined;
  next: PathAction[] = [];
  udpChanges: { peer: string; via: UdpRelayVia | undefined }[] = [];
  onUdpRelay(peer: NodeKeyHex, via: UdpRelayVia | undefined): PathAction[] {
    this.udpChanges.push({ peer, via });
    return [];
  }
  override peerForSource(from: Endpoint, socket: number): NodeKeyHex | undefined {
    this.sourceCalls++;
    return super.peerForSource(from, socket);
  }
  override route(peer: NodeKeyHex): Via[] {
    this.routeCalls++;
    return this.forced ?? super.route(peer);
  }
  override onTraffic(_peer: NodeKeyHex, nowMs: number): PathAction[] {
    this.traffic.push(nowMs);
    return this.take();
  }
  override onReceive(peer: NodeKeyHex, via: Via, nowMs: number): PathAction[] {
    this.received.push({ peer, via, nowMs });
    return [];
  }
  override onDisco(from: string, message: DiscoMessage, via: Via): PathAction[] {
    this.discos.push({ from, message, via });
    return [];
  }
  override onSendError(peer: NodeKeyHex, via: Via): PathAction[] {
    this.sendErrors.push({ peer, via });
    return [];
  }
  override onSocketsOpened(peer: NodeKeyHex, ids: number[]): PathAction[] {
    this.opened.push({ peer, ids });
    return [];
  }
  override tick(nowMs: number): PathAction[] {
    this.ticks.push(nowMs);
    this.wakeAt = undefined;
    return this.take();
  }
  override nextWakeMs(): number | undefined {
    return this.wakeAt;
  }
  private take(): PathAction[] {
    const a = this.next;
    this.next = [];
    return a;
  }
}

interface Site {
  key: NodeKeyHex;
  disco: string;
  at: Endpoint;
  tunAddress: string;
  sockets: MemorySocketSet;
  engine: ScriptedEngine;
  router: PathRouter;
  dev: WgDevice;
  tun: MemoryTun;
  pub: Uint8Array;
  udp: ReturnType<typeof createUdpRelayClient>;
}

const UDP_RELAY_AT: Endpoint = { address: '192.0.2.9', port: 41642 };

function twoSites(opts: { mapEndpoints?: boolean } = {}) {
  const clock = new FakeClock(1_000_000);
  const net = new MemoryNetwork();
  const hub = new MemoryRelayFabric();
  const relayMap = { regions: [{ id: 'r1', name: 'one', nodes: [{ url: 'https://relay.invalid' }] }] };
  const mk = (name: string, last: number): Site => {
    const priv = generatePrivateKey(seededRandom(`router:${name}`));
    const pub = publicKey(priv);
    const key = keyToHex(pub);
    const discoPriv = generatePrivateKey(seededRandom(`router:${name}:disco`));
    const disco = keyToHex(publicKey(discoPriv));
    const sealer = new DiscoSealer(discoPriv, publicKey(discoPriv), { randomBytes: seededRandom(`router:${name}:nonce`), wallMs: () => clock.nowMs() });
    const relay = hub.node(key);
    relay.setRelayMap(relayMap);
    const at = { address: `192.0.2.${last}`, port: 41641 };
    const sockets = new MemorySocketSet(net, at);
    const engine = new ScriptedEngine();
    const udp = createUdpRelayClient({ discoPrivate: discoPriv, discoPublic: publicKey(discoPriv), nodeKey: pub, clock, sockets, randomBytes: seededRandom(`router:${name}:udp`) });
    const router = new PathRouter({ engine, sockets, relay, udpRelay: udp, disco: sealerBox(sealer), clock, log: silentLogger() });
    const tun = new MemoryTun(`wg${name}`);
    const dev = new WgDevice({ privateKey: priv }, { clock, bind: router, tun, randomBytes: seededRandom(`router:${name}:dev`), wallClockMs: () => clock.nowMs(), jitterMs: () => 0 });
    dev.start();
    return { key, disco, at, tunAddress: `10.9.0.${last}`, sockets, engine, router, dev, tun, pub, udp };
  };
  const a = mk('a', 1);
  const b = mk('b', 2);
  const peerOf = (s: Site): PathPeer => ({ nodeKey: s.key, discoKey: s.disco, endpoints: opts.mapEndpoints === false ? [] : [s.at], homeRelay: 'r1' });
  for (const [self, other] of [[a, b], [b, a]] as const) {
    const virtual = self.router.setPeers([peerOf(other)]).get(other.key)!;
    self.dev.upsertPeer({ publicKey: other.pub, allowedIps: [`${other.tunAddress}/32`], endpoint: virtual });
  }
  const settle = async () => {
    for (let i = 0; i < 5; i++) {
      await net.idle();
      await new Promise((r) => setImmediate(r));
    }
  };
  const ping = async (n = 1) => {
    const before = b.tun.written.length;
    for (let i = 0; i < n; i++) a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 40));
    await settle();
    return b.tun.written.length - before;
  };
  return { clock, net, hub, a, b, settle, ping };
}

/** A UDP relay node's core on the same memory network (what a third node runs), admitting a and b. */
function udpRelayNode(t: ReturnType<typeof twoSites>) {
  const priv = generatePrivateKey(seededRandom('router:relay:disco'));
  const members = new Map([[t.a.disco, t.a.key], [t.b.disco, t.b.key]]);
  const sockets = new MemorySocketSet(t.net, UDP_RELAY_AT);
  const core = new UdpRelayCore(
    {
      discoPrivate: priv, discoPublic: publicKey(priv), nodeForDisco: (d) => members.get(d), isMember: (n) => [...members.values()].includes(n),
      publicEndpoint: () => UDP_RELAY_AT, randomBytes: seededRandom('router:relay'), send: (packet, to) => sockets.send(MESH_SOCKET, packet, to),
    },
    DEFAULT_LIMITS,
    t.clock.nowMs(),
  );
  sockets.onReceive((packet, from) => core.onPacket(packet, from, t.clock.nowMs()));
  return { core, node: { endpoint: UDP_RELAY_AT, nodeKey: keyToHex(new Uint8Array(32).fill(9)), discoKey: keyToHex(publicKey(priv)) } };
}

test('direct: the device sends to a virtual endpoint, the packet goes from the mesh socket, and comes back from the same virtual endpoint', async () => {
  const { net, hub, a, b, ping } = twoSites();
  assert.equal(await ping(), 1);
  assert.ok(net.delivered > 0);
  assert.equal(hub.counters.delivered, 0);
  assert.match(b.dev.peers()[0]!.endpoint!.address, /^peer\.[0-9a-f]{64}$/);
  assert.equal(a.dev.peers()[0]!.endpoint!.address, `peer.${b.key}`);
  assert.ok(a.router.counters.demux.wg > 0 && b.router.counters.demux.wg > 0);
});

test('UDP dropped on the wire, no endpoints in the map: handshake and data go through the relay', async () => {
  const { net, hub, b, ping } = twoSites({ mapEndpoints: false });
  net.tap = () => 'drop';
  assert.equal(await ping(3), 3);
  assert.equal(net.delivered, 0);
  assert.ok(hub.counters.delivered >= 5, 'initiation, response and data through the relay');
  assert.equal(b.dev.peers()[0]!.endpoint!.address.startsWith('peer.'), true);
});

test('a switch from relay to direct mid-session keeps the session (no new handshake) and the endpoint', async () => {
  const { hub, a, b, ping } = twoSites();
  a.engine.forced = b.engine.forced = [{ kind: 'tcp-relay', region: 'r1' }];
  assert.equal(await ping(2), 2);
  const relayed = hub.counters.delivered;
  const initiations = a.dev.stats().initiationsSent + b.dev.stats().initiationsSent;
  // Direct and relay both (an untrusted direct path): duplicates die in WireGuard's replay window.
  // A real engine changes its route only when called (a pong, a tick): any call refreshes the router's cache.
  const decide = (s: Site, vias: Via[]) => {
    s.engine.forced = vias;
    s.router.linkChanged();
  };
  decide(a, [{ kind: 'direct', endpoint: b.at, socket: MESH_SOCKET }, { kind: 'tcp-relay', region: 'r1' }]);
  decide(b, [{ kind: 'direct', endpoint: a.at, socket: MESH_SOCKET }, { kind: 'tcp-relay', region: 'r1' }]);
  assert.equal(await ping(2), 2);
  decide(a, [{ kind: 'direct', endpoint: b.at, socket: MESH_SOCKET }]);
  decide(b, [{ kind: 'direct', endpoint: a.at, socket: MESH_SOCKET }]);
  const relayedBefore = hub.counters.delivered;
  assert.equal(await ping(3), 3);
  assert.equal(hub.counters.delivered, relayedBefore, 'nothing through the relay once direct');
  assert.ok(relayed > 0);
  assert.equal(a.dev.stats().initiationsSent + b.dev.stats().initiationsSent, initiations, 'same session');
  assert.equal(b.dev.peers()[0]!.endpoint!.address, `peer.${a.key}`);
});

test('WireGuard from a source no peer is known by reaches the device with its real address', async () => {
  const { a, b, settle } = twoSites({ mapEndpoints: false });
  const seen: Endpoint[] = [];
  b.router.onReceive((_p, from) => seen.push(from));
  const wgData = new Uint8Array(48);
  wgData[0] = 4;
  a.sockets.send(MESH_SOCKET, wgData, b.at);
  await settle();
  assert.deepEqual(seen, [a.at]);
});

test('discovery: actions are sealed to the peer\'s disco key and sent on their Via; received ones reach the engine with the Via they came by', async () => {
  const { a, b, settle, clock } = twoSites();
  const ping: DiscoMessage = { type: 'ping', txId: new Uint8Array(12).fill(7), nodeKey: a.key };
  a.engine.next = [
    { t: 'disco', peer: b.key, via: { kind: 'tcp-relay', region: 'r1' }, message: ping },
    { t: 'disco', peer: b.key, via: { kind: 'direct', endpoint: b.at, socket: MESH_SOCKET }, message: ping },
  ];
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 40));
  await settle();
  const vias = b.engine.discos.map((d) => d.via.kind).sort();
  assert.deepEqual(vias, ['direct', 'tcp-relay']);
  assert.ok(b.engine.discos.every((d) => d.from === a.disco && d.message.type === 'ping'));
  assert.deepEqual((b.engine.discos.find((d) => d.via.kind === 'direct')!.via as { endpoint: Endpoint }).endpoint, a.at);
  assert.deepEqual([...(b.engine.discos[0]!.message as { txId: Uint8Array }).txId], [...ping.txId]);
  // A discovery packet from a disco key that is not a peer's never reaches the engine.
  const strangerKey = generatePrivateKey(seededRandom('stranger'));
  const stranger = new DiscoSealer(strangerKey, publicKey(strangerKey), { randomBytes: seededRandom('s'), wallMs: () => clock.nowMs() }).seal(b.disco, ping);
  a.sockets.send(MESH_SOCKET, stranger, b.at);
  const garbage = Uint8Array.from([...DISCO_MAGIC, 1, 2, 3]);
  a.sockets.send(MESH_SOCKET, garbage, b.at);
  await settle();
  assert.equal(b.engine.discos.length, 2);
  assert.equal(b.router.counters.discoRejected, 2);
});

test('onTraffic at most once per peer per interval on the send path, and at the first send after a reported receive', async () => {
  const { a, b, clock, ping, settle } = twoSites();
  await ping(20);
  assert.equal(a.engine.traffic.length, 1);
  assert.equal(a.engine.received.length, 1, 'the handshake response');
  // The first send after that receive is reported at once...
  clock.advance(10);
  await ping(3);
  assert.equal(a.engine.traffic.length, 2);
  // ...then nothing until the interval, while nothing more is received.
  clock.advance(TRAFFIC_EVERY_MS - 1);
  await ping(5);
  assert.equal(a.engine.traffic.length, 2);
  clock.advance(1);
  await ping(1);
  assert.equal(a.engine.traffic.length, 3);
  // b sends (a receive reported on a), then a sends 10 ms later: reported at once, not up to a second
  // later, so the engine's "sent but nothing received" clock starts at that send.
  clock.advance(RECEIVE_EVERY_MS);
  b.tun.inject(ipv4Packet(b.tunAddress, a.tunAddress, 40));
  await settle();
  assert.equal(a.engine.received.length, 2);
  clock.advance(10);
  await ping(3);
  assert.deepEqual(a.engine.traffic.slice(3), [clock.nowMs()], 'once, at the first send after the receive');
});

test('WireGuard from a direct source tells the engine the path works (at most once per peer per interval); relayed data does not', async () => {
  const { a, b, clock, ping } = twoSites();
  await ping(20);
  assert.equal(b.engine.received.length, 1, 'handshake and data from a: one report');
  assert.deepEqual(b.engine.received[0], { peer: a.key, via: { kind: 'direct', endpoint: a.at, socket: MESH_SOCKET }, nowMs: clock.nowMs() });
  clock.advance(RECEIVE_EVERY_MS - 1);
  await ping(3);
  assert.equal(b.engine.received.length, 1);
  clock.advance(1);
  await ping(1);
  assert.equal(b.engine.received.length, 2);
  b.engine.received = [];
  clock.advance(RECEIVE_EVERY_MS);
  a.engine.forced = [{ kind: 'tcp-relay', region: 'r1' }];
  assert.ok((await ping(2)) > 0, 'through the relay');
  assert.equal(b.engine.received.length, 0, 'not a report on any direct path');
});

test('packets with no route yet are held (bounded) and sent when the engine has one, so the handshake does not wait for its 5 s retransmission', async () => {
  const { a, b, clock, settle } = twoSites();
  a.engine.forced = [];
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 40));
  await settle();
  assert.ok(a.router.counters.noRoute > 0, 'the handshake initiation found no route');
  assert.equal(b.tun.written.length, 0);
  // Discovery found the path: the next engine call lets the held handshake out; the session comes up
  // and the data queued behind it arrives.
  a.engine.forced = [{ kind: 'direct', endpoint: b.at, socket: MESH_SOCKET }];
  clock.advance(100);
  a.router.loop.run([]);
  await settle();
  assert.ok(a.router.counters.heldSent > 0);
  assert.equal(b.tun.written.length, 1, 'the first packet arrived without waiting for a retransmission');
  // Held packets older than HOLD_MS are dropped, not sent late.
  a.engine.forced = [];
  const before = a.router.counters.heldSent;
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 40));
  await settle();
  clock.advance(HOLD_MS + 1);
  a.engine.forced = [{ kind: 'direct', endpoint: b.at, socket: MESH_SOCKET }];
  a.router.loop.run([]);
  await settle();
  assert.equal(a.router.counters.heldSent, before);
});

test('a send that fails at once (unreachable family) is reported to the engine for that peer and path', async () => {
  const { a, b, ping } = twoSites();
  a.sockets.unreachable.add(b.at.address);
  await ping(1);
  assert.ok(a.engine.sendErrors.length > 0);
  assert.equal(a.engine.sendErrors[0]!.peer, b.key);
  assert.deepEqual(a.engine.sendErrors[0]!.via, { kind: 'direct', endpoint: b.at, socket: MESH_SOCKET });
});

test('one timer at nextWakeMs; tick results are performed; close leaves no timer', async () => {
  const { a, clock, settle } = twoSites();
  const base = clock.pendingTimers();
  a.engine.wakeAt = clock.nowMs() + 500;
  a.router.linkChanged();
  a.router.linkChanged();
  assert.equal(clock.pendingTimers(), base + 1);
  a.engine.next = [{ t: 'open-sockets', peer: 'x', count: 3 }];
  clock.advance(500);
  await settle();
  assert.deepEqual(a.engine.ticks, [clock.nowMs()]);
  assert.equal(a.sockets.extraCount(), 3);
  assert.deepEqual(a.engine.opened, [{ peer: 'x', ids: [1, 2, 3] }], 'the engine hears which sockets opened');
  a.engine.next = [{ t: 'close-sockets', ids: [1, 2] }];
  a.engine.wakeAt = clock.nowMs() + 10;
  a.router.linkChanged();
  clock.advance(10);
  assert.equal(a.sockets.extraCount(), 1);
  a.engine.wakeAt = clock.nowMs() + 10;
  a.router.linkChanged();
  a.router.close();
  assert.equal(clock.pendingTimers(), base);
});

test('the engine\'s route and source answers are cached until the engine is next called, the route at most ROUTE_CACHE_MS', async () => {
  const { a, b, clock, ping } = twoSites();
  await ping(1);
  const r0 = a.engine.routeCalls;
  const s0 = b.engine.sourceCalls;
  assert.equal(await ping(50), 50);
  assert.equal(a.engine.routeCalls, r0, 'no route call per packet');
  assert.equal(b.engine.sourceCalls, s0, 'no source lookup per packet');
  clock.advance(ROUTE_CACHE_MS);
  await ping(3);
  assert.equal(a.engine.routeCalls, r0 + 1, 'asked again once the cache aged');
  b.router.linkChanged();
  await ping(3);
  assert.equal(b.engine.sourceCalls, s0 + 1, 'asked again after an engine call');
});

test('a candidate or source inside the prefixes routed into our own tunnel is never a path (no WireGuard inside WireGuard)', async () => {
  const { a, b, settle } = twoSites({ mapEndpoints: false });
  // b's LAN 10.1.0.0/24 is an accepted subnet route at a (reached through the tunnel), and 10.9.0.0/24 the mesh.
  a.router.setTunnelPrefixes(['10.9.0.0/24', '10.1.0.0/24']);
  const seen: PathPeer[][] = [];
  const orig = a.engine.setPeers.bind(a.engine);
  a.engine.setPeers = (peers, now) => {
    seen.push(peers);
    return orig(peers, now);
  };
  a.router.setPeers([{ nodeKey: b.key, discoKey: b.disco, endpoints: [{ address: '10.1.0.1', port: 41641 }, b.at], homeRelay: 'r1' }]);
  assert.deepEqual(seen.at(-1)![0]!.endpoints, [b.at], 'the map candidate inside an accepted route is dropped');
  // Discovery and WireGuard from b's mesh address reached a's mesh socket through a's own tunnel: not heard.
  const fromTunnel = { address: '10.9.0.2', port: 41641 };
  const receive = (a.router as unknown as { fromSocket(p: Uint8Array, f: Endpoint, s: number): void }).fromSocket.bind(a.router);
  const discosBefore = a.engine.discos.length;
  receive(Uint8Array.of(...DISCO_MAGIC, ...new Uint8Array(80)), fromTunnel, MESH_SOCKET);
  assert.equal(a.router.counters.discoRejected, 0, 'dropped before any attempt to open it');
  assert.equal(a.router.counters.tunnelSource, 1);
  assert.equal(a.engine.discos.length, discosBefore);
  await settle();
});

test('UDP relay Via: from the TCP relay to a node\'s UDP relay mid-session (same session), data and discovery through it, bound paths reach the engine', async () => {
  const t = twoSites();
  const { a, b, net, hub, ping, settle } = t;
  const relay = udpRelayNode(t);
  // No direct path between a and b: only datagrams to or from the relay node pass.
  net.tap = (_p, from, to) => (from.address === UDP_RELAY_AT.address || to.address === UDP_RELAY_AT.address ? 'pass' : 'drop');
  a.engine.forced = b.engine.forced = [{ kind: 'tcp-relay', region: 'r1' }];
  assert.equal(await ping(2), 2);
  const initiations = a.dev.stats().initiationsSent + b.dev.stats().initiationsSent;
  // The engine's udp-relay action goes to the client; the bound path comes back to the engine.
  a.engine.next = [{ t: 'udp-relay', peer: b.key, relay: relay.node }];
  b.engine.next = [{ t: 'udp-relay', peer: a.key, relay: relay.node }];
  t.clock.advance(TRAFFIC_EVERY_MS); // the next packet tells the engine of traffic, which returns the actions
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 40));
  b.tun.inject(ipv4Packet(b.tunAddress, a.tunAddress, 40));
  await settle();
  const av = a.udp.via(b.key);
  const bv = b.udp.via(a.key);
  assert.ok(av && bv && av.vni === bv.vni, 'both bound to one endpoint on the relay');
  assert.deepEqual(a.engine.udpChanges.map((c) => c.via?.vni), [av.vni]);
  assert.deepEqual(b.engine.udpChanges.map((c) => c.via?.vni), [bv.vni]);
  a.engine.forced = [av];
  b.engine.forced = [bv];
  a.router.linkChanged();
  b.router.linkChanged();
  const tcpBefore = hub.counters.delivered;
  const forwardedBefore = relay.core.stats().forwarded;
  assert.equal(await ping(3), 3);
  assert.equal(hub.counters.delivered, tcpBefore, 'nothing through the TCP relay once on the UDP relay');
  assert.ok(relay.core.stats().forwarded - forwardedBefore >= 3, 'the UDP relay forwarded the data');
  assert.equal(a.dev.stats().initiationsSent + b.dev.stats().initiationsSent, initiations, 'same WireGuard session');
  assert.equal(b.dev.peers()[0]!.endpoint!.address, `peer.${a.key}`, 'relayed WireGuard reaches the device from the virtual endpoint');
  assert.ok(a.router.peerPackets(b.key)!.udpRelay >= 3 && a.router.peerPackets(b.key)!.tcpRelay >= 2);
  // Discovery through the UDP relay reaches the peer's engine with the udp-relay Via.
  a.engine.next = [{ t: 'disco', peer: b.key, via: av, message: { type: 'ping', txId: new Uint8Array(12).fill(3), nodeKey: a.key } }];
  t.clock.advance(TRAFFIC_EVERY_MS);
  assert.equal(await ping(1), 1);
  const d = b.engine.discos.find((x) => x.via.kind === 'udp-relay');
  assert.ok(d && d.from === a.disco && d.message.type === 'ping');
  // Dropped by the engine: the client lets the path go and the engine hears of it.
  b.engine.next = [{ t: 'udp-relay', peer: a.key, relay: undefined }];
  b.tun.inject(ipv4Packet(b.tunAddress, a.tunAddress, 40));
  await settle();
  assert.equal(b.udp.via(a.key), undefined);
  assert.equal(b.engine.udpChanges.at(-1)?.via, undefined);
});

test('WireGuard dropped on the direct path while other UDP passes: the engine hears the silence, and the recovery', async () => {
  const { net, a, b, clock, settle, ping } = twoSites();
  const silent: { peer: string; via: Via }[] = [];
  let heard = 0;
  (a.engine as PathEngine).onWireGuardSilent = (peer, via) => (silent.push({ peer, via }), []);
  (a.engine as PathEngine).onWireGuardDirect = () => (heard++, []);
  assert.equal(await ping(), 1, 'direct works first');
  // An IPS rule on WireGuard's shape: message types 1-4 with three zero bytes dropped, anything else passes.
  net.tap = (p) => (p[0]! >= 1 && p[0]! <= 4 && p[1] === 0 && p[2] === 0 && p[3] === 0 ? 'drop' : 'pass');
  for (let t = 0; t < 13; t++) {
    a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 40));
    await settle();
    clock.advance(1000);
  }
  assert.equal(silent.length, 1, 'reported once after the keepalive timeout');
  assert.deepEqual(silent[0], { peer: b.key, via: { kind: 'direct', endpoint: b.at, socket: MESH_SOCKET } });
  net.tap = undefined;
  b.tun.inject(ipv4Packet(b.tunAddress, a.tunAddress, 40));
  await settle();
  assert.equal(heard, 1, 'WireGuard back on the direct path');
});

test('the relay says a peer is gone: the engine hears it', async () => {
  const { hub, a, b, settle } = twoSites({ mapEndpoints: false });
  const gone: string[] = [];
  (a.engine as PathEngine).onPeerGone = (peer, region, reason) => (gone.push(`${peer === b.key}:${region}:${reason}`), []);
  a.tun.inject(ipv4Packet(a.tunAddress, b.tunAddress, 40));
  await settle();
  hub.kill(b.key);
  await settle();
  assert.deepEqual(gone, ['true:r1:disconnected']);
});
