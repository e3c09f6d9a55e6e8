/**
 * The path engine with UDP relays through nodes: wraps the discovery engine (engine.ts) and adds the middle
 * step of the preference direct > UDP relay > TCP relay without touching its rounds and timers.
 * - Which relay: `chooseUdpRelay` over the peers that advertise one (rendezvous hashing: both sides of a pair
 *   pick the same node from the same map, so neither asks the other first).
 * - Allocation goes straight to that node, sealed to its discovery key; the node admits only members of
 *   the coordinator's map. Not through the coordinator (a round trip through a server that may be away,
 *   for a decision both sides can make alone) nor the TCP relay (which this path exists to avoid).
 * - When (udp-relay-choice.ts): discovery gave up on direct for now, or ran 5 s without a pong. The engine
 *   emits a `udp-relay` action; the loop's UDP relay client allocates and binds, and reports the bound path
 *   with `onUdpRelay`. Then pings go through it; after the first pong the tunnel's packets go there instead
 *   of the TCP relay (same virtual endpoint: the WireGuard session and TCP streams inside carry on).
 * - Direct keeps being probed by the discovery engine; a trusted direct path wins and the UDP relay is let go.
 * - A ping through the UDP relay unanswered for 1 s (or 3 RTTs) sends a copy through the TCP relay again;
 *   3 lost heartbeats drop the UDP relay path, asked for again after 30 s.
 */
import type { DiscoKeyHex, NodeKeyHex, PathAction, PathEngine, PathPeer, PeerPathStatus, SocketId, Via } from '../paths/types.ts';
import { chooseUdpRelay } from '../relay/udp/choose.ts';
import type { Endpoint } from '../wg/ports.ts';
import type { DiscoMessage } from './types.ts';
import {
  isActive, newUdpRelayPeer, relayChoice, rttOf, shouldWant, trustEdgeMs, udpStatusState, usable, UDP_RELAY_TIMING,
  type UdpRelayPeer, type UdpVia,
} from './udp-relay-choice.ts';
import { ACTIVE_MS, PING_TIMEOUT_MS, RTT_SAMPLES } from './timing.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const EVENT_MAX = 16;

export class UdpRelayEngine implements PathEngine {
  private readonly udp = new Map<NodeKeyHex, UdpRelayPeer>();
  private peers: PathPeer[] = [];
  private readonly byDisco = new Map<DiscoKeyHex, NodeKeyHex>();
  private udpBlocked = false;
  private readonly events = new Map<NodeKeyHex, { atMs: number; text: string }[]>();

  constructor(
    private readonly inner: PathEngine,
    private readonly config: { nodeKey: NodeKeyHex },
    private readonly deps: { randomBytes: (n: number) => Uint8Array },
  ) {}

  setPeers(peers: PathPeer[], nowMs: number): PathAction[] {
    const out = this.inner.setPeers(peers, nowMs);
    this.peers = peers;
    this.byDisco.clear();
    const keep = new Set(peers.map((p) => p.nodeKey));
    for (const [key, u] of this.udp) {
      if (keep.has(key)) continue;
      if (u.wantedAtMs !== undefined) out.push({ t: 'udp-relay', peer: key, relay: undefined });
      this.udp.delete(key);
      this.events.delete(key);
    }
    for (const p of peers) {
      this.byDisco.set(p.discoKey, p.nodeKey);
      const u = this.udp.get(p.nodeKey) ?? newUdpRelayPeer(p.nodeKey);
      this.udp.set(p.nodeKey, u);
      const relay = chooseUdpRelay(this.config.nodeKey, p.nodeKey, peers);
      const same = relay && u.relay && relay.nodeKey === u.relay.nodeKey && relay.discoKey === u.relay.discoKey && relay.endpoint.address === u.relay.endpoint.address && relay.endpoint.port === u.relay.endpoint.port;
      if (same) continue;
      // The relay left the map or another one now wins the hash: both sides move together.
      if (u.wantedAtMs !== undefined) out.push(...this.unwant(u, nowMs, relay ? 'another node relays this pair now' : 'the relay node left the map'));
      u.relay = relay;
      u.retryAtMs = undefined;
    }
    return [...out, ...this.serviceAll(nowMs)];
  }

  setSelf(self: Parameters<PathEngine['setSelf']>[0], nowMs: number): PathAction[] {
    this.udpBlocked = self.udp === false;
    return [...this.inner.setSelf(self, nowMs), ...this.serviceAll(nowMs)];
  }

  onTraffic(peer: NodeKeyHex, nowMs: number): PathAction[] {
    const out = this.inner.onTraffic(peer, nowMs);
    const u = this.udp.get(peer);
    if (!u) return out;
    const wasActive = isActive(u, nowMs);
    u.lastTrafficMs = nowMs;
    return wasActive ? out : [...out, ...this.service(u, nowMs)];
  }

