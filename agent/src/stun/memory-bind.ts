/**
 * An in-memory UDP network: binds exchange datagrams through a queue, with an optional middlebox
 * (a NAT model in tests) that may rewrite or drop each datagram. Delivery is asynchronous (a
 * microtask), like a real socket, so a handler never runs inside send().
 */
import { ConegateError } from '../errors.ts';
import { canonicalIp, type UdpBind, type UdpEndpoint, type UdpHandler } from './bind.ts';

export interface Datagram {
  src: UdpEndpoint;
  dst: UdpEndpoint;
}

/** Decides what happens to a datagram in flight: rewritten addresses, or undefined to drop it. */
export type Middlebox = (d: Datagram) => Datagram | undefined;

export class MemoryNetwork {
  private readonly binds = new Map<string, MemoryBind>();
  private nextPort = 40000;
  /** Datagrams sent and dropped, for tests to assert. */
  readonly counters = { sent: 0, delivered: 0, dropped: 0 };

  constructor(private readonly middlebox?: Middlebox) {}

  /** Binds address:port; port 0 takes the next free ephemeral port. */
  bind(address: string, port = 0): UdpBind {
    const addr = canonicalIp(address);
    let p = port;
    if (p === 0) while (this.binds.has(key(addr, (p = this.nextPort++))));
    if (this.binds.has(key(addr, p))) throw new ConegateError('CG_NETWORK', `address in use: ${addr}:${p}`);
    const b = new MemoryBind(this, { address: addr, port: p });
    this.binds.set(key(addr, p), b);
    return b;
  }

  /** @internal */
  transmit(bytes: Uint8Array, src: UdpEndpoint, dst: UdpEndpoint): void {
    this.counters.sent++;
    const routed = this.middlebox ? this.middlebox({ src, dst: { address: canonicalIp(dst.address), port: dst.port } }) : { src, dst };
    const target = routed && this.binds.get(key(canonicalIp(routed.dst.address), routed.dst.port));
    if (!routed || !target) {
      this.counters.dropped++;
      return;
    }
    const copy = Uint8Array.from(bytes);
    queueMicrotask(() => {
      this.counters.delivered++;
      target.deliver(copy, routed.src);
    });
  }

  /** @internal */
  release(b: MemoryBind): void {
    this.binds.delete(key(b.local.address, b.local.port));
  }
}

function key(address: string, port: number): string {
  return `${address}|${port}`;
}

class MemoryBind implements UdpBind {
  private handlers = new Set<UdpHandler>();
  private closed = false;
  constructor(
    private readonly net: MemoryNetwork,
    readonly local: UdpEndpoint,
  ) {}

  send(bytes: Uint8Array, address: string, port: number): Promise<void> {
    if (this.closed) return Promise.reject(new ConegateError('CG_NETWORK', 'socket is closed'));
    this.net.transmit(bytes, this.local, { address, port });
    return Promise.resolve();
  }

  onMessage(handler: UdpHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  deliver(bytes: Uint8Array, from: UdpEndpoint): void {
    if (this.closed) return;
    for (const h of [...this.handlers]) h(bytes, from);
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.handlers.clear();
      this.net.release(this);
    }
    return Promise.resolve();
  }
}
