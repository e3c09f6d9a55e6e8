/**
 * The packet paths of one mesh node, assembled: the socket set on the node's mesh socket, the path
 * engine (discovery wrapped by the UDP relay step), the relay link, the UDP relay client (on the mesh
 * socket: the relay sees our tunnel's own source), the discovery sealer, the router (the device's Bind)
 * and the mesh STUN client's schedule. The mesh node feeds it the network map and its own endpoints; it answers with each
 * peer's virtual endpoint (for the device) and each peer's path for `status`.
 */
import type { Clock, CancelTimer } from '../clock/clock.ts';
import type { Endpoint as MapEndpoint } from '../coord/protocol.ts';
import { DiscoEngine } from '../disco/engine.ts';
import { DiscoSealer } from '../disco/sealer.ts';
import { UdpRelayEngine } from '../disco/udp-relay-engine.ts';
import { createUdpRelayClient, type UdpRelayClientCounters } from '../relay/udp/client.ts';
import type { UdpRelayClientApi } from '../relay/udp/types.ts';
import { keyFromHex } from '../wg/keys.ts';
import type { Logger } from '../log/logger.ts';
import { parseHostPort, parseIp } from '../net/ip.ts';
import type { MapState } from '../node/map-state.ts';
import type { MeshStun } from '../node/stun-endpoints.ts';
import type { DgramBind } from '../wg/bind/dgram.ts';
import type { Endpoint } from '../wg/ports.ts';
import { sealerBox } from './disco-box.ts';
import { PathRouter } from './router.ts';
import { DgramSocketSet, type SocketSetEdge } from './sockets.ts';
import { MESH_SOCKET, type NodeKeyHex, type PathEngine, type PathPeer, type RelayLink } from './types.ts';
import { peerPathView, type PeerPathView } from './view.ts';
import type { PeerPathPackets } from './router.ts';

/** A STUN round with no answer is repeated this soon (the facts sheet: HTTPS probes after 3 s). */
const STUN_RETRY_MS = 3000;

export interface NodePathsDeps {
  clock: Clock;
  log: Logger;
  /** The mesh socket (owned by the caller). */
  bind: DgramBind;
  disco: { privateKey: Uint8Array; publicKey: Uint8Array };
  /** Our WireGuard public key (hex): discovery pings carry it. */
  nodeKey: NodeKeyHex;
  /** Default: the discovery engine (agent/src/disco/engine.ts). */
  engine?: PathEngine;
  /** Relay links; absent: no relay. */
  relay?: RelayLink;
  stun?: MeshStun;
  /** The relay link chose a (new) home region: publish it through the coordinator. */
  onHomeRelay?: (region: string) => void;
  onOpenSockets?: (peer: NodeKeyHex, count: number) => void;
  randomBytes: (n: number) => Uint8Array;
  wallMs: () => number;
}

export function toPathEndpoints(eps: MapEndpoint[]): Endpoint[] {
  const out: Endpoint[] = [];
  for (const e of eps) {
    const hp = parseHostPort(e.addr);
    if (hp && parseIp(hp.host)) out.push({ address: hp.host, port: hp.port });
  }
  return out;
}

export class NodePaths {
  readonly sockets: SocketSetEdge;
  readonly engine: PathEngine;
  readonly router: PathRouter;
  readonly relay: RelayLink | undefined;
  readonly udpRelay: UdpRelayClientApi & { counters(): UdpRelayClientCounters };
  private relayMapText = '';
  private self: MapEndpoint[] = [];
  private cancelStun: CancelTimer | undefined;

  constructor(private readonly deps: NodePathsDeps) {
    this.sockets = new DgramSocketSet(deps.bind);
    this.engine = deps.engine ?? new UdpRelayEngine(new DiscoEngine({ nodeKey: deps.nodeKey }, { randomBytes: deps.randomBytes }), { nodeKey: deps.nodeKey }, { randomBytes: deps.randomBytes });
    this.relay = deps.relay;
    this.udpRelay = createUdpRelayClient({
      discoPrivate: deps.disco.privateKey, discoPublic: deps.disco.publicKey, nodeKey: keyFromHex(deps.nodeKey),
      clock: deps.clock, sockets: this.sockets, randomBytes: deps.randomBytes,
    });
    const sealer = new DiscoSealer(deps.disco.privateKey, deps.disco.publicKey, { randomBytes: deps.randomBytes, wallMs: deps.wallMs });
    this.router = new PathRouter({
      engine: this.engine,
      sockets: this.sockets,
      relay: deps.relay,
      udpRelay: this.udpRelay,
      disco: sealerBox(sealer),
      clock: deps.clock,
      log: deps.log,
      onStun: (p, from, socket) => {
        if (socket === MESH_SOCKET) deps.stun?.onPacket(p, from);
      },
      onReStun: () => this.probeStun(),
      ...(deps.onOpenSockets ? { onOpenSockets: deps.onOpenSockets } : {}),
    });
    deps.relay?.onHomeChange((region) => {
      deps.log.info({ region }, 'mesh: home relay region');
      deps.onHomeRelay?.(region);
    });
  }

