/**
 * The path router: the WireGuard device's Bind in a mesh node (docs/mesh-paths.md).
 * - Send: a virtual endpoint (virtual.ts) names a peer; the engine's `route` says where the packet
 *   goes (direct from one of our sockets, a UDP relay through a node, or a TCP relay region; two Vias =
 *   send on both). A real
 *   address is sent as it is from the mesh socket (plain WireGuard roaming).
 * - Receive: every socket's datagrams and every relay packet go through the demux. WireGuard from a
 *   socket is handed to the device from the peer's virtual endpoint when the engine knows the source
 *   (`peerForSource`), else from the real address; WireGuard from a relay from the sender's virtual
 *   endpoint. Discovery is opened and given to the engine; STUN goes to the node's STUN client. UDP relay
 *   packets (first byte 0xCB, never a WireGuard or discovery first byte) go to the UDP relay client, whose
 *   WireGuard payloads reach the device from the sender's virtual endpoint too.
 * - The engine's actions are performed here (seal and send discovery, extra sockets) through the loop,
 *   which owns the engine's one timer.
 * Hot path: a Map lookup by the endpoint's address string (the device keeps one endpoint object per
 * peer), one clock read, and `onTraffic` at most once per peer per TRAFFIC_EVERY_MS, or at the first send after
 * a reported receive (at most one per RECEIVE_EVERY_MS then); nothing allocated.
 * The engine's answers are cached until the engine is next called (any event can change them): the
 * route per peer also for at most ROUTE_CACHE_MS (trust expires with time alone, and may take that
 * much longer to notice), and the peer per socket and source address (bounded). Measured with
 * `bench/paths.ts`: without the caches the discovery engine's route and source lookups (an array and
 * a string per packet) cost about a fifth of the in-memory device throughput.
 */
import type { Clock } from '../clock/clock.ts';
import type { Logger } from '../log/logger.ts';
import { classifyPacket, type PacketKind } from '../mesh/demux.ts';
import { cidrContains, parseCidr, parseIp, type Cidr } from '../net/ip.ts';
import type { Bind, Endpoint, UdpHandler } from '../wg/ports.ts';
import { BirthdayOpener } from './birthday-open.ts';
import type { DiscoBox } from './disco-box.ts';
import { PathLoop } from './loop.ts';
import { HeldPackets } from './held.ts';
import { PeerProbes, type ProbeResult } from './probe.ts';
import type { SocketSetEdge } from './sockets.ts';
import type { UdpRelayClientApi } from '../relay/udp/types.ts';
import { MESH_SOCKET, type DiscoKeyHex, type NodeKeyHex, type PathAction, type PathEngine, type PathPeer, type RelayLink, type SocketId, type Via } from './types.ts';
import { virtualEndpoint } from './virtual.ts';
import { WgWatch } from './wg-watch.ts';

/** `onTraffic` at most this often per peer: the engine needs "traffic in the last 45 s", not every packet. */
export const TRAFFIC_EVERY_MS = 1000;
export const ROUTE_CACHE_MS = 250;
/** `onReceive` (WireGuard from a direct source) at most this often per peer: the engine's silence check
 * (0.5 s, agent/src/disco/timing.ts SILENCE_MS) needs to know the path answered, not every packet. */
export const RECEIVE_EVERY_MS = 250;
export { HOLD_MAX, HOLD_MS } from './held.ts';
/** Source addresses remembered between engine calls (a spray of forged sources only refills it). */
const SOURCE_CACHE_MAX = 1024;

export interface RouterDeps {
  engine: PathEngine;
  sockets: SocketSetEdge;
  relay?: RelayLink | undefined;
  /** The UDP relay client (relay paths through nodes); absent: such routes are dropped and counted. */
  udpRelay?: UdpRelayClientApi | undefined;
  disco: DiscoBox;
  clock: Clock;
  log: Logger;
  /** STUN answers from any socket (the mesh STUN client matches them by transaction id). */
  onStun?: (packet: Uint8Array, from: Endpoint, socket: SocketId) => void;
  onReStun?: () => void;
  /** Takes `open-sockets` instead of the router's birthday opener (which opens them and tells the engine). */
  onOpenSockets?: (peer: NodeKeyHex, count: number) => void;
}

