/**
 * What `conegate status` shows: the node itself and every peer of the map, joined with the device's
 * view of it (last handshake, bytes) and the path engine's (path kind, endpoint or region, RTT, reason). Plain JSON-able data, public keys only.
 */
import type { KernelForwardStatus } from '../relay/udp/kernel-forward.ts';
import type { MeshClockStatus } from '../node/mesh-clock.ts';
import type { Endpoint as MapEndpoint } from '../coord/protocol.ts';
import { keyToHex } from '../wg/keys.ts';
import type { PeerStatus } from '../wg/types.ts';
import type { NodeIdentity } from '../node/identity.ts';
import { publicIdentity } from '../node/identity.ts';
import type { CoordSession } from '../node/session.ts';
import type { PacketKind } from '../mesh/demux.ts';
import type { RelayLinkStatus } from '../paths/types.ts';
import type { PeerPathView } from '../paths/view.ts';
import type { UdpRelayStats } from '../relay/udp/server-core.ts';
import type { UdpRelayClientCounters } from '../relay/udp/client.ts';

export interface PeerView {
  id: string;
  name: string;
  addresses: string[];
  routes: string[];
  nodeKey: string;
  discoKey: string;
  endpoints: MapEndpoint[];
  /** The peer's ip:port in use when the path is direct (null when relayed or no path). */
  currentEndpoint: string | null;
  /** The path in use: kind, endpoint or relay region, RTT, time on it, reason when relayed, birthday, events. */
  path: PeerPathView | null;
  /** The relay in use when relayed (UDP relay node, or TCP relay region and server); null when direct. */
  relay: PeerRelayView | null;
  homeRelay: string | null;
  /** "ip:port" of the UDP relay this peer offers to other pairs (null: none). */
  udpRelay: string | null;
  online: boolean;
  lastHandshake: string | null;
  rxBytes: number;
  txBytes: number;
}

export interface MeshStatus {
  /** clockOffsetMs: the coordinator's clock minus ours, as the mesh clock learnt it (0 with a good clock). */
  coordinator: { phase: string; lastError: string | null; reconnects: number; seq: number | null; clockOffsetMs: number };
  self: { id: string | null; name: string | null; addresses: string[]; machineKey: string; nodeKey: string; discoKey: string; interface: string; listenPort: number };
  peers: PeerView[];
  demux: Record<PacketKind, number>;
  /** Relay regions: home, connected or not, server, latency, proxy (absent without a relay link). */
  relay: RelayLinkStatus | null;
  /** The UDP relay this node offers to other pairs (mesh.udpRelay): port, advertised ip:port, counters. */
  udpRelay: (UdpRelayStats & { port: number | null; advertised: string | null; kernel?: KernelForwardStatus | undefined }) | null;
  /** This node's use of UDP relays: datagrams sent and received through them, and dropped ones. */
  udpRelayClient: UdpRelayClientCounters | null;
}

/** The relay a relayed peer's packets take, for people: a UDP relay node by name, or a TCP relay region and server. */
export type PeerRelayView =
  | { kind: 'udp'; node: string | null; nodeKey: string; address: string; state: string }
  | { kind: 'tcp'; region: string; server: string | null };

export function peerStatus(session: CoordSession | undefined, devicePeers: PeerStatus[], extra: { listenPort: number; interface: string; demux: Record<PacketKind, number>; identity: NodeIdentity; path?: (nodeKey: string) => PeerPathView | undefined; relay?: RelayLinkStatus | undefined; udpRelay?: MeshStatus['udpRelay'] | undefined; udpRelayClient?: UdpRelayClientCounters | undefined; clock?: MeshClockStatus }): MeshStatus {
  const byKey = new Map(devicePeers.map((p) => [keyToHex(p.publicKey), p] as const));
  const map = session?.map;
  const self = map?.self ?? session?.self;
  const peers: PeerView[] = [...(map?.peers.values() ?? [])].map((p) => {
    const d = byKey.get(p.nodeKey);
    const path = extra.path?.(p.nodeKey) ?? null;
    return {
      id: p.id,
      name: p.name,
      addresses: p.addresses,
      routes: p.routes,
      nodeKey: p.nodeKey,
      discoKey: p.discoKey,
      endpoints: p.endpoints,
      currentEndpoint: path?.kind === 'direct' ? path.endpoint : null,
      path,
      relay: relayView(path, map?.peers.values(), extra.relay),
      homeRelay: p.homeRelay,
      udpRelay: p.udpRelay ?? null,
      online: p.online,
      lastHandshake: d && d.lastHandshakeWallMs > 0 ? new Date(d.lastHandshakeWallMs).toISOString() : null,
      rxBytes: d?.rxBytes ?? 0,
      txBytes: d?.txBytes ?? 0,
    };
  });
  return {
    coordinator: { phase: session?.phase ?? 'off', lastError: session?.lastError ?? null, reconnects: session?.reconnects ?? 0, seq: map?.seq ?? null, clockOffsetMs: extra.clock?.offsetMs ?? 0 },
    self: { id: self?.id ?? null, name: self?.name ?? null, addresses: self?.addresses ?? [], ...publicIdentity(extra.identity), interface: extra.interface, listenPort: extra.listenPort },
    peers,
    demux: extra.demux,
    relay: extra.relay ?? null,
    udpRelay: extra.udpRelay ?? null,
    udpRelayClient: extra.udpRelayClient ?? null,
  };
}

function relayView(path: PeerPathView | null, peers: Iterable<{ name: string; nodeKey: string }> | undefined, relay: RelayLinkStatus | undefined): PeerRelayView | null {
  if (path?.kind === 'udp-relay' && path.udpRelay) {
    const node = [...(peers ?? [])].find((p) => p.nodeKey === path.udpRelay!.node);
    return { kind: 'udp', node: node?.name ?? null, nodeKey: path.udpRelay.node, address: path.udpRelay.address, state: path.udpRelay.state };
  }
  if (path?.kind === 'tcp-relay' && path.region) {
    return { kind: 'tcp', region: path.region, server: relay?.regions.find((r) => r.id === path.region)?.server ?? null };
  }
  return null;
}