  /** The map changed: relay map to the relay link, peers to the engine; returns each peer's virtual endpoint. */
  /** The prefixes routed into our TUN: candidates inside them are never paths (see PathRouter.setTunnelPrefixes). */
  setTunnelPrefixes(cidrs: string[]): void {
    this.router.setTunnelPrefixes(cidrs);
  }

  applyMap(state: MapState): Map<NodeKeyHex, Endpoint> {
    const relayText = JSON.stringify(state.relays);
    if (this.relay && relayText !== this.relayMapText) {
      this.relayMapText = relayText;
      this.relay.setRelayMap(state.relays);
    }
    const peers: PathPeer[] = [...state.peers.values()].map((p) => ({ nodeKey: p.nodeKey, discoKey: p.discoKey, endpoints: toPathEndpoints(p.endpoints), homeRelay: p.homeRelay, online: p.online, ...(p.udpRelay ? { udpRelay: p.udpRelay } : {}) }));
    return this.router.setPeers(peers);
  }

  /**
   * Our own endpoints (what is reported to the coordinator) and what STUN says of the NAT. A change of
   * our interface addresses is a link change: the engine forgets its best paths and probes again
   * (a path learnt on the old network may not exist on the new one).
   */
  setSelf(endpoints: MapEndpoint[]): void {
    const locals = (eps: MapEndpoint[]) => eps.filter((e) => e.type === 'local').map((e) => e.addr).sort().join();
    const linkChanged = this.self.length > 0 && locals(this.self) !== locals(endpoints);
    this.self = endpoints;
    if (linkChanged) {
      this.deps.log.info({ endpoints: endpoints.map((e) => e.addr) }, 'mesh: interface addresses changed; paths probed again');
      this.router.linkChanged();
    }
    const nat = this.deps.stun?.natBehaviour() ?? { udp: undefined, mappingVariesByDest: undefined };
    this.router.setSelf({ endpoints: toPathEndpoints(endpoints), ...nat });
  }

  /** One STUN round; an unanswered one is repeated once after STUN_RETRY_MS, then the engine hears the verdict. */
  probeStun(): void {
    const stun = this.deps.stun;
    if (!stun) return;
    this.cancelStun?.();
    void stun.probe();
    this.cancelStun = this.deps.clock.setTimer(STUN_RETRY_MS, () => {
      this.cancelStun = undefined;
      if (!stun.answeredThisRound() && stun.answers === 0 && stun.rounds < 2) return this.probeStun();
      this.setSelf(this.self);
    });
  }

  peerPath(nodeKey: NodeKeyHex): PeerPathView | undefined {
    const now = this.deps.clock.nowMs();
    const st = this.engine.status(nodeKey, now);
    return st ? peerPathView(st, now, this.deps.wallMs(), this.router.peerPackets(nodeKey)) : undefined;
  }

  /** `conegate ping`: a discovery ping on the peer's current path(s); the first pong says which path and how fast. */
  ping(nodeKey: NodeKeyHex, timeoutMs: number): ReturnType<PathRouter['probe']> {
    return this.router.probe(nodeKey, this.deps.randomBytes(12), this.deps.nodeKey, timeoutMs);
  }

  /** WireGuard packets sent to the peer per path kind. */
  peerPackets(nodeKey: NodeKeyHex): PeerPathPackets | undefined {
    return this.router.peerPackets(nodeKey);
  }

  relayStatus(): ReturnType<RelayLink['status']> | undefined {
    return this.relay?.status();
  }

  async close(): Promise<void> {
    this.cancelStun?.();
    this.router.close();
    this.udpRelay.close();
    await this.relay?.close();
    await this.sockets.close();
  }
}