interface RoutedPeer {
  key: NodeKeyHex;
  discoKey: DiscoKeyHex;
  virtual: Endpoint;
  trafficAtMs: number;
  receivedAtMs: number;
  vias: Via[];
  viasRun: number;
  viasAtMs: number;
  /** WireGuard packets sent per path kind (status shows them: which path carried the tunnel). */
  sent: PeerPathPackets;
  /** Whether WireGuard sent directly gets WireGuard back (an IPS may drop it while discovery passes). */
  wg: WgWatch;
}

export interface PeerPathPackets {
  direct: number;
  udpRelay: number;
  tcpRelay: number;
}

export interface RouterCounters {
  demux: Record<PacketKind, number>;
  /** Packets to a peer the engine had no path for yet (held up to HOLD_MS; dropped after that or past HOLD_MAX). */
  noRoute: number;
  /** Held packets sent once a route appeared. */
  heldSent: number;
  /** Packets for a virtual endpoint that is no longer a peer. */
  unknownPeer: number;
  /** WireGuard through a relay from a key that is not a peer. */
  relayUnknownSource: number;
  /** Discovery packets that did not open (bad box, unknown sender, replay). */
  discoRejected: number;
  /** Packets routed to a UDP relay while no UDP relay client runs (dropped). */
  udpRelayDropped: number;
  /** Datagrams the UDP relay client took (control and relayed data). */
  udpRelayIn: number;
  sendErrors: number;
  /** Discovery or WireGuard from an address routed into our own tunnel (a path over the mesh itself): dropped. */
  tunnelSource: number;
}

export class PathRouter implements Bind {
  readonly counters: RouterCounters = { demux: { wg: 0, stun: 0, disco: 0, unknown: 0 }, noRoute: 0, heldSent: 0, unknownPeer: 0, relayUnknownSource: 0, discoRejected: 0, udpRelayDropped: 0, udpRelayIn: 0, sendErrors: 0, tunnelSource: 0 };
  readonly loop: PathLoop;
  readonly opener: BirthdayOpener;
  private readonly byKey = new Map<NodeKeyHex, RoutedPeer>();
  private readonly byVirtual = new Map<string, RoutedPeer>();
  private readonly byDisco = new Map<DiscoKeyHex, RoutedPeer>();
  private deliver: UdpHandler | undefined;
  /** Socket -> source address -> port -> peer (null: not a peer's), valid while loop.runs === sourcesRun. */
  private readonly sources = new Map<SocketId, Map<string, Map<number, RoutedPeer | null>>>();
  private sourcesRun = -1;
  private sourcesSize = 0;
  private readonly isKnownDisco = (k: DiscoKeyHex) => this.byDisco.has(k);
  private closed = false;
  private tunnel: Cidr[] = [];
  private readonly tunnelMemo = new Map<string, boolean>();
  private readonly probes = new PeerProbes();
  private readonly held = new HeldPackets<RoutedPeer>();

  constructor(private readonly deps: RouterDeps) {
    this.loop = new PathLoop(deps.engine, deps.clock, (a) => this.perform(a), deps.log, () => this.flushHeld());
    this.opener = new BirthdayOpener({ sockets: deps.sockets, engine: deps.engine, clock: deps.clock, run: (a) => this.loop.run(a) });
    deps.sockets.onReceive((packet, from, socket) => this.fromSocket(packet, from, socket));
    deps.sockets.onSendError((socket, to) => this.sendError(socket, to));
    deps.relay?.onReceive((src, packet, region) => this.fromRelay(src, packet, region));
    deps.udpRelay?.onPacket((peer, payload, protocol, via) => this.fromUdpRelay(peer, payload, protocol, via));
    deps.udpRelay?.onChange((peer, via) => {
      if (!this.closed && deps.engine.onUdpRelay) this.loop.run(deps.engine.onUdpRelay(peer, via, deps.clock.nowMs()));
    });
    deps.relay?.onPeerGone((key, region, reason) => {
      if (!this.closed && this.byKey.has(key)) this.loop.run(deps.engine.onPeerGone?.(key, region, reason, deps.clock.nowMs()) ?? []);
    });
  }

