/**
 * Config `mesh.udpRelay`: this node relays UDP for pairs of mesh nodes that cannot go direct (issue 17,
 * "UDP relay through a node"). Off by default: relaying spends the site's bandwidth on other nodes'
 * traffic, so an admin turns it on, on a node with a public or endpoint-independent address. The relay
 * listens on its own UDP port (never the mesh port) and is advertised to peers through the coordinator.
 */
export const udpRelaySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean', default: false, description: 'Relay UDP for other mesh nodes that cannot reach each other directly.' },
    port: { type: 'integer', minimum: 1, maximum: 65535, default: 41642, description: 'UDP port of the relay (open it on the WAN; not the mesh port).' },
    address: { type: 'string', format: 'ip', default: '0.0.0.0', description: 'Local IPv4 address to listen on.' },
    advertise: {
      type: 'string',
      format: 'host-port',
      description: 'Public "ip:port" peers send to (a port forward or a 1:1 NAT in front of this node); default: the node\'s STUN-mapped address with the relay port.',
    },
    maxAllocations: { type: 'integer', minimum: 1, maximum: 100000, default: 1000, description: 'Pairs relayed at once; more are refused ("full").' },
    requestsPerClientPerSec: { type: 'number', exclusiveMinimum: 0, maximum: 10000, default: 10, description: 'Control requests (allocate, bind) per source address per second; burst twice that.' },
    packetsPerSecPerPeer: { type: 'integer', minimum: 100, maximum: 10000000, default: 100000, description: 'Datagrams per second each relayed node may send through this relay.' },
    kernelForward: {
      type: 'string', enum: ['auto', 'off'], default: 'auto',
      description: 'Forward bound pairs\' WireGuard datagrams in the kernel (Linux, nftables; needs root and net.ipv4.ip_forward=1): "auto" uses it when it can, else userspace; `status` says which and why.',
    },
  },
} as const;

export interface UdpRelayConfig {
  enabled: boolean;
  port: number;
  address: string;
  advertise?: string;
  maxAllocations: number;
  requestsPerClientPerSec: number;
  packetsPerSecPerPeer: number;
  kernelForward: 'auto' | 'off';
}
