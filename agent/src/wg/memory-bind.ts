/**
 * In-memory UDP for tests and the in-process benchmark: a MemoryNetwork routes datagrams between
 * MemoryBinds by address:port. Delivery is asynchronous (a microtask queue drained in order), so a
 * handler that sends never recurses into its peer. A tap lets tests drop, copy, mutate or replay
 * datagrams on the wire, and `rebind` moves a bind to a new address (roaming).
 */
import { ConegateError } from '../errors.ts';
import type { Bind, Endpoint, UdpHandler } from './ports.ts';
import { formatEndpoint } from './ports.ts';

/** What a tap decides for one datagram in flight: deliver it (possibly replaced) or drop it. */
export type TapVerdict = 'pass' | 'drop' | Uint8Array;
export type Tap = (packet: Uint8Array, from: Endpoint, to: Endpoint) => TapVerdict;

interface InFlight {
  packet: Uint8Array;
  from: Endpoint;
  to: Endpoint;
}

export class MemoryNetwork {
  private readonly binds = new Map<string, MemoryBind>();
  private queue: InFlight[] = [];
  private head = 0;
  private scheduled = false;
  private waiters: (() => void)[] = [];
  /** Datagrams delivered / dropped (no bind at the destination, or the tap said so). */
  delivered = 0;
  dropped = 0;
  tap: Tap | undefined;

  /** Creates a bind at `at`; throws if the address:port is taken. */
  bind(at: Endpoint): MemoryBind {
    const b = new MemoryBind(this, { ...at });
    this.attach(b);
    return b;
  }

  /** @internal */
  attach(b: MemoryBind): void {
    const key = formatEndpoint(b.local);
    if (this.binds.has(key)) throw new Error(`memory network: ${key} is in use`);
    this.binds.set(key, b);
  }

  /** @internal */
  isFree(at: Endpoint): boolean {
    return !this.binds.has(formatEndpoint(at));
  }

  /** @internal */
  detach(b: MemoryBind): void {
    const key = formatEndpoint(b.local);
    if (this.binds.get(key) === b) this.binds.delete(key);
  }

  /** @internal */
  enqueue(packet: Uint8Array, from: Endpoint, to: Endpoint): void {
    this.queue.push({ packet, from: { ...from }, to: { ...to } });
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.drain());
    }
  }

  /** Resolves once no datagram is in flight (including ones sent by handlers while draining). */
  idle(): Promise<void> {
    if (this.head >= this.queue.length && !this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private drain(): void {
    // Bounded per turn so a ping-pong between two handlers cannot starve the event loop.
    for (let n = 0; n < 100_000 && this.head < this.queue.length; n++) {
      const item = this.queue[this.head++]!;
      this.deliver(item);
    }
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
      this.scheduled = false;
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    } else {
      setImmediate(() => this.drain());
    }
  }

  private deliver({ packet, from, to }: InFlight): void {
    let data = packet;
    if (this.tap) {
      const verdict = this.tap(packet, from, to);
      if (verdict === 'drop') {
        this.dropped++;
        return;
      }
      if (verdict !== 'pass') data = verdict;
    }
    const target = this.binds.get(formatEndpoint(to));
    if (!target) {
      this.dropped++;
      return;
    }
    this.delivered++;
    target.receive(data, from);
  }
}

/** A Bind on a MemoryNetwork. */
export class MemoryBind implements Bind {
  private handler: UdpHandler | undefined;
  private closed = false;
  /** Datagrams this bind sent. */
  sent = 0;

  constructor(
    private readonly net: MemoryNetwork,
    public local: Endpoint,
  ) {}

  get localPort(): number {
    return this.local.port;
  }

  send(packets: Uint8Array | Uint8Array[], to: Endpoint): void {
    if (this.closed) return;
    const list = Array.isArray(packets) ? packets : [packets];
    for (const p of list) {
      this.sent++;
      this.net.enqueue(p, this.local, to);
    }
  }

  onReceive(handler: UdpHandler): void {
    this.handler = handler;
  }

  /**
   * Moves this bind to a new local address (a NAT rebinding or a roaming laptop). A taken address
   * throws CG_BUSY and leaves the bind where it was, as a real bind that opens its new socket first.
   */
  rebind(to: Endpoint): void {
    if (!this.net.isFree(to)) throw new ConegateError('CG_BUSY', `memory network: ${formatEndpoint(to)} is in use`);
    this.net.detach(this);
    this.local = { ...to };
    this.net.attach(this);
  }

  /** @internal */
  receive(packet: Uint8Array, from: Endpoint): void {
    if (!this.closed) this.handler?.(packet, from);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.net.detach(this);
  }
}

/**
 * Two binds on a fresh network, at 192.0.2.1:51820 and 192.0.2.2:51820 (documentation addresses).
 * The network is returned too, for its tap and idle().
 */
export function createMemoryBindPair(
  a: Endpoint = { address: '192.0.2.1', port: 51820 },
  b: Endpoint = { address: '192.0.2.2', port: 51820 },
): { a: MemoryBind; b: MemoryBind; net: MemoryNetwork } {
  const net = new MemoryNetwork();
  return { a: net.bind(a), b: net.bind(b), net };
}