  onDisco(from: DiscoKeyHex, m: DiscoMessage, via: Via, nowMs: number): PathAction[] {
    if (via.kind === 'tcp-relay' && m.type === 'ping') {
      // `conegate ping` on a peer that is relayed: answered through the same relay (the discovery engine
      // answers direct pings only: a relayed ping says nothing about a direct path).
      const key = this.byDisco.get(from);
      return key !== undefined && m.nodeKey === key ? [{ t: 'disco', peer: key, via, message: { type: 'pong', txId: m.txId, src: { address: '0.0.0.0', port: 0 } } }] : [];
    }
    if (via.kind !== 'udp-relay' || (m.type !== 'ping' && m.type !== 'pong')) return [...this.inner.onDisco(from, m, via, nowMs), ...this.servicePeer(this.byDisco.get(from), nowMs)];
    const key = this.byDisco.get(from);
    const u = key === undefined ? undefined : this.udp.get(key);
    if (!u) return [];
    if (m.type === 'ping') {
      if (m.nodeKey !== u.peer) return [];
      const out: PathAction[] = [{ t: 'disco', peer: u.peer, via, message: { type: 'pong', txId: m.txId, src: via.relay } }];
      // The peer's ping got through, so both sides are bound now: ping back at once instead of at the next
      // heartbeat (our ping at bind time was dropped if we bound first). At most once per PING_BACK_MS.
      if (u.via && u.via.vni === via.vni && usable(u, nowMs) === 'no' && nowMs - (u.lastPingBackMs ?? -Infinity) >= UDP_RELAY_TIMING.pingBackMs) {
        u.lastPingBackMs = nowMs;
        out.push(this.ping(u, nowMs));
        this.plan(u, nowMs);
      }
      return out;
    }
    const sent = u.pending.get(hex(m.txId));
    if (sent === undefined || !u.via || u.via.vni !== via.vni) return [];
    u.pending.delete(hex(m.txId));
    const first = usable(u, nowMs) === 'no';
    u.lastPongMs = nowMs;
    u.awaitingSinceMs = undefined;
    u.lostInRow = 0;
    u.rttSamples.push(nowMs - sent);
    if (u.rttSamples.length > RTT_SAMPLES) u.rttSamples.shift();
    if (first) {
      u.confirmedSinceMs = nowMs;
      this.event(u, nowMs, `UDP relay ${u.via.relay.address}:${u.via.relay.port} answers (rtt ${nowMs - sent} ms): it carries the tunnel instead of the TCP relay`);
    }
    this.plan(u, nowMs);
    return [];
  }

  onUdpRelay(peer: NodeKeyHex, via: UdpVia | undefined, nowMs: number): PathAction[] {
    const u = this.udp.get(peer);
    if (!u || u.wantedAtMs === undefined) return [];
    if (via) {
      u.via = via;
      u.boundAtMs = nowMs;
      this.event(u, nowMs, `bound to the UDP relay ${via.relay.address}:${via.relay.port} (vni ${via.vni})`);
      const ping = this.ping(u, nowMs);
      this.plan(u, nowMs);
      return [ping];
    }
    if (u.via) this.event(u, nowMs, 'the UDP relay path was lost; the TCP relay carries the tunnel');
    this.clearPath(u);
    this.plan(u, nowMs);
    return [];
  }

  onSocketsOpened(peer: NodeKeyHex, ids: SocketId[], nowMs: number): PathAction[] {
    return this.inner.onSocketsOpened(peer, ids, nowMs);
  }

  /** WireGuard data from a direct source: the discovery engine's silence check of the direct path. */
  onReceive(peer: NodeKeyHex, via: Via, nowMs: number): PathAction[] {
    return this.inner.onReceive(peer, via, nowMs);
  }

  // The direct-path verdicts below belong to the discovery engine; each may change whether the pair wants
  // a UDP relay (a peer gone offline, WireGuard blocked direct), so the pair is serviced after.
  onPeerGone(peer: NodeKeyHex, region: string, reason: 'disconnected' | 'not-here', nowMs: number): PathAction[] {
    return [...(this.inner.onPeerGone?.(peer, region, reason, nowMs) ?? []), ...this.servicePeer(peer, nowMs)];
  }

  onWireGuardSilent(peer: NodeKeyHex, via: Via, nowMs: number): PathAction[] {
    return [...(this.inner.onWireGuardSilent?.(peer, via, nowMs) ?? []), ...this.servicePeer(peer, nowMs)];
  }

