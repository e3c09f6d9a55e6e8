/**
 * A whole mesh in one process for the discovery engine's tests: DiscoEngines with real sealed discovery
 * messages (DiscoSealer), an in-memory internet with modelled NATs (test/lab/model.ts NatBox: EIM / per-
 * address / per-endpoint mapping and filtering, chains for CGNAT), IPv6 without NAT, UDP-blocked sites, a
 * relay twin, a UDP relay twin (nodes with `udpRelay`, engines wrapped by UdpRelayEngine when the sim is
 * made with `{ udpRelays: true }`), and a discrete-event clock. The sim plays the path loop's part: it seals and sends what the
 * engines ask, opens what arrives and feeds it back, and runs STUN against two servers.
 * Everything is deterministic: seeded randomness, fixed latencies plus seeded jitter.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { DiscoEngine } from '../../agent/src/disco/engine.ts';
import { DiscoSealer } from '../../agent/src/disco/sealer.ts';
import { UdpRelayEngine } from '../../agent/src/disco/udp-relay-engine.ts';
import { isDisco } from '../../agent/src/mesh/demux.ts';
import type { NodeKeyHex, PathAction, PathEngine, PathPeer, SocketId, UdpRelayTarget, Via } from '../../agent/src/paths/types.ts';
import type { Endpoint } from '../../agent/src/wg/ports.ts';
import { NatBox } from '../lab/model.ts';
import type { FilteringType, MappingType } from '../lab/spec.ts';

export interface SimNodeSpec {
  name: string;
  /** The host's IPv4: private behind NATs, public without. */
  v4: string;
  /** Innermost first (a home NAT, then a CGNAT); each NAT's public address. */
  nats?: Array<{ mapping: MappingType; filtering: FilteringType; publicAddr: string }>;
  /** A global IPv6 address (no NAT). */
  v6?: string;
  udpBlocked?: boolean;
  region?: string;
  /** This node offers a UDP relay on its public IPv4, port UDP_RELAY_PORT. */
  udpRelay?: boolean;
}

export const UDP_RELAY_PORT = 41642;

export const MESH_PORT = 41641;
const STUN_SERVERS: Endpoint[] = [{ address: '192.0.2.1', port: 3478 }, { address: '192.0.2.2', port: 3478 }];
const WALL_BASE_MS = 1_700_000_000_000;
/** Stands for a WireGuard data packet in the sim (compared by identity). */
const DATA = new Uint8Array([4, 0, 0, 0]);

/** mulberry32: a tiny seeded PRNG. */
export function seededBytes(seed: number): (n: number) => Uint8Array {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) & 0xff;
  };
  return (n) => Uint8Array.from({ length: n }, next);
}

export class SimNode {
  readonly engine: PathEngine;
  readonly sealer: DiscoSealer;
  readonly nodeKey: NodeKeyHex;
  readonly boxes: NatBox[];
  /** socket id -> local port. */
  readonly sockets = new Map<SocketId, number>([[0, MESH_PORT]]);
  private nextSocket = 1;
  v6Broken = false;
  /** The UDP relay twin: the relay this node wants per peer, and the bound path (what the client reports). */
  readonly udpWants = new Map<NodeKeyHex, { relay: UdpRelayTarget; via?: Extract<Via, { kind: 'udp-relay' }> }>();
  /** This node's UDP relay is down (killed): it neither binds nor forwards. */
  udpRelayDown = false;
  stats = { opened: 0, closed: 0, pingsSent: 0, discoIn: 0, dropped: 0, sendErrors: 0, openRequests: 0, udpRelayed: 0 };
  actions: PathAction[] = [];
  endpoints: Endpoint[] = [];

  constructor(readonly spec: SimNodeSpec, readonly sim: MeshSim, seed: number) {
    const rnd = seededBytes(seed);
    const dsk = rnd(32);
    this.nodeKey = Buffer.from(rnd(32)).toString('hex');
    this.sealer = new DiscoSealer(dsk, x25519.getPublicKey(dsk), { randomBytes: rnd, wallMs: () => WALL_BASE_MS + sim.now });
    const disco = new DiscoEngine({ nodeKey: this.nodeKey }, { randomBytes: rnd });
    this.engine = sim.options.udpRelays ? new UdpRelayEngine(disco, { nodeKey: this.nodeKey }, { randomBytes: rnd }) : disco;
    this.boxes = (spec.nats ?? []).map((n) => new NatBox({ mapping: n.mapping, filtering: n.filtering }, n.publicAddr));
  }

