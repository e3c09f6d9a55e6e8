/**
 * The UDP relay as a part of a mesh node: the server built from `mesh.udpRelay`, its membership check
 * fed from the network map, the "ip:port" the node advertises in its endpoint report, and the choice of
 * a relay node for a pair (the same on both sides, so both allocate on one relay without talking first).
 * The mesh node (agent/src/service/mesh-node.ts) owns the wiring: start() with the agent, onMap() on
 * every map change, advertise() into Session.reportEndpoints(endpoints, udpRelay).
 */
import type { Clock } from '../../clock/clock.ts';
import type { UdpRelayConfig } from '../../config/sections/udp-relay.ts';
import { keyToHex } from '../../wg/keys.ts';
import { DEFAULT_LIMITS, type UdpRelayLimits, type UdpRelayStats } from './server-core.ts';
import { createUdpRelayServer } from './server.ts';
import type { KernelForwardStatus } from './kernel-forward.ts';
import type { MeshMember } from './choose.ts';
import type { NodeKeyHex } from './types.ts';

export { chooseUdpRelay, type MeshMember } from './choose.ts';

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

export interface NodeUdpRelay {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The network map changed: members are re-read and allocations of nodes that left end. */
  onMap(members: Iterable<MeshMember>): void;
  port(): number | undefined;
  stats(): UdpRelayStats & { kernel: KernelForwardStatus | undefined };
}

export function createNodeUdpRelay(
  c: UdpRelayConfig,
  deps: { clock: Clock; discoPrivate: Uint8Array; discoPublic: Uint8Array; selfNodeKey: NodeKeyHex; publicEndpoint: () => { address: string; port: number } },
): NodeUdpRelay {
  let byDisco = new Map<string, NodeKeyHex>();
  let nodes = new Set<NodeKeyHex>();
  const server = createUdpRelayServer(
    { host: c.address, port: c.port, limits: limitsFromConfig(c), kernelForward: c.kernelForward ?? 'auto' },
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