  onWireGuardDirect(peer: NodeKeyHex, nowMs: number): PathAction[] {
    return [...(this.inner.onWireGuardDirect?.(peer, nowMs) ?? []), ...this.servicePeer(peer, nowMs)];
  }

  setIpsFinding(text: string | undefined): void {
    this.inner.setIpsFinding?.(text);
  }

  onSendError(peer: NodeKeyHex, via: Via, nowMs: number): PathAction[] {
    return [...this.inner.onSendError(peer, via, nowMs), ...this.servicePeer(peer, nowMs)];
  }

  onLinkChange(nowMs: number): PathAction[] {
    const out = this.inner.onLinkChange(nowMs);
    // A relay binding is tied to our source address: ask again from the new network.
    for (const u of this.udp.values()) if (u.wantedAtMs !== undefined) out.push(...this.unwant(u, nowMs, 'link change'));
    for (const u of this.udp.values()) u.retryAtMs = undefined;
    return [...out, ...this.serviceAll(nowMs)];
  }

  tick(nowMs: number): PathAction[] {
    return [...this.inner.tick(nowMs), ...this.serviceAll(nowMs)];
  }

  nextWakeMs(): number | undefined {
    let min = this.inner.nextWakeMs();
    for (const u of this.udp.values()) if (u.wakeMs !== undefined && (min === undefined || u.wakeMs < min)) min = u.wakeMs;
    return min;
  }

  route(peer: NodeKeyHex, nowMs: number): Via[] {
    const inner = this.inner.route(peer, nowMs);
    const u = this.udp.get(peer);
    if (!u?.via || (inner.length === 1 && inner[0]!.kind === 'direct')) return inner;
    const use = usable(u, nowMs);
    if (use === 'no') return inner;
    const out: Via[] = inner.filter((v) => v.kind !== 'tcp-relay');
    out.push(u.via);
    if (use === 'with-tcp') for (const v of inner) if (v.kind === 'tcp-relay') out.push(v);
    return out;
  }

  peerForSource(from: Endpoint, socket: SocketId): NodeKeyHex | undefined {
    return this.inner.peerForSource(from, socket);
  }

  status(peer: NodeKeyHex, nowMs: number): PeerPathStatus | undefined {
    const st = this.inner.status(peer, nowMs);
    const u = this.udp.get(peer);
    if (!st || !u) return st;
    const route = this.inner.route(peer, nowMs);
    const direct = route.length === 1 && route[0]!.kind === 'direct';
    const events = [...st.events, ...(this.events.get(peer) ?? [])].sort((a, b) => a.atMs - b.atMs).slice(-32);
    const udpRelay = u.relay && (u.wantedAtMs !== undefined || u.retryAtMs !== undefined)
      ? { udpRelay: { node: u.relay.nodeKey, address: `${u.relay.endpoint.address}:${u.relay.endpoint.port}`, state: udpStatusState(u, nowMs), ...(rttOf(u) !== undefined ? { rttMs: rttOf(u)! } : {}) } }
      : {};
    if (direct) return { ...st, events, ...udpRelay };
    const homeRelay = this.peers.find((p) => p.nodeKey === peer)?.homeRelay ?? null;
    const choice = relayChoice(u, { udpBlocked: this.udpBlocked, homeRelay, nowMs });
    if (usable(u, nowMs) === 'no' || !u.via || st.path?.kind === 'direct') return { ...st, events, relayChoice: choice, ...udpRelay };
    // On the UDP relay: the discovery engine's reason still says why not direct, without its "traffic goes
    // through relay region ..." tail, which is no longer where the traffic goes.
    const reason = st.reason ? { code: st.reason.code, text: st.reason.text.replace(/; traffic goes through .*$/, '') } : undefined;
    return { ...st, path: u.via, rttMs: rttOf(u), sinceMs: u.confirmedSinceMs, events, relayChoice: choice, ...udpRelay, ...(reason ? { reason } : {}) };
  }

  private servicePeer(peer: NodeKeyHex | undefined, nowMs: number): PathAction[] {
    const u = peer === undefined ? undefined : this.udp.get(peer);
    return u ? this.service(u, nowMs) : [];
  }

  private serviceAll(nowMs: number): PathAction[] {
    const out: PathAction[] = [];
    for (const u of this.udp.values()) out.push(...this.service(u, nowMs));
    return out;
  }

  private service(u: UdpRelayPeer, nowMs: number): PathAction[] {
    const out = this.serviceOnce(u, nowMs);
    this.plan(u, nowMs);
    return out;
  }