  /** `conegate ping`: a discovery ping on every path the peer's packets take now; the first pong wins. */
  probe(peer: NodeKeyHex, txId: Uint8Array, nodeKey: NodeKeyHex, timeoutMs: number): Promise<ProbeResult | undefined> {
    const p = this.byKey.get(peer);
    const vias = p ? this.deps.engine.route(peer, this.deps.clock.nowMs()) : [];
    if (!p || vias.length === 0 || this.closed) return Promise.resolve(undefined);
    const { clock } = this.deps;
    const done = this.probes.start(peer, Buffer.from(txId).toString('hex'), clock.nowMs(), timeoutMs, (ms, fn) => clock.setTimer(ms, fn));
    for (const via of vias) this.sendVia(peer, this.deps.disco.seal(p.discoKey, { type: 'ping', txId, nodeKey }), via, 'disco');
    return done;
  }

  /** WireGuard packets sent to `peer` per path kind, since the peer appeared. */
  peerPackets(peer: NodeKeyHex): PeerPathPackets | undefined {
    const p = this.byKey.get(peer);
    return p ? { ...p.sent } : undefined;
  }

  get localPort(): number | undefined {
    return this.deps.sockets.localPort(MESH_SOCKET);
  }

  /** The peers from the map; returns each peer's virtual endpoint (what the device gets as endpoint). */
  setPeers(peers: PathPeer[]): Map<NodeKeyHex, Endpoint> {
    const keep = new Set(peers.map((p) => p.nodeKey));
    for (const [key, p] of this.byKey) {
      if (keep.has(key)) continue;
      this.byKey.delete(key);
      this.byVirtual.delete(p.virtual.address);
      if (this.byDisco.get(p.discoKey) === p) this.byDisco.delete(p.discoKey);
    }
    const out = new Map<NodeKeyHex, Endpoint>();
    for (const p of peers) {
      let r = this.byKey.get(p.nodeKey);
      if (!r) {
        r = { key: p.nodeKey, discoKey: p.discoKey, virtual: virtualEndpoint(p.nodeKey), trafficAtMs: -Infinity, receivedAtMs: -Infinity, vias: [], viasRun: -1, viasAtMs: 0, sent: { direct: 0, udpRelay: 0, tcpRelay: 0 }, wg: new WgWatch() };
        this.byKey.set(p.nodeKey, r);
        this.byVirtual.set(r.virtual.address, r);
      } else if (r.discoKey !== p.discoKey) {
        if (this.byDisco.get(r.discoKey) === r) this.byDisco.delete(r.discoKey);
        r.discoKey = p.discoKey;
      }
      this.byDisco.set(p.discoKey, r);
      out.set(p.nodeKey, r.virtual);
    }
    const usable = peers.map((p) => ({ ...p, endpoints: p.endpoints.filter((e) => !this.inTunnel(e.address)) }));
    this.loop.run(this.deps.engine.setPeers(usable, this.deps.clock.nowMs()));
    return out;
  }

  /**
   * The prefixes routed into our own TUN (peers' mesh addresses and accepted subnet routes). A candidate
   * inside them would be reached THROUGH the tunnel: a "direct" path that is really WireGuard inside
   * WireGuard, with a low RTT that wins the score and then breaks when the tunnel under it moves. Such
   * candidates are never given to the engine (map, call-me-maybe) and such sources never heard (peer-
   * reflexive), so a path is always outside the mesh. Call before setPeers when the routes change.
   */
  setTunnelPrefixes(cidrs: string[]): void {
    this.tunnel = cidrs.map((c) => parseCidr(c, { loose: true })).filter((c): c is Cidr => c !== undefined);
    this.tunnelMemo.clear();
  }

