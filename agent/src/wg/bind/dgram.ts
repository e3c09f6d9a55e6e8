/**
 * The WireGuard UDP bind on node:dgram: one IPv4 and one IPv6 socket on the same port (the IPv6 one
 * IPv6-only, like wireguard-go, so each family has its own socket and no mapped addresses appear).
 * node:dgram has no sendmmsg/recvmmsg; on the main-thread path a batch is consecutive send() calls
 * sharing one completion callback (which only counts errors).
 * `rebind(port)` moves to a new port keeping the handler (UAPI `listen_port=`): the new sockets are
 * opened before the old ones close, so a busy port fails with nothing changed (as wireguard-go does).
 * On Linux with koffi, sends go through a sender thread (send-ring.ts) while traffic flows (sendMode
 * 'auto', the default: the thread starts under load and stops when idle, ring-thread.ts), always
 * ('thread') or never ('main'); CONEGATE_UDP_SEND sets the default. Measured in bench/wg.ts (2 runs x 5 alternating rounds, shared 2-core lab
 * machine, ratio to wireguard-go per round): median 1.07 with the thread, 1.005 on the main thread;
 * before the sender's wake-up was deferred to once per event-loop turn the thread lost (0.94 / 0.78).
 */
import { createSocket, type Socket } from 'node:dgram';
import { Worker } from 'node:worker_threads';
import { ConegateError } from '../../errors.ts';
import { koffiPath } from '../../tun/libc.ts';
import type { Bind, Endpoint, UdpHandler } from '../ports.ts';
import type { DemandPolicy } from '../../tun/demand.ts';
import { RingThread, threadModeFrom, type ThreadMode } from '../../tun/ring-thread.ts';
import { setSocketMark, socketMark } from './mark.ts';
import { createSendRing, SENDER_WORKER_SOURCE, sendPush, sockaddrFor, type SenderWorkerData, type SendRing } from './send-ring.ts';

export interface DgramBindOptions {
  /** UDP port; 0 picks one (both families then share the port the IPv4 socket got). */
  port: number;
  /** Local addresses to bind; default all (`0.0.0.0` and `::`). */
  host4?: string;
  host6?: string;
  /** Skip the IPv6 socket (hosts with IPv6 disabled are handled automatically). */
  ipv4Only?: boolean;
  /** Socket buffer sizes in bytes; larger buffers absorb bursts at high packet rates. Default 1 MiB. */
  bufferBytes?: number;
  /** 'auto' (default; a thread only under load, Linux with koffi), 'thread' or 'main'; CONEGATE_UDP_SEND sets the default. */
  sendMode?: ThreadMode;
  /** When the 'auto' sender thread starts and stops (tests shorten it). */
  demand?: DemandPolicy;
}

export interface DgramBindStats {
  rxPackets: number;
  txPackets: number;
  /** Sends that failed synchronously or asynchronously (unreachable, no route, buffer full). */
  sendErrors: number;
}

/**
 * 1 MiB: enough for ~700 full-size datagrams of burst; larger buffers only add queueing delay inside the
 * tunnel (measured: TCP RTT through the tunnel grew to 30-40 ms with 4 MiB under load).
 */
const DEFAULT_BUFFER = 1 << 20;
const SEND_SLOTS = 1024;
const SEND_SLOT_BYTES = 2048;

