/**
 * The UDP relay as a part of a mesh node: the server built from `mesh.udpRelay`, its membership check
 * fed from the network map, the "ip:port" the node advertises in its endpoint report, and the choice of
 * a relay node for a pair (the same on both sides, so both allocate on one relay without talking first).
 * The mesh node (agent/src/service/mesh-node.ts) owns the wiring: start() with the agent, onMap() on
 * every map change, advertise() into Session.reportEndpoints(endpoints, udpRelay).
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../../clock/clock.ts';
import type { UdpRelayConfig } from '../../config/sections/udp-relay.ts';
import { parseHostPort } from '../../net/ip.ts';
import { keyToHex } from '../../wg/keys.ts';
import { DEFAULT_LIMITS, type UdpRelayLimits, type UdpRelayStats } from './server-core.ts';
import { createUdpRelayServer } from './server.ts';
import type { NodeKeyHex, UdpRelayNode } from './types.ts';

export interface MeshMember {
  nodeKey: NodeKeyHex;
  discoKey: string;
  udpRelay?: string;
}

export function limitsFromConfig(c: UdpRelayConfig): UdpRelayLimits {
  return {
    ...DEFAULT_LIMITS,
    maxAllocations: c.maxAllocations,
    controlPerSec: c.requestsPerClientPerSec,
    controlBurst: Math.max(1, Math.ceil(c.requestsPerClientPerSec * 2)),
    packetsPerSec: c.packetsPerSecPerPeer,
    packetsBurst: Math.max(1000, Math.ceil(c.packetsPerSecPerPeer / 5)),
  };
}

/**
 * What the node advertises: the configured address, else its public (STUN-mapped) IP with the relay's
 * port, which is right for a node on a public address or behind an endpoint-independent NAT with the
 * port forwarded as is; undefined (advertise nothing) while neither is known.
 */
export function advertisedAddress(c: UdpRelayConfig, publicIp: string | undefined): string | undefined {
  if (!c.enabled) return undefined;
  if (c.advertise) return c.advertise;
  if (!publicIp) return undefined;
  return publicIp.includes(':') ? `[${publicIp}]:${c.port}` : `${publicIp}:${c.port}`;
}

/**
 * The relay node for the pair (a, b): among peers that advertise a relay (never a or b themselves), the
 * one with the highest hash of (pair, relay key): rendezvous hashing, so both sides pick the same one
 * from the same map, and pairs spread over the relays there are.
 */
export function chooseUdpRelay(a: NodeKeyHex, b: NodeKeyHex, members: Iterable<MeshMember>): UdpRelayNode | undefined {
  const pair = a < b ? `${a}${b}` : `${b}${a}`;
  let best: { score: string; node: UdpRelayNode } | undefined;
  for (const m of members) {
    if (!m.udpRelay || m.nodeKey === a || m.nodeKey === b) continue;
    const hp = parseHostPort(m.udpRelay);
    if (!hp) continue;
    const score = createHash('sha256').update(pair).update(m.nodeKey).digest('hex');
    if (!best || score > best.score) best = { score, node: { endpoint: { address: hp.host, port: hp.port }, nodeKey: m.nodeKey, discoKey: m.discoKey } };
  }
  return best?.node;
}

export interface NodeUdpRelay {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The network map changed: members are re-read and allocations of nodes that left end. */
  onMap(members: Iterable<MeshMember>): void;
  port(): number | undefined;
  stats(): UdpRelayStats;
}

export function createNodeUdpRelay(
  c: UdpRelayConfig,
  deps: { clock: Clock; discoPrivate: Uint8Array; discoPublic: Uint8Array; selfNodeKey: NodeKeyHex; publicEndpoint: () => { address: string; port: number } },
): NodeUdpRelay {
  let byDisco = new Map<string, NodeKeyHex>();
  let nodes = new Set<NodeKeyHex>();
  const server = createUdpRelayServer(
    { host: c.address, port: c.port, limits: limitsFromConfig(c) },
    {
      clock: deps.clock,
      discoPrivate: deps.discoPrivate,
      discoPublic: deps.discoPublic,
      nodeForDisco: (d) => byDisco.get(d),
      isMember: (n) => nodes.has(n),
      publicEndpoint: deps.publicEndpoint,
    },
  );
  const selfDisco = keyToHex(deps.discoPublic);
  return {
    start: () => server.start(),
    stop: () => server.stop(),
    onMap(members) {
      byDisco = new Map();
      nodes = new Set([deps.selfNodeKey]);
      byDisco.set(selfDisco, deps.selfNodeKey);
      for (const m of members) {
        byDisco.set(m.discoKey, m.nodeKey);
        nodes.add(m.nodeKey);
      }
      server.onMapChange();
    },
    port: () => server.port(),
    stats: () => server.stats(),
  };
}
