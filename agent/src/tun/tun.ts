/**
 * The TUN port: what the WireGuard device needs from a layer-3 virtual interface. One interface, three
 * implementations: Linux (/dev/net/tun through koffi), FreeBSD (/dev/tunN) and memory (tests).
 * The shape matches the `TunDevice` port of agent/src/wg/ports.ts so a device can take any of them.
 */

/** A layer-3 virtual interface: IP packets in, IP packets out, no link-layer header. */
export interface TunDevice {
  /** Interface name as the OS knows it (e.g. `cg0`, `tun3`). */
  readonly name: string;
  /** MTU in bytes: the largest IP packet the OS hands us or accepts. */
  readonly mtu: number;
  /**
   * Registers the one handler for packets the OS routes into the interface (plain IPv4/IPv6 packets).
   * The packet is owned by the handler: implementations never reuse its memory afterwards.
   */
  onPacket(handler: (packet: Uint8Array) => void): void;
  /** Hands an IP packet to the OS as if it arrived on the interface. Never throws for a bad packet: drops it. */
  write(packet: Uint8Array): void;
  /** Stops reading, closes the device; idempotent; resolves when no thread or handle is left. */
  close(): Promise<void>;
}

/** Counters every implementation keeps, for `wg show`-style reporting and tests. */
export interface TunStats {
  rxPackets: number;
  txPackets: number;
  /** Writes the OS refused (bad packet, interface down) and packets dropped for lack of a handler. */
  dropped: number;
}

/** Options to create a TUN device. */
export interface TunOptions {
  /** Wanted name; Linux takes it as is (max 15 bytes), FreeBSD ignores it and picks tunN. */
  name: string;
  /** MTU to report and to configure; default 1420 (WireGuard's default over IPv4+IPv6 paths). */
  mtu?: number;
}

export const DEFAULT_TUN_MTU = 1420;