  get name(): string {
    return this.spec.name;
  }

  get region(): string {
    return this.spec.region ?? 'r1';
  }

  publicV4(): string {
    return this.boxes.at(-1)?.publicAddr ?? this.spec.v4;
  }

  /** Performs engine actions like the path loop does. */
  perform(actions: PathAction[]): void {
    for (const a of actions) {
      this.actions.push(a);
      if (a.t === 're-stun') this.sim.at(20, () => this.stun());
      else if (a.t === 'open-sockets') this.openSockets(a.peer, a.count);
      else if (a.t === 'close-sockets') this.closeSockets(a.ids);
      else if (a.t === 'udp-relay') this.udpRelayWant(a.peer, a.relay);
      else this.sendDisco(a.peer, a.via, a.message);
    }
  }

  stun(): void {
    if (this.spec.udpBlocked) {
      this.endpoints = [];
      this.perform(this.engine.setSelf({ endpoints: [], mappingVariesByDest: undefined, udp: false }, this.sim.now));
      return;
    }
    const mapped = STUN_SERVERS.map((server) => this.translateOut({ addr: this.spec.v4, port: MESH_PORT }, { addr: server.address, port: server.port }));
    const eps: Endpoint[] = [{ address: mapped[0]!.addr, port: mapped[0]!.port }];
    if (this.boxes.length) eps.push({ address: this.spec.v4, port: MESH_PORT });
    if (this.spec.v6) eps.push({ address: this.spec.v6, port: MESH_PORT });
    this.endpoints = eps;
    const varies = this.boxes.length === 0 ? false : mapped[0]!.port !== mapped[1]!.port;
    this.perform(this.engine.setSelf({ endpoints: eps, mappingVariesByDest: varies, udp: true }, this.sim.now));
  }

  translateOut(src: { addr: string; port: number }, dst: { addr: string; port: number }): { addr: string; port: number } {
    let s = src;
    for (const b of this.boxes) s = b.outbound(s, dst);
    return s;
  }

  /** Through our NATs from outside to a public port; the local socket it reaches, or undefined. */
  translateIn(from: { addr: string; port: number }, port: number): SocketId | undefined {
    let dst: { addr: string; port: number } | null = { addr: this.publicV4(), port };
    for (const b of [...this.boxes].reverse()) {
      dst = b.inbound(from, dst.port);
      if (!dst) return undefined;
    }
    for (const [id, p] of this.sockets) if (p === dst.port) return id;
    return undefined;
  }

  private openSockets(peer: NodeKeyHex, count: number): void {
    this.stats.openRequests++;
    const ids: SocketId[] = [];
    for (let i = 0; i < count; i++) {
      const id = this.nextSocket++;
      this.sockets.set(id, 50000 + id);
      ids.push(id);
    }
    this.stats.opened += ids.length;
    this.sim.at(1, () => this.perform(this.engine.onSocketsOpened(peer, ids, this.sim.now)));
  }

  private closeSockets(ids: SocketId[]): void {
    for (const id of ids) if (id !== 0 && this.sockets.delete(id)) this.stats.closed++;
  }

  /** The UDP relay client's part: bind one round trip to the relay later (the relay gives a pair one VNI). */
  private udpRelayWant(peer: NodeKeyHex, relay: UdpRelayTarget | undefined): void {
    if (!relay) {
      this.udpWants.delete(peer);
      return;
    }
    const want: { relay: UdpRelayTarget; via?: Extract<Via, { kind: 'udp-relay' }> } = { relay };
    this.udpWants.set(peer, want);
    const node = this.sim.nodes.find((n) => n.nodeKey === relay.nodeKey);
    const rtt = 2 * this.sim.udpRelayOneWayMs;
    this.sim.at(rtt, () => {
      if (this.udpWants.get(peer) !== want || !node || node.udpRelayDown || this.spec.udpBlocked) return;
      const pair = [this.nodeKey, peer].sort().join('');
      want.via = { kind: 'udp-relay', relay: relay.endpoint, vni: parseInt(pair.slice(0, 6), 16), socket: 0 };
      this.perform(this.engine.onUdpRelay!(peer, want.via, this.sim.now));
    });
  }

