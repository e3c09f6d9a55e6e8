/**
 * UDP sends on a thread of their own. A sendmsg() on a veth runs the whole transmit path and the peer
 * namespace's receive path inside the call; on the sending agent that was ~35% of the main thread's busy
 * time at full speed. The main thread copies each datagram and its destination into a shared ring and a
 * sender thread calls sendto() on the dgram socket's own descriptor (libuv only reads from it; it writes
 * only when asked, and we no longer ask). Same single-producer/single-consumer protocol as
 * tun/write-ring.ts: head/tail counters, a sleeping flag, one deferred wake per event-loop turn.
 */
import type { Endpoint } from '../ports.ts';
import { parseIp } from '../../net/ip.ts';
import { ringConsumerSource } from '../../tun/write-ring.ts';

export const S_HEAD = 0;
export const S_TAIL = 1;
export const S_SLEEPING = 2;
export const S_STOP = 3;
/** Per slot in `meta`: length, fd, sockaddr length. */
export const META = 3;
/** sockaddr_in6 is the largest address we send to. */
export const SOCKADDR_BYTES = 28;

export interface SendRing {
  data: Uint8Array;
  addrs: Uint8Array;
  meta: Int32Array;
  ctrl: Int32Array;
  slots: number;
  slotBytes: number;
}

export function createSendRing(slots: number, slotBytes: number): SendRing {
  return {
    data: new Uint8Array(new SharedArrayBuffer(slots * slotBytes)),
    addrs: new Uint8Array(new SharedArrayBuffer(slots * SOCKADDR_BYTES)),
    meta: new Int32Array(new SharedArrayBuffer(slots * META * 4)),
    ctrl: new Int32Array(new SharedArrayBuffer(16)),
    slots,
    slotBytes,
  };
}

/** Linux sockaddr_in / sockaddr_in6 for an endpoint (family in host order, port and address in network order). */
export function sockaddrFor(e: Endpoint, platform = process.platform): Uint8Array | undefined {
  const ip = parseIp(e.address);
  if (!ip || !(e.port > 0 && e.port < 65536)) return undefined;
  const v6 = ip.family === 6;
  const sa = new Uint8Array(v6 ? 28 : 16);
  const view = new DataView(sa.buffer);
  if (platform === 'linux') view.setUint16(0, v6 ? 10 : 2, true);
  else {
    // BSD layout: sin_len, sin_family (AF_INET6 is 28 on FreeBSD).
    sa[0] = sa.length;
    sa[1] = v6 ? 28 : 2;
  }
  view.setUint16(2, e.port);
  sa.set(ip.bytes, v6 ? 8 : 4);
  return sa;
}

/** Queues one datagram; false when the ring is full or the datagram is too big for a slot. */
export function sendPush(r: SendRing, packet: Uint8Array, fd: number, sockaddr: Uint8Array): boolean {
  const head = r.ctrl[S_HEAD] as number;
  if (head - Atomics.load(r.ctrl, S_TAIL) >= r.slots || packet.length > r.slotBytes) return false;
  const slot = head % r.slots;
  r.data.set(packet, slot * r.slotBytes);
  r.addrs.set(sockaddr, slot * SOCKADDR_BYTES);
  r.meta[slot * META] = packet.length;
  r.meta[slot * META + 1] = fd;
  r.meta[slot * META + 2] = sockaddr.length;
  Atomics.store(r.ctrl, S_HEAD, head + 1);
  return true;
}

export interface SenderWorkerData {
  koffiPath: string;
  libcName: string;
  ring: SendRing;
  waitMs: number;
}

/** The sender loop (worker source, evaluated as a script). Posts the number of failed sends now and then. */
export const SENDER_WORKER_SOURCE = ringConsumerSource(
  String.raw`
const sendto = lib.func('long sendto(int fd, void *buf, unsigned long len, int flags, void *addr, unsigned int alen)');
const { data, addrs, meta, slotBytes } = ring;
const bufs = [];
const sas = [];
for (let i = 0; i < slots; i++) {
  bufs.push(new Uint8Array(data.buffer, i * slotBytes, slotBytes));
  sas.push(new Uint8Array(addrs.buffer, i * 28, 28));
}
`,
  // meta per slot: length, fd, sockaddr length (META = 3).
  'Number(sendto(meta[slot * 3 + 1], bufs[slot], meta[slot * 3], 0, sas[slot], meta[slot * 3 + 2])) >= 0',
);
