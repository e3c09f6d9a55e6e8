/**
 * The UDP relay through a node, as the rest of the mesh node sees it (mesh part 2, issue 17 part C).
 * A node with `mesh.udpRelay.enabled` runs a relay on its own UDP port and advertises "ip:port" through
 * the coordinator (Peer.udpRelay). Any two mesh nodes that cannot go direct may each ask that node for
 * an endpoint for their pair (both get the same VNI), bind their mesh socket's source to it, and send
 * WireGuard and discovery through it. Preference: direct, then UDP relay, then TCP relay.
 *
 * Who uses what:
 * - the path router (agent/src/paths) hands every datagram whose first bytes satisfy
 *   `isUdpRelayPacket` (codec.ts) to `UdpRelayClientApi.receive`, and sends a packet routed to a Via of
 *   kind 'udp-relay' with `send`;
 * - the discovery engine (agent/src/disco) asks for a relayed path with `want` when a peer has no
 *   trusted direct path and a relay node is known, and reads `via` to offer it in `route`.
 */
import type { Endpoint } from '../../wg/ports.ts';
import type { NodeKeyHex, SocketId, Via } from '../../paths/types.ts';

export type { NodeKeyHex } from '../../paths/types.ts';

export type UdpRelayVia = Extract<Via, { kind: 'udp-relay' }>;

/** A mesh node that offers a UDP relay (from the map: Peer.udpRelay and the node's keys). */
export interface UdpRelayNode {
  /** Where the relay listens ("ip:port" parsed). */
  endpoint: Endpoint;
  /** The relay node's keys: control messages are sealed to its discovery key. */
  nodeKey: NodeKeyHex;
  discoKey: string;
}

export type UdpRelayPathState = 'allocating' | 'binding' | 'bound' | 'failed';

export interface UdpRelayPathStatus {
  peer: NodeKeyHex;
  relay: string;
  state: UdpRelayPathState;
  vni?: number;
  /** Why the last attempt failed (allocation status or refuse reason, or 'timeout'). */
  error?: string;
  sinceMs: number;
}

/** The client side, one per mesh node (client.ts implements it over the SocketSet). */
export interface UdpRelayClientApi {
  /**
   * Keep (or start) a relayed path to `peer` through `relay`, from `socket` (the mesh socket as a rule).
   * Idempotent; a different relay replaces the previous one. Allocates, binds, then re-binds every
   * minute (a new NAT mapping or an expired endpoint is found and fixed that way).
   */
  want(peer: NodeKeyHex, relay: UdpRelayNode, socket?: SocketId): void;
  /** Stop using a relay for `peer` (a direct path won, or the peer left). */
  drop(peer: NodeKeyHex): void;
  /** The bound path to `peer`, or undefined while none is bound. */
  via(peer: NodeKeyHex): UdpRelayVia | undefined;
  /** Sends a WireGuard (default) or discovery packet through a bound relay path. Never throws. */
  send(via: UdpRelayVia, packet: Uint8Array, protocol?: 'wireguard' | 'disco'): void;
  /** Offers a datagram that arrived on one of our sockets; true when it was a relay packet (consumed). */
  receive(packet: Uint8Array, from: Endpoint, socket: SocketId): boolean;
  /** Payloads that came through a relay: WireGuard goes to the device as from `peer`; discovery to the engine with `via`. */
  onPacket(handler: (peer: NodeKeyHex, payload: Uint8Array, protocol: 'wireguard' | 'disco', via: UdpRelayVia) => void): void;
  /** A path became bound (via) or was lost (undefined): the engine re-evaluates the peer. */
  onChange(handler: (peer: NodeKeyHex, via: UdpRelayVia | undefined) => void): void;
  status(): UdpRelayPathStatus[];
  close(): void;
}
