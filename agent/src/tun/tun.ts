/**
 * TUN devices for the WireGuard data plane. The interface is the `TunDevice` port of wg/ports.ts; this
 * folder implements it for Linux (/dev/net/tun through koffi) and FreeBSD (/dev/tunN). The in-memory
 * twin is wg/memory-tun.ts; compliance.ts holds the suite every implementation passes.
 */
export type { TunDevice, IpHandler } from '../wg/ports.ts';

/** Counters every OS implementation keeps. */
export interface TunStats {
  rxPackets: number;
  txPackets: number;
  /** Writes the OS refused (bad packet, queue full, device closed) and reads with no handler installed. */
  dropped: number;
}

/** Options to create a TUN device. */
export interface TunOptions {
  /** Wanted name; Linux takes it as is (max 15 bytes), FreeBSD clones the next tunN. */
  name: string;
  /** MTU to report; default 1420 (WireGuard's default: 1500 minus the IPv6 + UDP + WireGuard overhead). */
  mtu?: number;
}

export const DEFAULT_TUN_MTU = 1420;