/** The descriptor under a bound dgram socket (node keeps it in its internal state; no public API). */
function socketFd(sock: Socket | undefined): number | undefined {
  if (!sock) return undefined;
  const state = Object.getOwnPropertySymbols(sock).find((sym) => sym.description === 'state symbol');
  const fd = state ? (sock as unknown as Record<symbol, { handle?: { fd?: unknown } }>)[state]?.handle?.fd : undefined;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

export class DgramBind implements Bind {
  readonly stats: DgramBindStats = { rxPackets: 0, txPackets: 0, sendErrors: 0 };
  private handler: UdpHandler | undefined;
  private v4: Socket | undefined;
  private v6: Socket | undefined;
  private port = 0;
  private mark = 0;
  private closed = false;
  private fd4: number | undefined;
  private fd6: number | undefined;
  private sender: RingThread<SendRing> | undefined;
  /** Destination sockaddrs by endpoint object: the device keeps one object per peer endpoint. */
  private readonly sockaddrs = new WeakMap<Endpoint, Uint8Array>();
  private readonly onSendError = (err: Error | null) => {
    if (err) this.stats.sendErrors++;
  };

  private constructor(private readonly options: DgramBindOptions) {}

  /** Opens the sockets; rejects with CG_BUSY if the port is taken, CG_NETWORK otherwise. */
  static async open(options: DgramBindOptions): Promise<DgramBind> {
    const b = new DgramBind(options);
    await b.openSockets(options.port);
    const mode = options.sendMode ?? threadModeFrom(process.env.CONEGATE_UDP_SEND);
    if (mode !== 'main' && process.platform === 'linux') b.startSender(mode);
    return b;
  }

  get localPort(): number {
    return this.port;
  }

  onReceive(handler: UdpHandler): void {
    this.handler = handler;
  }

  /** Whether sends go through the sender thread now (tests, diagnostics). */
  get senderActive(): boolean {
    return this.sender?.ring !== undefined;
  }

  send(packets: Uint8Array | Uint8Array[], to: Endpoint): void {
    const ring = this.sender?.ring;
    if (ring) return this.sendThreaded(ring, packets, to);
    this.sender?.noteMain(Array.isArray(packets) ? packets.length : 1);
    const sock = to.address.includes(':') ? this.v6 : this.v4;
    if (!sock) {
      this.stats.sendErrors++;
      return;
    }
    try {
      if (Array.isArray(packets)) {
        for (const p of packets) sock.send(p, to.port, to.address, this.onSendError);
        this.stats.txPackets += packets.length;
      } else {
        sock.send(packets, to.port, to.address, this.onSendError);
        this.stats.txPackets++;
      }
    } catch {
      // A bad address or a closed socket throws synchronously: a per-packet outcome, counted.
      this.stats.sendErrors++;
    }
  }

  private sendThreaded(ring: SendRing, packets: Uint8Array | Uint8Array[], to: Endpoint): void {
    const fd = to.address.includes(':') ? this.fd6 : this.fd4;
    let sa = this.sockaddrs.get(to);
    if (!sa) {
      sa = sockaddrFor(to);
      if (sa) this.sockaddrs.set(to, sa);
    }
    if (fd === undefined || !sa) {
      this.stats.sendErrors += Array.isArray(packets) ? packets.length : 1;
      return;
    }
    // A full ring is a full socket buffer: drop and count, as the kernel would.
    if (Array.isArray(packets)) {
      for (const p of packets) {
        if (sendPush(ring, p, fd, sa)) this.stats.txPackets++;
        else this.stats.sendErrors++;
      }
    } else if (sendPush(ring, packets, fd, sa)) this.stats.txPackets++;
    else this.stats.sendErrors++;
    this.sender?.wake();
  }

  /**
   * Moves to another port (0: any), keeping the handler. The new sockets open first: if the port is
   * busy (CG_BUSY) or anything else fails, the old sockets, port and mark stay exactly as they were.
   */
  async rebind(port: number): Promise<void> {
    if (this.closed) throw new ConegateError('CG_NETWORK', 'bind is closed');
    const next = await this.openPair(port);
    try {
      if (this.mark !== 0) for (const s of [next.v4, next.v6]) if (s) setSocketMark(socketFd(s), this.mark);
    } catch (err) {
      for (const s of [next.v4, next.v6]) s?.close();
      throw err;
    }
    await this.drainSends();
    this.closeSockets();
    this.install(next);
  }

  /** The SO_MARK of outgoing packets (UAPI fwmark); 0 clears it. Linux only (CG_UNSUPPORTED elsewhere). */
  setMark(mark: number): void {
    for (const s of [this.v4, this.v6]) if (s) setSocketMark(socketFd(s), mark);
    this.mark = mark;
  }

  get fwmark(): number {
    return this.mark;
  }

  /** SO_MARK as the kernel has it on each open socket (tests, diagnostics). */
  socketMarks(): (number | undefined)[] {
    return [this.v4, this.v6].filter((s): s is Socket => s !== undefined).map((s) => {
      const fd = socketFd(s);
      return fd === undefined ? undefined : socketMark(fd);
    });
  }

  /** Stops the sender thread (after it has sent what was queued), then closes the sockets. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sender) {
      await this.drainSends();
      await this.sender.close();
    }
    this.closeSockets();
  }

  /** Waits (bounded, 1 s) until the sender thread has taken every queued datagram off the ring. */
  private async drainSends(): Promise<void> {
    const ring = this.sender?.ring;
    if (!ring) return;
    const deadline = performance.now() + 1000;
    while (Atomics.load(ring.ctrl, 0) !== Atomics.load(ring.ctrl, 1) && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  private startSender(mode: ThreadMode): void {
    if (socketFd(this.v4) === undefined) return;
    let path: string;
    try {
      path = koffiPath();
    } catch {
      return;
    }
    this.sender = new RingThread(mode, {
      create: () => {
        const ring = createSendRing(SEND_SLOTS, SEND_SLOT_BYTES);
        const data: SenderWorkerData = { koffiPath: path, libcName: 'libc.so.6', ring, waitMs: 100 };
        return { ring, worker: new Worker(SENDER_WORKER_SOURCE, { eval: true, workerData: data }) };
      },
      onFailed: (failed) => {
        this.stats.sendErrors += failed;
      },
      onError: () => {
        this.stats.sendErrors++;
      },
    }, this.options.demand);
  }

  private closeSockets(): void {
    for (const s of [this.v4, this.v6]) s?.close();
    this.v4 = this.v6 = undefined;
  }

  private async openSockets(port: number): Promise<void> {
    this.install(await this.openPair(port));
  }

  private install(p: { v4: Socket; v6: Socket | undefined }): void {
    this.v4 = p.v4;
    this.v6 = p.v6;
    this.port = p.v4.address().port;
    this.fd4 = socketFd(p.v4);
    this.fd6 = socketFd(p.v6);
  }

  /** Opens the IPv4 socket and, unless IPv6 is unavailable, the IPv6 one on the same port; installs nothing. */
  private async openPair(port: number): Promise<{ v4: Socket; v6: Socket | undefined }> {
    const size = this.options.bufferBytes ?? DEFAULT_BUFFER;
    const v4 = await this.openOne('udp4', port, this.options.host4 ?? '0.0.0.0', size);
    if (this.options.ipv4Only) return { v4, v6: undefined };
    try {
      return { v4, v6: await this.openOne('udp6', v4.address().port, this.options.host6 ?? '::', size) };
    } catch (err) {
      // IPv6 disabled or unavailable: carry on with IPv4 only, as wireguard-go does. A port clash on
      // IPv6 alone is a real conflict, though.
      if (err instanceof ConegateError && err.code === 'CG_BUSY') {
        v4.close();
        throw err;
      }
      return { v4, v6: undefined };
    }
  }

  private openOne(type: 'udp4' | 'udp6', port: number, host: string, bufferBytes: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const sock = createSocket({ type, ipv6Only: type === 'udp6', recvBufferSize: bufferBytes, sendBufferSize: bufferBytes });
      const fail = (err: NodeJS.ErrnoException) => {
        sock.close();
        const code = err.code === 'EADDRINUSE' ? 'CG_BUSY' : err.code === 'EACCES' ? 'CG_NOT_PERMITTED' : 'CG_NETWORK';
        reject(new ConegateError(code, `cannot bind ${type} ${host} port ${port}: ${err.code ?? err.message}`, { cause: err }));
      };
      sock.once('error', fail);
      sock.bind({ port, address: host, exclusive: true }, () => {
        sock.off('error', fail);
        // After bind, socket errors are per-datagram (ICMP unreachable surfacing on Linux): never fatal.
        sock.on('error', () => {
          this.stats.sendErrors++;
        });
        sock.on('message', (msg, rinfo) => {
          this.stats.rxPackets++;
          const zone = rinfo.address.indexOf('%');
          this.handler?.(msg, { address: zone < 0 ? rinfo.address : rinfo.address.slice(0, zone), port: rinfo.port });
        });
        resolve(sock);
      });
    });
  }
}
