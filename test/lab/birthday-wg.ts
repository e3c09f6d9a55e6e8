/**
 * WireGuard over the socket a birthday attempt won, before the paths router exists: a Bind that sends
 * from one socket of a SocketSet and receives what arrives on it, and a userspace WgDevice (our
 * agent/src/wg) on a MemoryTun over that bind. Used by the executor's unit test (memory twin) and by the
 * lab driver (real sockets through the kernel NATs).
 */
import type { Clock } from '../../agent/src/clock/clock.ts';
import { WgDevice } from '../../agent/src/wg/device.ts';
import { keyFromHex } from '../../agent/src/wg/keys.ts';
import { MemoryTun } from '../../agent/src/wg/memory-tun.ts';
import type { Bind, Endpoint, UdpHandler } from '../../agent/src/wg/ports.ts';
import type { SocketId, SocketSet } from '../../agent/src/paths/types.ts';

/** The Bind half: the set's receive handler stays with its owner, who hands this socket's datagrams to `deliver`. */
export class SocketBind implements Bind {
  private handler: UdpHandler | undefined;
  constructor(
    private readonly set: SocketSet,
    readonly socket: SocketId,
  ) {}
  send(packets: Uint8Array | Uint8Array[], to: Endpoint): void {
    for (const p of Array.isArray(packets) ? packets : [packets]) this.set.send(this.socket, p, to);
  }
  onReceive(handler: UdpHandler): void {
    this.handler = handler;
  }
  deliver(packet: Uint8Array, from: Endpoint): void {
    this.handler?.(packet, from);
  }
  close(): void {
    this.handler = undefined;
  }
}

export interface WgOverSocket {
  bind: SocketBind;
  tun: MemoryTun;
  dev: WgDevice;
  stop(): void;
}

/** A device with one peer, sending from `socket`; tunnel addresses are /32s on both ends. */
export function wgOverSocket(o: { set: SocketSet; socket: SocketId; clock: Clock; privateKeyHex: string; peerPublicKeyHex: string; peer: Endpoint; peerTun: string; randomBytes?: (n: number) => Uint8Array; wallClockMs?: () => number }): WgOverSocket {
  const bind = new SocketBind(o.set, o.socket);
  const tun = new MemoryTun('wgb');
  const dev = new WgDevice(
    { privateKey: keyFromHex(o.privateKeyHex), peers: [{ publicKey: keyFromHex(o.peerPublicKeyHex), allowedIps: [`${o.peerTun}/32`], endpoint: o.peer }] },
    { clock: o.clock, bind, tun, ...(o.randomBytes ? { randomBytes: o.randomBytes } : {}), ...(o.wallClockMs ? { wallClockMs: o.wallClockMs } : {}), jitterMs: () => 0 },
  );
  dev.start();
  return { bind, tun, dev, stop: () => dev.stop() };
}