  private inTunnel(address: string): boolean {
    if (this.tunnel.length === 0) return false;
    let hit = this.tunnelMemo.get(address);
    if (hit !== undefined) return hit;
    const ip = parseIp(address);
    hit = ip !== undefined && this.tunnel.some((c) => cidrContains(c, ip.bytes));
    // Bounded: sources come from the network; past the bound the memo starts over.
    if (this.tunnelMemo.size >= 4096) this.tunnelMemo.clear();
    this.tunnelMemo.set(address, hit);
    return hit;
  }

  setSelf(self: Parameters<PathEngine['setSelf']>[0]): void {
    this.loop.run(this.deps.engine.setSelf(self, this.deps.clock.nowMs()));
  }

  linkChanged(): void {
    this.loop.run(this.deps.engine.onLinkChange(this.deps.clock.nowMs()));
  }

  onReceive(handler: UdpHandler): void {
    this.deliver = handler;
  }

  send(packets: Uint8Array | Uint8Array[], to: Endpoint): void {
    if (this.closed) return;
    if (to.port !== 0) return this.sendReal(packets, to);
    const peer = this.byVirtual.get(to.address);
    if (peer === undefined) {
      this.counters.unknownPeer += Array.isArray(packets) ? packets.length : 1;
      return;
    }
    const { engine, clock } = this.deps;
    const now = clock.nowMs();
    // Also the first send after a reported receive, at once: "sent but nothing received" (disco/timing.ts
    // SILENCE_MS) needs to know we sent after the last thing heard, and a TCP sender whose ACKs stopped
    // sends only its retransmissions (0.2, 0.6, 1.4 s...), which the 1 s limit would mostly hide.
    if (now - peer.trafficAtMs >= TRAFFIC_EVERY_MS || (peer.trafficAtMs <= peer.receivedAtMs && now > peer.receivedAtMs)) {
      peer.trafficAtMs = now;
      this.loop.run(engine.onTraffic(peer.key, now));
    }
    if (peer.viasRun !== this.loop.runs || now - peer.viasAtMs >= ROUTE_CACHE_MS) {
      peer.vias = engine.route(peer.key, now);
      peer.viasRun = this.loop.runs;
      peer.viasAtMs = now;
    }
    const vias = peer.vias;
    if (vias.length === 0) {
      this.counters.noRoute += Array.isArray(packets) ? packets.length : 1;
      this.held.hold(peer, packets, now);
      return;
    }
    for (let i = 0; i < vias.length; i++) {
      const via = vias[i]!;
      const n = Array.isArray(packets) ? packets.length : 1;
      if (via.kind === 'direct') peer.sent.direct += n;
      else if (via.kind === 'udp-relay') peer.sent.udpRelay += n;
      else peer.sent.tcpRelay += n;
      if (Array.isArray(packets)) for (let j = 0; j < packets.length; j++) this.sendVia(peer.key, packets[j]!, via);
      else this.sendVia(peer.key, packets, via);
    }
    this.watchDirect(peer, packets, vias, now);
  }

  /** WireGuard sent on a direct path that never answers while discovery does: tell the engine (wg-watch.ts). */
  private watchDirect(peer: RoutedPeer, packets: Uint8Array | Uint8Array[], vias: Via[], now: number): void {
    const via = vias[0]?.kind === 'direct' ? vias[0] : vias[1]?.kind === 'direct' ? vias[1] : undefined;
    if (!via) return peer.wg.notDirect();
    let silent = false;
    if (Array.isArray(packets)) for (let j = 0; j < packets.length; j++) silent = peer.wg.sent(packets[j]!, now) || silent;
    else silent = peer.wg.sent(packets, now);
    if (silent) this.loop.run(this.deps.engine.onWireGuardSilent?.(peer.key, via, now) ?? []);
  }