  private sendDisco(peer: NodeKeyHex, via: Via, message: Parameters<DiscoSealer['seal']>[1]): void {
    const dst = this.sim.node(peer);
    if (!dst) return;
    const packet = this.sealer.seal(dst.sealer.publicKeyHex, message);
    if (message.type === 'ping') this.stats.pingsSent++;
    if (via.kind === 'udp-relay') {
      // Forwarded only while the relay runs and both sides are bound to the same endpoint.
      const relay = this.sim.nodes.find((n) => n.nodeKey === this.udpWants.get(peer)?.relay.nodeKey);
      const back = dst.udpWants.get(this.nodeKey)?.via;
      if (!relay || !back || back.vni !== via.vni) return;
      this.stats.udpRelayed++;
      this.sim.at(2 * this.sim.udpRelayOneWayMs, () => {
        if (!relay.udpRelayDown && dst.udpWants.get(this.nodeKey)?.via === back) dst.receive(packet, back);
      });
      return;
    }
    if (via.kind === 'tcp-relay') {
      this.sim.at(this.sim.relayOneWayMs, () => dst.receive(packet, { kind: 'tcp-relay', region: via.region }));
      return;
    }
    if (via.kind !== 'direct') return;
    if (!this.sockets.has(via.socket)) return;
    const sent = this.sim.sendUdp(this, via.socket, via.endpoint, packet);
    if (sent === 'error') {
      this.stats.sendErrors++;
      this.perform(this.engine.onSendError(peer, via, this.sim.now));
    }
  }

  receive(packet: Uint8Array, via: Via): void {
    if (packet === DATA) {
      const from = via.kind === 'direct' ? this.engine.peerForSource(via.endpoint, via.socket) : undefined;
      if (from) this.perform(this.engine.onReceive(from, via, this.sim.now));
      return;
    }
    if (!isDisco(packet)) return;
    try {
      const opened = this.sealer.open(packet, (k) => this.sim.nodes.some((n) => n.sealer.publicKeyHex === k));
      if (!opened.message) return;
      this.stats.discoIn++;
      this.perform(this.engine.onDisco(opened.senderHex, opened.message, via, this.sim.now));
    } catch {
      this.stats.dropped++;
    }
  }

  /** What the coordinator would tell peers about this node. */
  asPeer(): PathPeer {
    return { nodeKey: this.nodeKey, discoKey: this.sealer.publicKeyHex, endpoints: [...this.endpoints], homeRelay: this.region, ...(this.spec.udpRelay ? { udpRelay: `${this.publicV4()}:${UDP_RELAY_PORT}` } : {}) };
  }
}

interface SimEvent {
  atMs: number;
  seq: number;
  fn: () => void;
}

export class MeshSim {
  now = 0;
  readonly nodes: SimNode[] = [];
  relayOneWayMs = 30;
  /** One-way latency to or from a UDP relay node (a relayed datagram takes two). */
  udpRelayOneWayMs = 15;
  /** One-way latency of a direct datagram; tests override it (jitter, per-family). */
  latency: (from: SimNode, to: SimNode, v6: boolean) => number = () => 10;
  /** Direct UDP between these two nodes is dropped (both directions) while this says so. */
  blocked: (a: SimNode, b: SimNode) => boolean = () => false;
  private events: SimEvent[] = [];
  private seq = 0;

  /** `seed` varies every node's keys, transaction ids and birthday ports (repeatable runs per seed). */
  constructor(private readonly seed = 0, readonly options: { udpRelays?: boolean } = {}) {}

  add(spec: SimNodeSpec): SimNode {
    const n = new SimNode(spec, this, 1000 + this.seed * 104_729 + this.nodes.length * 7919);
    this.nodes.push(n);
    return n;
  }

  node(key: NodeKeyHex): SimNode | undefined {
    return this.nodes.find((n) => n.nodeKey === key);
  }

  at(delayMs: number, fn: () => void): void {
    this.events.push({ atMs: this.now + delayMs, seq: this.seq++, fn });
  }

  /** STUN on every node, then every node learns the others from the "coordinator". */
  start(): void {
    for (const n of this.nodes) n.stun();
    for (const n of this.nodes) n.perform(n.engine.setPeers(this.nodes.filter((o) => o !== n).map((o) => o.asPeer()), this.now));
  }

