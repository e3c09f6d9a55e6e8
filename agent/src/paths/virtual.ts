/**
 * Virtual endpoints: the WireGuard device's endpoint for a mesh peer names the peer, not an address,
 * so packets that come back by any path (direct, another socket, a relay) reach the device from the
 * same endpoint and WireGuard's roaming never flips it between paths (docs/mesh-paths.md).
 *
 * The form is reserved to this module: address `peer.<64 hex node key>`, port 0. It can never be a real
 * UDP source (not an IP literal, and port 0 is never a datagram's source port), and it has no ':' so
 * the device prints it as `peer.<hex>:0`. The device only compares and prints it.
 */
import type { Endpoint } from '../wg/ports.ts';
import type { NodeKeyHex } from './types.ts';

const PREFIX = 'peer.';
const HEX64 = /^[0-9a-f]{64}$/;

export function virtualEndpoint(nodeKey: NodeKeyHex): Endpoint {
  if (!HEX64.test(nodeKey)) throw new RangeError('virtual endpoint: node key must be 64 lowercase hex characters');
  return { address: PREFIX + nodeKey, port: 0 };
}

/** The node key a virtual endpoint names, or undefined for a real address. */
export function virtualPeer(e: Endpoint): NodeKeyHex | undefined {
  if (e.port !== 0 || !e.address.startsWith(PREFIX)) return undefined;
  const key = e.address.slice(PREFIX.length);
  return HEX64.test(key) ? key : undefined;
}
