/**
 * The path router: the WireGuard device's Bind in a mesh node (docs/mesh-paths.md).
 * - Send: a virtual endpoint (virtual.ts) names a peer; the engine's `route` says where the packet
 *   goes (direct from one of our sockets, or a TCP relay region; two Vias = send on both). A real
 *   address is sent as it is from the mesh socket (plain WireGuard roaming).
 * - Receive: every socket's datagrams and every relay packet go through the demux. WireGuard from a
 *   socket is handed to the device from the peer's virtual endpoint when the engine knows the source
 *   (`peerForSource`), else from the real address; WireGuard from a relay from the sender's virtual
 *   endpoint. Discovery is opened and given to the engine; STUN goes to the node's STUN client.
 * - The engine's actions are performed here (seal and send discovery, extra sockets) through the loop,
 *   which owns the engine's one timer.
 * Hot path: a Map lookup by the endpoint's address string (the device keeps one endpoint object per
 * peer), one clock read, and `onTraffic` at most once per peer per TRAFFIC_EVERY_MS; nothing allocated.
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
import type { SocketSetEdge } from './sockets.ts';
import { MESH_SOCKET, type DiscoKeyHex, type NodeKeyHex, type PathAction, type PathEngine, type PathPeer, type RelayLink, type SocketId, type Via } from './types.ts';
import { virtualEndpoint } from './virtual.ts';
import { WgWatch } from './wg-watch.ts';

/** `onTraffic` at most this often per peer: the engine needs "traffic in the last 45 s", not every packet. */
export const TRAFFIC_EVERY_MS = 1000;
export const ROUTE_CACHE_MS = 250;
/** Source addresses remembered between engine calls (a spray of forged sources only refills it). */
const SOURCE_CACHE_MAX = 1024;

export interface RouterDeps {
  engine: PathEngine;
  sockets: SocketSetEdge;
  relay?: RelayLink | undefined;
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
  vias: Via[];
  viasRun: number;
  viasAtMs: number;
  /** Whether WireGuard sent directly gets WireGuard back (an IPS may drop it while discovery passes). */
  wg: WgWatch;
}

export interface RouterCounters {
  demux: Record<PacketKind, number>;
  /** Packets to a peer the engine had no path for yet (dropped; WireGuard retransmits). */
  noRoute: number;
  /** Packets for a virtual endpoint that is no longer a peer. */
  unknownPeer: number;
  /** WireGuard through a relay from a key that is not a peer. */
  relayUnknownSource: number;
  /** Discovery packets that did not open (bad box, unknown sender, replay). */
  discoRejected: number;
  /** Packets routed to a UDP relay (not carried by this node yet; dropped). */
  udpRelayDropped: number;
  sendErrors: number;
  /** Discovery or WireGuard from an address routed into our own tunnel (a path over the mesh itself): dropped. */
  tunnelSource: number;
}

export class PathRouter implements Bind {
  readonly counters: RouterCounters = { demux: { wg: 0, stun: 0, disco: 0, unknown: 0 }, noRoute: 0, unknownPeer: 0, relayUnknownSource: 0, discoRejected: 0, udpRelayDropped: 0, sendErrors: 0, tunnelSource: 0 };
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

  constructor(private readonly deps: RouterDeps) {
    this.loop = new PathLoop(deps.engine, deps.clock, (a) => this.perform(a), deps.log);
    this.opener = new BirthdayOpener({ sockets: deps.sockets, engine: deps.engine, clock: deps.clock, run: (a) => this.loop.run(a) });
    deps.sockets.onReceive((packet, from, socket) => this.fromSocket(packet, from, socket));
    deps.sockets.onSendError((socket, to) => this.sendError(socket, to));
    deps.relay?.onReceive((src, packet, region) => this.fromRelay(src, packet, region));
    deps.relay?.onPeerGone((key, region, reason) => {
      if (!this.closed && this.byKey.has(key)) this.loop.run(deps.engine.onPeerGone?.(key, region, reason, deps.clock.nowMs()) ?? []);
    });
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
        r = { key: p.nodeKey, discoKey: p.discoKey, virtual: virtualEndpoint(p.nodeKey), trafficAtMs: -Infinity, vias: [], viasRun: -1, viasAtMs: 0, wg: new WgWatch() };
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
    if (now - peer.trafficAtMs >= TRAFFIC_EVERY_MS) {
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
      return;
    }
    for (let i = 0; i < vias.length; i++) {
      const via = vias[i]!;
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
    this.opener.close();
    this.loop.stop();
  }

  private sendReal(packets: Uint8Array | Uint8Array[], to: Endpoint): void {
    if (Array.isArray(packets)) for (const p of packets) this.deps.sockets.send(MESH_SOCKET, p, to);
    else this.deps.sockets.send(MESH_SOCKET, packets, to);
  }

  private sendVia(peer: NodeKeyHex, packet: Uint8Array, via: Via): void {
    if (via.kind === 'direct') this.deps.sockets.send(via.socket, packet, via.endpoint);
    else if (via.kind === 'tcp-relay') {
      if (this.deps.relay) this.deps.relay.send(via.region, peer, packet);
      else this.counters.noRoute++;
    } else this.counters.udpRelayDropped++;
  }

  private fromSocket(packet: Uint8Array, from: Endpoint, socket: SocketId): void {
    const kind = classifyPacket(packet);
    this.counters.demux[kind]++;
    if (kind === 'wg') {
      const peer = this.peerFrom(from, socket);
      if (peer && peer.wg.heard()) this.loop.run(this.deps.engine.onWireGuardDirect?.(peer.key, this.deps.clock.nowMs()) ?? []);
      if (peer) this.deliver?.(packet, peer.virtual);
      else if (this.inTunnel(from.address)) this.counters.tunnelSource++;
      else this.deliver?.(packet, from);
    } else if (kind === 'disco') {
      if (this.inTunnel(from.address)) this.counters.tunnelSource++;
      else this.disco(packet, { kind: 'direct', endpoint: from, socket });
    }
    else if (kind === 'stun') this.deps.onStun?.(packet, from, socket);
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

  private disco(packet: Uint8Array, via: Via): void {
    if (this.closed) return;
    const opened = this.deps.disco.open(packet, this.isKnownDisco);
    if (!opened) {
      this.counters.discoRejected++;
      return;
    }
    let message = opened.message;
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
      this.sendVia(a.peer, this.deps.disco.seal(peer.discoKey, a.message), a.via);
    } else if (a.t === 're-stun') this.deps.onReStun?.();
    else if (a.t === 'close-sockets') this.deps.sockets.closeExtra(a.ids);
    else if (this.deps.onOpenSockets) this.deps.onOpenSockets(a.peer, a.count);
    else this.opener.open(a.peer, a.count);
  }
}