  /** Both sides send traffic to each other every `everyMs` from now until `untilMs`; `b` starts
   * `bDelayMs` later (the answer to a's first packet, which crossed the relay). Each packet takes the
   * sender's route: on a direct path it reaches the peer (or not: NATs, blocks) and the peer's engine
   * hears of it (`onReceive`), as the path router reports WireGuard data. */
  traffic(a: SimNode, b: SimNode, untilMs: number, everyMs = 100, bDelayMs = 0): void {
    const start = this.now;
    const step = () => {
      if (this.now > untilMs) return;
      this.sendData(a, b);
      if (this.now >= start + bDelayMs) this.sendData(b, a);
      this.at(everyMs, step);
    };
    step();
  }

  /** One data packet from `a` to `b` along a's route (the WireGuard bytes do not matter here). */
  sendData(a: SimNode, b: SimNode): void {
    a.perform(a.engine.onTraffic(b.nodeKey, this.now));
    for (const via of a.engine.route(b.nodeKey, this.now)) {
      if (via.kind === 'direct' && a.sockets.has(via.socket)) this.sendUdp(a, via.socket, via.endpoint, DATA);
    }
  }

  sendUdp(from: SimNode, socket: SocketId, to: Endpoint, packet: Uint8Array): 'sent' | 'error' | 'dropped' {
    const v6 = to.address.includes(':');
    if (v6) {
      if (!from.spec.v6 || from.v6Broken) return 'error';
      const dst = this.nodes.find((n) => n.spec.v6 === to.address);
      if (!dst || from.spec.udpBlocked || dst.spec.udpBlocked || this.blocked(from, dst) || to.port !== MESH_PORT) return 'dropped';
      const src = { address: from.spec.v6, port: MESH_PORT };
      this.at(this.latency(from, dst, true), () => dst.receive(packet, { kind: 'direct', endpoint: src, socket: 0 }));
      return 'sent';
    }
    if (from.spec.udpBlocked) return 'dropped';
    const dst = this.nodes.find((n) => n.publicV4() === to.address);
    if (!dst || dst === from || dst.spec.udpBlocked || this.blocked(from, dst)) return 'dropped';
    const src = from.translateOut({ addr: from.spec.v4, port: from.sockets.get(socket)! }, { addr: to.address, port: to.port });
    this.at(this.latency(from, dst, false), () => {
      const sock = dst.translateIn(src, to.port);
      if (sock === undefined) return;
      dst.receive(packet, { kind: 'direct', endpoint: { address: src.addr, port: src.port }, socket: sock });
    });
    return 'sent';
  }

  /** Runs events and engine timers in time order up to `untilMs`. */
  runUntil(untilMs: number): void {
    for (;;) {
      let next = Infinity;
      for (const e of this.events) if (e.atMs < next) next = e.atMs;
      for (const n of this.nodes) {
        const w = n.engine.nextWakeMs();
        if (w !== undefined && w < next) next = w;
      }
      if (next > untilMs) break;
      this.now = Math.max(this.now, next);
      const due = this.events.filter((e) => e.atMs <= this.now).sort((a, b) => a.atMs - b.atMs || a.seq - b.seq);
      this.events = this.events.filter((e) => e.atMs > this.now);
      for (const e of due) e.fn();
      for (const n of this.nodes) {
        const w = n.engine.nextWakeMs();
        if (w !== undefined && w <= this.now) n.perform(n.engine.tick(this.now));
      }
    }
    this.now = Math.max(this.now, untilMs);
  }

  /** Runs until `pred` holds (checked after every step) or `maxMs` passes; returns the time or undefined. */
  runUntilTrue(pred: () => boolean, maxMs: number): number | undefined {
    const end = this.now + maxMs;
    while (this.now < end) {
      if (pred()) return this.now;
      this.runUntil(Math.min(end, this.now + 5));
    }
    return pred() ? this.now : undefined;
  }
}

/** The kinds route() returns, e.g. 'direct', 'direct+tcp-relay', 'tcp-relay'. */
export function routeOf(a: SimNode, b: SimNode, nowMs: number): string {
  return a.engine.route(b.nodeKey, nowMs).map((v) => v.kind).join('+');
}
