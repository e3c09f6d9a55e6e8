/**
 * The two edges the WireGuard device talks to: a UDP bind and a TUN device. The protocol core only sees
 * these interfaces; the OS implementations (koffi TUN, dgram / recvmmsg bind, the mesh's shared socket)
 * and the in-memory twins (memory-bind.ts, memory-tun.ts) implement them.
 *
 * Buffer ownership, both directions: a buffer handed over (to `send`, `write`, or to a handler) belongs
 * to the receiver from then on; the giver never touches it again. This keeps the contract trivially safe
 * for asynchronous writers; the device reuses only its own scratch buffers.
 */

/** A UDP peer address. `address` is textual IPv4 or IPv6 (no brackets, no zone). */
export interface Endpoint {
  address: string;
  port: number;
}

/** Called once per received datagram. Must not throw (the device never does). */
export type UdpHandler = (packet: Uint8Array, from: Endpoint) => void;

/** A UDP socket (or a share of one) that carries WireGuard messages. */
export interface Bind {
  /**
   * Sends one datagram, or several to the same endpoint (a batch a sendmmsg/GSO bind may coalesce).
   * Fire and forget: a failure is the bind's to count/log; a returned promise is never awaited on the
   * hot path, but a rejection is caught.
   */
  send(packets: Uint8Array | Uint8Array[], to: Endpoint): void | Promise<void>;
  /** Installs the receive handler (one handler; a second call replaces the first). */
  onReceive(handler: UdpHandler): void;
  /** The local UDP port, when known (reported as listen_port by the UAPI). */
  readonly localPort?: number;
  /** Stops delivery and releases the socket. Idempotent. */
  close(): void | Promise<void>;
}

/** Called once per IP packet the OS routed into the tunnel interface. */
export type IpHandler = (ipPacket: Uint8Array) => void;

/** A layer-3 tunnel interface: IPv4/IPv6 packets without any link or address-family header. */
export interface TunDevice {
  readonly name: string;
  readonly mtu: number;
  /** Installs the handler for packets read from the interface (one handler; a second call replaces it). */
  onPacket(handler: IpHandler): void;
  /** Writes one decrypted packet, or a batch, to the interface. Fire and forget like Bind.send. */
  write(ipPackets: Uint8Array | Uint8Array[]): void | Promise<void>;
  /** Stops reading and closes the interface. Idempotent. */
  close(): void | Promise<void>;
}

/** Formats an endpoint as `a.b.c.d:port` or `[v6]:port` (the form `wg show` prints). */
export function formatEndpoint(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

export function endpointEquals(a: Endpoint | undefined, b: Endpoint | undefined): boolean {
  return a !== undefined && b !== undefined && a.port === b.port && a.address === b.address;
}
