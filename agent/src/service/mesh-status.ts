/**
 * What `conegate status` shows: the node itself and every peer of the map, joined with the device's
 * view of it (current endpoint, last handshake, bytes). Plain JSON-able data, public keys only.
 */
import type { Endpoint as MapEndpoint } from '../coord/protocol.ts';
import { keyToHex } from '../wg/keys.ts';
import type { PeerStatus } from '../wg/types.ts';
import type { NodeIdentity } from '../node/identity.ts';
import { publicIdentity } from '../node/identity.ts';
import type { CoordSession } from '../node/session.ts';
import type { PacketKind } from '../mesh/demux.ts';

export interface PeerView {
  id: string;
  name: string;
  addresses: string[];
  routes: string[];
  nodeKey: string;
  discoKey: string;
  endpoints: MapEndpoint[];
  /** Where the device sends now (the map's choice, or where the peer roamed to). */
  currentEndpoint: string | null;
  homeRelay: string | null;
  online: boolean;
  lastHandshake: string | null;
  rxBytes: number;
  txBytes: number;
}

export interface MeshStatus {
  coordinator: { phase: string; lastError: string | null; reconnects: number; seq: number | null };
  self: { id: string | null; name: string | null; addresses: string[]; machineKey: string; nodeKey: string; discoKey: string; interface: string; listenPort: number };
  peers: PeerView[];
  demux: Record<PacketKind, number>;
}

export function peerStatus(session: CoordSession | undefined, devicePeers: PeerStatus[], extra: { listenPort: number; interface: string; demux: Record<PacketKind, number>; identity: NodeIdentity }): MeshStatus {
  const byKey = new Map(devicePeers.map((p) => [keyToHex(p.publicKey), p] as const));
  const map = session?.map;
  const self = map?.self ?? session?.self;
  const peers: PeerView[] = [...(map?.peers.values() ?? [])].map((p) => {
    const d = byKey.get(p.nodeKey);
    const ep = d?.endpoint;
    return {
      id: p.id,
      name: p.name,
      addresses: p.addresses,
      routes: p.routes,
      nodeKey: p.nodeKey,
      discoKey: p.discoKey,
      endpoints: p.endpoints,
      currentEndpoint: ep ? (ep.address.includes(':') ? `[${ep.address}]:${ep.port}` : `${ep.address}:${ep.port}`) : null,
      homeRelay: p.homeRelay,
      online: p.online,
      lastHandshake: d && d.lastHandshakeWallMs > 0 ? new Date(d.lastHandshakeWallMs).toISOString() : null,
      rxBytes: d?.rxBytes ?? 0,
      txBytes: d?.txBytes ?? 0,
    };
  });
  return {
    coordinator: { phase: session?.phase ?? 'off', lastError: session?.lastError ?? null, reconnects: session?.reconnects ?? 0, seq: map?.seq ?? null },
    self: { id: self?.id ?? null, name: self?.name ?? null, addresses: self?.addresses ?? [], ...publicIdentity(extra.identity), interface: extra.interface, listenPort: extra.listenPort },
    peers,
    demux: extra.demux,
  };
}
