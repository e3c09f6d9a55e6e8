/**
 * The map engine: a PathEngine without discovery. A peer with an endpoint in the map is sent to
 * directly at its first usable endpoint from the mesh socket (what the node did before paths existed);
 * a peer without one goes through its home relay region. No pings, no timers.
 * The node runs it when no discovery engine is given, and router tests use it as the engine stand-in.
 */
import { firstUsableEndpoint } from '../node/peers-plan.ts';
import type { DiscoMessage } from '../disco/types.ts';
import type { Endpoint } from '../wg/ports.ts';
import { formatEndpoint } from '../wg/ports.ts';
import { MESH_SOCKET, type NodeKeyHex, type PathAction, type PathEngine, type PathPeer, type PeerPathStatus, type SocketId, type Via } from './types.ts';

interface Entry {
  peer: PathPeer;
  route: Via[];
  sinceMs: number;
  events: { atMs: number; text: string }[];
}

const MAX_EVENTS = 16;

const viaText = (v: Via | undefined) => (!v ? 'none' : v.kind === 'direct' ? `direct ${formatEndpoint(v.endpoint)}` : v.kind === 'tcp-relay' ? `tcp-relay ${v.region}` : `udp-relay ${formatEndpoint(v.relay)}`);

export class MapEngine implements PathEngine {
  private readonly peers = new Map<NodeKeyHex, Entry>();
  /** Source address -> port -> peer: no string built per received packet. */
  private readonly sources = new Map<string, Map<number, NodeKeyHex>>();
  private families: (4 | 6)[] = [4, 6];
  private udpBlocked = false;

  constructor(opts: { families?: (4 | 6)[] } = {}) {
    if (opts.families) this.families = opts.families;
  }

  setPeers(peers: PathPeer[], nowMs: number): PathAction[] {
    const keep = new Set(peers.map((p) => p.nodeKey));
    for (const key of this.peers.keys()) if (!keep.has(key)) this.peers.delete(key);
    this.sources.clear();
    for (const p of peers) {
      this.place(p, nowMs);
      for (const e of p.endpoints) {
        let ports = this.sources.get(e.address);
        if (!ports) this.sources.set(e.address, (ports = new Map()));
        ports.set(e.port, p.nodeKey);
      }
    }
    return [];
  }

  /** No liveness tracking: the map's endpoint is used as it is. */
  onReceive(_peer: NodeKeyHex, _via: Via, _nowMs: number): PathAction[] {
    return [];
  }

  /** UDP known not to pass (no STUN answer): every peer with a home relay goes through it. */
  setSelf(self: Parameters<PathEngine['setSelf']>[0], nowMs: number): PathAction[] {
    const blocked = self.udp === false;
    if (blocked === this.udpBlocked) return [];
    this.udpBlocked = blocked;
    for (const e of this.peers.values()) this.place(e.peer, nowMs);
    return [];
  }

  private place(p: PathPeer, nowMs: number): void {
    const direct = this.udpBlocked ? undefined : firstUsableEndpoint(p.endpoints.map((e) => ({ addr: formatEndpoint(e), type: 'configured' as const })), this.families);
    const route: Via[] = direct ? [{ kind: 'direct', endpoint: direct, socket: MESH_SOCKET }] : p.homeRelay ? [{ kind: 'tcp-relay', region: p.homeRelay }] : [];
    const old = this.peers.get(p.nodeKey);
    const changed = !old || viaText(old.route[0]) !== viaText(route[0]);
    const entry: Entry = { peer: p, route: changed ? route : old.route, sinceMs: changed ? nowMs : old.sinceMs, events: old?.events ?? [] };
    if (changed) {
      entry.events.push({ atMs: nowMs, text: `path ${viaText(route[0])} (${this.udpBlocked ? 'UDP blocked here' : 'from the map'})` });
      if (entry.events.length > MAX_EVENTS) entry.events.shift();
    }
    this.peers.set(p.nodeKey, entry);
  }

  onTraffic(_peer: NodeKeyHex, _nowMs: number): PathAction[] {
    return [];
  }

  onDisco(_from: string, _message: DiscoMessage, _via: Via, _nowMs: number): PathAction[] {
    return [];
  }

  /** No birthday attempts here: sockets opened anyway are given back. */
  onSocketsOpened(_peer: NodeKeyHex, ids: SocketId[], _nowMs: number): PathAction[] {
    return ids.length ? [{ t: 'close-sockets', ids }] : [];
  }

  onSendError(_peer: NodeKeyHex, _via: Via, _nowMs: number): PathAction[] {
    return [];
  }

  onLinkChange(_nowMs: number): PathAction[] {
    return [];
  }

  tick(_nowMs: number): PathAction[] {
    return [];
  }

  nextWakeMs(): number | undefined {
    return undefined;
  }

  route(peer: NodeKeyHex, _nowMs?: number): Via[] {
    return this.peers.get(peer)?.route ?? [];
  }

  peerForSource(from: Endpoint, _socket: SocketId): NodeKeyHex | undefined {
    return this.sources.get(from.address)?.get(from.port);
  }

  status(peer: NodeKeyHex, _nowMs?: number): PeerPathStatus | undefined {
    const e = this.peers.get(peer);
    if (!e) return undefined;
    const path = e.route[0];
    return {
      path,
      rttMs: undefined,
      sinceMs: path ? e.sinceMs : undefined,
      candidates: e.peer.endpoints.map((c) => ({ endpoint: formatEndpoint(c), source: 'map' as const })),
      ...(path?.kind === 'direct' ? {} : { reason: this.udpBlocked ? { code: 'udp-blocked' as const, text: 'no STUN answer: UDP does not pass here' } : { code: 'no-candidates' as const, text: 'the peer has no endpoint in the map we can send to' } }),
      events: [...e.events],
    };
  }
}
