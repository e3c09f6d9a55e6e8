/** UdpBind over node:dgram: one socket per family (IPv6 sockets are v6-only, so sources never arrive as ::ffff:a.b.c.d). */
import { createSocket, type Socket } from 'node:dgram';
import { ConegateError } from '../errors.ts';
import { canonicalIp, familyOf, type UdpBind, type UdpEndpoint, type UdpHandler } from './bind.ts';

class DgramBind implements UdpBind {
  private handlers = new Set<UdpHandler>();
  private closed = false;
  constructor(
    private readonly socket: Socket,
    readonly local: UdpEndpoint,
  ) {
    socket.on('message', (msg, rinfo) => {
      const bytes = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
      const from = { address: canonicalIp(rinfo.address), port: rinfo.port };
      for (const h of [...this.handlers]) h(bytes, from);
    });
    // An ICMP error on a connectionless socket surfaces here on some systems; sends report their own.
    socket.on('error', () => undefined);
  }

  send(bytes: Uint8Array, address: string, port: number): Promise<void> {
    if (this.closed) return Promise.reject(new ConegateError('CG_NETWORK', 'socket is closed'));
    return new Promise((resolve, reject) => {
      this.socket.send(bytes, port, address, (err) => {
        if (err) reject(new ConegateError('CG_NETWORK', `cannot send to ${address}:${port}: ${err.message}`, { cause: err }));
        else resolve();
      });
    });
  }

  onMessage(handler: UdpHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.handlers.clear();
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** Binds a UDP socket on address:port (port 0 = any). Rejects with CG_NETWORK if the OS refuses. */
export async function openDgramBind(address: string, port = 0): Promise<UdpBind> {
  const family = familyOf(address);
  if (!family) throw new ConegateError('CG_INPUT_INVALID', `not an IP address: ${address}`);
  const socket = createSocket(family === 6 ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      socket.close();
      reject(new ConegateError('CG_NETWORK', `cannot bind UDP ${address}:${port}: ${err.message}`, { cause: err }));
    };
    socket.once('error', onError);
    socket.bind(port, address, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  const a = socket.address();
  return new DgramBind(socket, { address: canonicalIp(a.address), port: a.port });
}