  close(): void {
    this.closed = true;
    this.probes.close();
    this.held.clear();
    this.opener.close();
    this.loop.stop();
  }

  /** After each engine call: packets held for a peer that has a route now go out (stale ones are dropped). */
  private flushHeld(): void {
    if (this.held.size === 0 || this.closed) return;
    const now = this.deps.clock.nowMs();
    const ready = this.held.release(now, (peer) => (this.byKey.has(peer.key) ? this.deps.engine.route(peer.key, now) : undefined));
    for (const { peer, packets, vias } of ready) {
      this.counters.heldSent += packets.length;
      for (const via of vias) for (const p of packets) this.sendVia(peer.key, p, via);
    }
  }

  private sendReal(packets: Uint8Array | Uint8Array[], to: Endpoint): void {
    if (Array.isArray(packets)) for (const p of packets) this.deps.sockets.send(MESH_SOCKET, p, to);
    else this.deps.sockets.send(MESH_SOCKET, packets, to);
  }

  private sendVia(peer: NodeKeyHex, packet: Uint8Array, via: Via, protocol: 'wireguard' | 'disco' = 'wireguard'): void {
    if (via.kind === 'direct') this.deps.sockets.send(via.socket, packet, via.endpoint);
    else if (via.kind === 'tcp-relay') {
      if (this.deps.relay) this.deps.relay.send(via.region, peer, packet);
      else this.counters.noRoute++;
    } else if (this.deps.udpRelay) this.deps.udpRelay.send(via, packet, protocol);
    else this.counters.udpRelayDropped++;
  }

  private fromSocket(packet: Uint8Array, from: Endpoint, socket: SocketId): void {
    const kind = classifyPacket(packet);
    if (kind === 'unknown' && this.deps.udpRelay?.receive(packet, from, socket)) {
      this.counters.udpRelayIn++;
      return;
    }
    this.counters.demux[kind]++;
    if (kind === 'wg') {
      const peer = this.peerFrom(from, socket);
      if (peer) {
        if (peer.wg.heard()) this.loop.run(this.deps.engine.onWireGuardDirect?.(peer.key, this.deps.clock.nowMs()) ?? []);
        this.received(peer, from, socket);
        this.deliver?.(packet, peer.virtual);
      }
      else if (this.inTunnel(from.address)) this.counters.tunnelSource++;
      else this.deliver?.(packet, from);
    } else if (kind === 'disco') {
      if (this.inTunnel(from.address)) this.counters.tunnelSource++;
      else this.disco(packet, { kind: 'direct', endpoint: from, socket });
    }
    else if (kind === 'stun') this.deps.onStun?.(packet, from, socket);
  }

  /** Tells the engine the path works (rate-limited; no loop run: it changes no route, cache or timer). */
  private received(peer: RoutedPeer, from: Endpoint, socket: SocketId): void {
    const now = this.deps.clock.nowMs();
    if (now - peer.receivedAtMs < RECEIVE_EVERY_MS) return;
    peer.receivedAtMs = now;
    const actions = this.deps.engine.onReceive(peer.key, { kind: 'direct', endpoint: from, socket }, now);
    if (actions.length) this.loop.run(actions);
  }

  private peerFrom(from: Endpoint, socket: SocketId): RoutedPeer | undefined {
    if (this.sourcesRun !== this.loop.runs || this.sourcesSize >= SOURCE_CACHE_MAX) {
      this.sources.clear();
      this.sourcesSize = 0;
      this.sourcesRun = this.loop.runs;
    }
    let addrs = this.sources.get(socket);
    if (!addrs) this.sources.set(socket, (addrs = new Map()));
    let ports = addrs.get(from.address);
    let hit = ports?.get(from.port);
    if (hit === undefined) {
      hit = this.lookupSource(from, socket);
      if (!ports) addrs.set(from.address, (ports = new Map()));
      ports.set(from.port, hit);
      this.sourcesSize++;
    }
    return hit ?? undefined;
  }

