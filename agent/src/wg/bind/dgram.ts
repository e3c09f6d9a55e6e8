/**
 * The WireGuard UDP bind on node:dgram: one IPv4 and one IPv6 socket on the same port (the IPv6 one
 * IPv6-only, like wireguard-go, so each family has its own socket and no mapped addresses appear).
 * node:dgram has no sendmmsg/recvmmsg; a batch is sent as consecutive send() calls without callbacks,
 * which libuv turns into immediate sendmsg() calls (no completion allocation).
 * `rebind(port)` moves to a new port keeping the handler (UAPI `listen_port=`).
 */
import { createSocket, type Socket } from 'node:dgram';
import { ConegateError } from '../../errors.ts';
import type { Bind, Endpoint, UdpHandler } from '../ports.ts';

export interface DgramBindOptions {
  /** UDP port; 0 picks one (both families then share the port the IPv4 socket got). */
  port: number;
  /** Local addresses to bind; default all (`0.0.0.0` and `::`). */
  host4?: string;
  host6?: string;
  /** Skip the IPv6 socket (hosts with IPv6 disabled are handled automatically). */
  ipv4Only?: boolean;
  /** Socket buffer sizes in bytes; larger buffers absorb bursts at high packet rates. Default 4 MiB. */
  bufferBytes?: number;
}

export interface DgramBindStats {
  rxPackets: number;
  txPackets: number;
  /** Sends that failed synchronously or asynchronously (unreachable, no route, buffer full). */
  sendErrors: number;
}

const DEFAULT_BUFFER = 4 << 20;

export class DgramBind implements Bind {
  readonly stats: DgramBindStats = { rxPackets: 0, txPackets: 0, sendErrors: 0 };
  private handler: UdpHandler | undefined;
  private v4: Socket | undefined;
  private v6: Socket | undefined;
  private port = 0;
  private closed = false;
  private readonly onSendError = (err: Error | null) => {
    if (err) this.stats.sendErrors++;
  };

  private constructor(private readonly options: DgramBindOptions) {}

  /** Opens the sockets; rejects with CG_BUSY if the port is taken, CG_NETWORK otherwise. */
  static async open(options: DgramBindOptions): Promise<DgramBind> {
    const b = new DgramBind(options);
    await b.openSockets(options.port);
    return b;
  }

  get localPort(): number {
    return this.port;
  }

  onReceive(handler: UdpHandler): void {
    this.handler = handler;
  }

  send(packets: Uint8Array | Uint8Array[], to: Endpoint): void {
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

  /** Moves to another port (0: any), keeping the handler. The old sockets close first. */
  async rebind(port: number): Promise<void> {
    if (this.closed) throw new ConegateError('CG_NETWORK', 'bind is closed');
    this.closeSockets();
    await this.openSockets(port);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeSockets();
  }

  private closeSockets(): void {
    for (const s of [this.v4, this.v6]) s?.close();
    this.v4 = this.v6 = undefined;
  }

  private async openSockets(port: number): Promise<void> {
    const size = this.options.bufferBytes ?? DEFAULT_BUFFER;
    this.v4 = await this.openOne('udp4', port, this.options.host4 ?? '0.0.0.0', size);
    this.port = this.v4.address().port;
    if (this.options.ipv4Only) return;
    try {
      this.v6 = await this.openOne('udp6', this.port, this.options.host6 ?? '::', size);
    } catch (err) {
      // IPv6 disabled or unavailable: carry on with IPv4 only, as wireguard-go does. A port clash on
      // IPv6 alone is a real conflict, though.
      if (err instanceof ConegateError && err.code === 'CG_BUSY') {
        this.closeSockets();
        throw err;
      }
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