  /** The UDP relay's timed work for one peer: want / let go, heartbeats, lost pings. */
  private serviceOnce(u: UdpRelayPeer, nowMs: number): PathAction[] {
    // Cheap exits first: this runs for every peer on every tick (the discovery engine's status is not free).
    if (u.lastTrafficMs === undefined) return [];
    const active = isActive(u, nowMs);
    if (u.wantedAtMs === undefined && (!active || !u.relay)) {
      u.relayedSinceMs = undefined;
      return [];
    }
    const out: PathAction[] = [];
    const route = this.inner.route(u.peer, nowMs);
    const directTrusted = route.length === 1 && route[0]!.kind === 'direct';
    if (directTrusted || !active) u.relayedSinceMs = undefined;
    else u.relayedSinceMs ??= nowMs;
    // The reason matters only for the decision to ask; once asked it is not read again.
    const reason = u.wantedAtMs === undefined && !directTrusted ? this.inner.status(u.peer, nowMs)?.reason?.code : undefined;
    const want = shouldWant(u, { directTrusted, reason, udpBlocked: this.udpBlocked, nowMs });
    if (u.retryAtMs !== undefined && nowMs >= u.retryAtMs) u.retryAtMs = undefined;
    if (!want) {
      if (u.wantedAtMs !== undefined) out.push(...this.unwant(u, nowMs, directTrusted ? 'a direct path won' : isActive(u, nowMs) ? 'not needed' : 'no traffic for 45 s'));
      return out;
    }
    if (u.wantedAtMs === undefined) {
      u.wantedAtMs = nowMs;
      this.event(u, nowMs, `asking node ${u.relay!.nodeKey.slice(0, 8)} for a UDP relay path (${reason ?? 'no direct path yet'})`);
      return [{ t: 'udp-relay', peer: u.peer, relay: u.relay }];
    }
    if (!u.via) return out;
    // Pings older than the timeout are lost; a run of them gives the path up.
    for (const [tx, sent] of u.pending) {
      if (nowMs - sent < PING_TIMEOUT_MS) continue;
      u.pending.delete(tx);
      u.lostInRow++;
    }
    if (u.lostInRow >= UDP_RELAY_TIMING.lostToDrop) {
      out.push(...this.unwant(u, nowMs, `${u.lostInRow} pings through it lost`));
      u.retryAtMs = nowMs + UDP_RELAY_TIMING.retryMs;
      return out;
    }
    if (nowMs - (u.lastPingMs ?? -Infinity) >= UDP_RELAY_TIMING.heartbeatMs) out.push(this.ping(u, nowMs));
    return out;
  }

  /** When this peer's UDP relay side next needs a look (only future times: a past one would spin the loop). */
  private plan(u: UdpRelayPeer, nowMs: number): void {
    const at: (number | undefined)[] = [];
    if (u.lastTrafficMs !== undefined && u.wantedAtMs === undefined) {
      if (u.relayedSinceMs !== undefined) at.push(u.relayedSinceMs + UDP_RELAY_TIMING.wantAfterMs);
      at.push(u.retryAtMs);
    } else if (u.lastTrafficMs !== undefined) {
      at.push(u.lastTrafficMs + ACTIVE_MS, trustEdgeMs(u));
      if (u.via) at.push((u.lastPingMs ?? nowMs) + UDP_RELAY_TIMING.heartbeatMs);
      for (const sent of u.pending.values()) at.push(sent + PING_TIMEOUT_MS);
    }
    u.wakeMs = undefined;
    for (const t of at) if (t !== undefined && t > nowMs && (u.wakeMs === undefined || t < u.wakeMs)) u.wakeMs = t;
  }

  private ping(u: UdpRelayPeer, nowMs: number): PathAction {
    const txId = this.deps.randomBytes(12);
    u.pending.set(hex(txId), nowMs);
    u.lastPingMs = nowMs;
    u.awaitingSinceMs ??= nowMs;
    return { t: 'disco', peer: u.peer, via: u.via!, message: { type: 'ping', txId, nodeKey: this.config.nodeKey } };
  }

  private unwant(u: UdpRelayPeer, nowMs: number, why: string): PathAction[] {
    if (u.wantedAtMs === undefined) return [];
    this.event(u, nowMs, `UDP relay let go: ${why}`);
    u.wantedAtMs = undefined;
    this.clearPath(u);
    return [{ t: 'udp-relay', peer: u.peer, relay: undefined }];
  }

  private clearPath(u: UdpRelayPeer): void {
    u.via = undefined;
    u.boundAtMs = undefined;
    u.lastPongMs = undefined;
    u.confirmedSinceMs = undefined;
    u.awaitingSinceMs = undefined;
    u.lostInRow = 0;
    u.pending.clear();
  }

  private event(u: UdpRelayPeer, atMs: number, text: string): void {
    const list = this.events.get(u.peer) ?? [];
    list.push({ atMs, text });
    if (list.length > EVENT_MAX) list.shift();
    this.events.set(u.peer, list);
  }
}