  private lookupSource(from: Endpoint, socket: SocketId): RoutedPeer | null {
    const key = this.deps.engine.peerForSource(from, socket);
    return (key === undefined ? undefined : this.byKey.get(key)) ?? null;
  }

  private fromRelay(src: NodeKeyHex, packet: Uint8Array, region: string): void {
    if (this.closed) return;
    const kind = classifyPacket(packet);
    this.counters.demux[kind]++;
    if (kind === 'wg') {
      const peer = this.byKey.get(src);
      if (peer && peer.wg.heardRelayed(packet, this.deps.clock.nowMs())) this.relayedRetransmit(peer);
      if (peer) this.deliver?.(packet, peer.virtual);
      else this.counters.relayUnknownSource++;
    } else if (kind === 'disco') this.disco(packet, { kind: 'tcp-relay', region });
  }

  private fromUdpRelay(key: NodeKeyHex, payload: Uint8Array, protocol: 'wireguard' | 'disco', via: Via): void {
    if (this.closed) return;
    const kind = classifyPacket(payload);
    if (protocol === 'wireguard' && kind === 'wg') {
      const peer = this.byKey.get(key);
      if (peer) this.deliver?.(payload, peer.virtual);
      else this.counters.relayUnknownSource++;
    } else if (protocol === 'disco' && kind === 'disco') this.disco(payload, via);
  }

  private disco(packet: Uint8Array, via: Via): void {
    if (this.closed) return;
    const opened = this.deps.disco.open(packet, this.isKnownDisco);
    if (!opened) {
      this.counters.discoRejected++;
      return;
    }
    let message = opened.message;
    const from = message.type === 'pong' ? this.byDisco.get(opened.from) : undefined;
    if (from && message.type === 'pong' && this.probes.onPong(from.key, Buffer.from(message.txId).toString('hex'), via, this.deps.clock.nowMs())) return;
    if (message.type === 'call-me-maybe') message = { ...message, endpoints: message.endpoints.filter((e) => !this.inTunnel(e.address)) };
    this.loop.run(this.deps.engine.onDisco(opened.from, message, via, this.deps.clock.nowMs()));
  }

  /** The peer retransmits its initiation through the relay although we answered directly: our direct
   * WireGuard is lost (wg-watch.ts); the engine hears it against the direct path we used. */
  private relayedRetransmit(peer: RoutedPeer): void {
    const via = peer.vias.find((v) => v.kind === 'direct');
    if (via) this.loop.run(this.deps.engine.onWireGuardSilent?.(peer.key, via, this.deps.clock.nowMs()) ?? []);
  }

  private sendError(socket: SocketId, to: Endpoint): void {
    this.counters.sendErrors++;
    if (this.closed) return;
    const key = this.deps.engine.peerForSource(to, socket);
    if (key === undefined) return;
    this.loop.run(this.deps.engine.onSendError(key, { kind: 'direct', endpoint: to, socket }, this.deps.clock.nowMs()));
  }

  private perform(a: PathAction): void {
    if (this.closed) return;
    if (a.t === 'disco') {
      const peer = this.byKey.get(a.peer);
      if (!peer) return;
      this.sendVia(a.peer, this.deps.disco.seal(peer.discoKey, a.message), a.via, 'disco');
    } else if (a.t === 're-stun') this.deps.onReStun?.();
    else if (a.t === 'udp-relay') {
      if (a.relay) this.deps.udpRelay?.want(a.peer, a.relay);
      else this.deps.udpRelay?.drop(a.peer);
    }
    else if (a.t === 'close-sockets') this.deps.sockets.closeExtra(a.ids);
    else if (this.deps.onOpenSockets) this.deps.onOpenSockets(a.peer, a.count);
    else this.opener.open(a.peer, a.count);
  }
}
