/**
 * In-memory TUN twin. `MemoryTun` is the device side a WireGuard device uses; its `os` side plays the
 * kernel: `os.send(packet)` routes a packet into the interface (the device sees it via onPacket) and
 * `os.onPacket` receives what the device writes. Delivery is asynchronous (a microtask), like a real
 * TUN, so a handler that writes back never recurses into itself.
 */
import { ConegateError } from '../errors.ts';
import { DEFAULT_TUN_MTU, type TunDevice, type TunOptions, type TunStats } from './tun.ts';

/** The OS side of a MemoryTun. */
export interface MemoryTunOs {
  /** Routes a packet into the interface, as the kernel does for a destination behind it. */
  send(packet: Uint8Array): void;
  /** Receives packets the device wrote (what the kernel would take in as arriving on the interface). */
  onPacket(handler: (packet: Uint8Array) => void): void;
}

export class MemoryTun implements TunDevice {
  readonly name: string;
  readonly mtu: number;
  readonly stats: TunStats = { rxPackets: 0, txPackets: 0, dropped: 0 };
  readonly os: MemoryTunOs;
  private deviceHandler: ((packet: Uint8Array) => void) | undefined;
  private osHandler: ((packet: Uint8Array) => void) | undefined;
  private closed = false;

  constructor(options: TunOptions) {
    this.name = options.name;
    this.mtu = options.mtu ?? DEFAULT_TUN_MTU;
    this.os = {
      send: (packet) => this.fromOs(packet),
      onPacket: (handler) => {
        this.osHandler = handler;
      },
    };
  }

  onPacket(handler: (packet: Uint8Array) => void): void {
    this.deviceHandler = handler;
  }

  write(packet: Uint8Array): void {
    if (this.closed) throw new ConegateError('CG_NETWORK', `tun ${this.name} is closed`);
    // The kernel refuses what it cannot parse as IP or what exceeds the MTU; mirror that, silently.
    if (packet.length === 0 || packet.length > this.mtu || !looksLikeIp(packet)) {
      this.stats.dropped++;
      return;
    }
    this.stats.txPackets++;
    const copy = packet.slice();
    queueMicrotask(() => {
      if (!this.closed) this.osHandler?.(copy);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private fromOs(packet: Uint8Array): void {
    if (this.closed) return;
    // The kernel never routes more than the MTU into the interface (it fragments or sends ICMP instead).
    if (packet.length > this.mtu) {
      this.stats.dropped++;
      return;
    }
    const copy = packet.slice();
    queueMicrotask(() => {
      if (this.closed) return;
      if (!this.deviceHandler) {
        this.stats.dropped++;
        return;
      }
      this.stats.rxPackets++;
      this.deviceHandler(copy);
    });
  }
}

/** IPv4 or IPv6 by the version nibble, with the minimum header length. */
function looksLikeIp(p: Uint8Array): boolean {
  const version = (p[0] ?? 0) >> 4;
  return (version === 4 && p.length >= 20) || (version === 6 && p.length >= 40);
}
