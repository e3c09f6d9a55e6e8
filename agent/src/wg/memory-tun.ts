/**
 * In-memory TUN for tests: `inject` plays the OS routing a packet into the tunnel (the device reads
 * it); whatever the device writes lands in `written` and is passed to the optional `onWrite` listener.
 */
import type { IpHandler, TunDevice } from './ports.ts';

export class MemoryTun implements TunDevice {
  private handler: IpHandler | undefined;
  private closed = false;
  /** Packets the device wrote to this interface, oldest first. */
  readonly written: Uint8Array[] = [];
  /** Called for each written packet (after it is recorded, unless keepWritten is false). */
  onWrite: ((ipPacket: Uint8Array) => void) | undefined;
  /** Set false in long runs (the benchmark) so `written` does not grow. */
  keepWritten = true;

  constructor(
    readonly name = 'mem0',
    readonly mtu = 1420,
  ) {}

  onPacket(handler: IpHandler): void {
    this.handler = handler;
  }

  /** Hands one packet to the device as if the OS had routed it into the interface. */
  inject(ipPacket: Uint8Array): void {
    if (!this.closed) this.handler?.(ipPacket);
  }

  write(ipPackets: Uint8Array | Uint8Array[]): void {
    if (this.closed) return;
    const list = Array.isArray(ipPackets) ? ipPackets : [ipPackets];
    for (const p of list) {
      if (this.keepWritten) this.written.push(p);
      this.onWrite?.(p);
    }
  }

  close(): void {
    this.closed = true;
    this.handler = undefined;
  }
}
