/**
 * A TUN device over an open descriptor, shared by Linux and FreeBSD. Reads: the main thread reads when
 * a poll on libuv's pool (pool-readiness.ts) or a poll worker says the fd is readable, or a reader
 * worker copies (modes below). Writes: on the calling thread, or through a ring to a writer thread that
 * runs while traffic flows (ring-thread.ts). FreeBSD's TUNSIFHEAD mode puts a 4-byte address
 * family (network order) before every packet; `afHeader` strips it on read and adds it on write.
 */
import { Worker } from 'node:worker_threads';
import { ConegateError } from '../errors.ts';
import { ERRNO, koffiPath, libc } from './libc.ts';
import type { DemandPolicy } from './demand.ts';
import { PoolReadiness } from './pool-readiness.ts';
import { POLL_WORKER_SOURCE, STATE_ARMED, type PollWorkerData } from './poll-worker.ts';
import { RingThread, threadModeFrom, type ThreadMode } from './ring-thread.ts';
import { createWriteRing, ringPush, WRITER_WORKER_SOURCE, type WriteRing, type WriterWorkerData } from './write-ring.ts';
import { READER_WORKER_SOURCE, type ReaderErrorMessage, type ReaderWorkerData, type SlabMessage } from './reader-worker.ts';
import type { TunDevice, TunStats } from './tun.ts';

/** Packets per slab handed from the reader: enough to amortise a message, small enough to keep latency. */
const SLAB_PACKETS = 64;
/** How often the reader looks at its stop flag while the interface is idle. */
const POLL_MS = 100;
/** Packets read per turn in readiness mode before yielding to the event loop (UDP, timers, UAPI). */
const READ_BUDGET = 256;
/** Bytes per receive slab in readiness mode: packets are views into it, a new slab when it runs low. */
const SLAB_BYTES = 256 * 1024;

/**
 * How packets get from the fd to the handler:
 *  - 'pool' (default): poll() on libuv's thread pool waits for readability, the main thread reads
 *    (pool-readiness.ts): no worker thread, so an idle agent does not pay for one;
 *  - 'poll': a worker waits for readability, the main thread reads (poll-worker.ts);
 *  - 'copy': a worker reads and transfers slabs of packets (reader-worker.ts).
 */
export type TunReadMode = 'pool' | 'poll' | 'copy';

/**
 * Where writes happen: 'auto' (default) on the calling thread until packets come fast, then through a
 * shared ring (write-ring.ts) to a writer thread, stopped again when idle (ring-thread.ts); 'thread'
 * always through the writer thread; 'main' always on the calling thread.
 */
export type TunWriteMode = ThreadMode;
/** Ring slots: ~2 ms of a saturated gigabit link; a full ring drops, as a full TUN queue would. */
const RING_SLOTS = 1024;

export interface FdTunStats extends TunStats {
  /** Slabs (batches) received from the reader: rxPackets / slabs is the mean batch size. */
  slabs: number;
}

export interface FdTunParams {
  name: string;
  mtu: number;
  fd: number;
  libcName: string;
  /** Address families for the 4-byte header, or undefined when packets carry no header (Linux IFF_NO_PI). */
  afHeader?: { inet: number; inet6: number };
  /** Default: CONEGATE_TUN_READ if set, else 'pool'. */
  readMode?: TunReadMode;
  /** Default: CONEGATE_TUN_WRITE if set, else 'auto'. */
  writeMode?: TunWriteMode;
  /** When the 'auto' writer thread starts and stops (tests shorten it). */
  demand?: DemandPolicy;
}

export class FdTun implements TunDevice {
  readonly name: string;
  readonly mtu: number;
  readonly stats: FdTunStats = { rxPackets: 0, txPackets: 0, dropped: 0, slabs: 0 };
  private readonly fd: number;
  private readonly hdr: number;
  private readonly af: { inet: number; inet6: number } | undefined;
  /** Write scratch for the headered form, reused: no allocation per written packet. */
  private readonly scratch: Uint8Array | undefined;
  private handler: ((packet: Uint8Array) => void) | undefined;
  private worker: Worker | undefined;
  private readiness: PoolReadiness | undefined;
  private readonly writer: RingThread<WriteRing>;
  private readonly afScratch = new Uint8Array(4);
  private readonly stop = new Int32Array(new SharedArrayBuffer(4));
  /** Readiness mode: [0] ARMED/READING handshake, [1] stop flag (see poll-worker.ts). */
  private readonly state = new Int32Array(new SharedArrayBuffer(8));
  private slab = new Uint8Array(0);
  private slabUsed = 0;
  private closing: Promise<void> | undefined;

  constructor(p: FdTunParams) {
    this.name = p.name;
    this.mtu = p.mtu;
    this.fd = p.fd;
    this.af = p.afHeader;
    this.hdr = p.afHeader ? 4 : 0;
    this.scratch = p.afHeader ? new Uint8Array(p.mtu + 4) : undefined;
    const env = process.env.CONEGATE_TUN_READ;
    const mode = p.readMode ?? (env === 'copy' || env === 'poll' ? env : 'pool');
    if (mode === 'copy') this.startReader(p.libcName);
    else if (mode === 'poll') this.startPoller(p.libcName);
    else this.startPool();
    this.writer = this.writerThread(p.libcName, p.writeMode ?? threadModeFrom(process.env.CONEGATE_TUN_WRITE), p.demand);
  }

  /** Whether writes go through the writer thread now (tests, diagnostics). */
  get writerActive(): boolean {
    return this.writer.ring !== undefined;
  }

  onPacket(handler: (packet: Uint8Array) => void): void {
    this.handler = handler;
  }

  write(ipPackets: Uint8Array | Uint8Array[]): void {
    if (Array.isArray(ipPackets)) for (const p of ipPackets) this.writeOne(p);
    else this.writeOne(ipPackets);
  }

  private writeOne(packet: Uint8Array): void {
    // Fire and forget (ports.ts): after close, a late packet from an in-flight decrypt is just dropped.
    if (this.closing) {
      this.stats.dropped++;
      return;
    }
    const ring = this.writer.ring;
    if (ring) {
      let header: Uint8Array | undefined;
      if (this.af) {
        if (packet.length === 0) {
          this.stats.dropped++;
          return;
        }
        new DataView(this.afScratch.buffer).setUint32(0, (packet[0] as number) >> 4 === 6 ? this.af.inet6 : this.af.inet);
        header = this.afScratch;
      }
      if (ringPush(ring, packet, header)) {
        this.stats.txPackets++;
        this.writer.wake();
      } else this.stats.dropped++;
      return;
    }
    this.writer.noteMain();
    let buf = packet;
    if (this.scratch && this.af) {
      if (packet.length === 0 || packet.length > this.mtu) {
        this.stats.dropped++;
        return;
      }
      const v6 = (packet[0] as number) >> 4 === 6;
      new DataView(this.scratch.buffer).setUint32(0, v6 ? this.af.inet6 : this.af.inet);
      this.scratch.set(packet, 4);
      buf = this.scratch.subarray(0, packet.length + 4);
    }
    // The kernel rejects malformed packets with EINVAL and a full queue with EAGAIN: count, never throw,
    // because these are per-packet outcomes the sender cannot act on.
    if (libc().write(this.fd, buf, buf.length) < 0) this.stats.dropped++;
    else this.stats.txPackets++;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // Exit promises are taken before the stop flags are raised: a worker that sees its flag and exits
    // before we get round to waiting for it must not leave us waiting forever.
    const exits = [this.worker].filter((w): w is Worker => w !== undefined).map((w) => {
      // ref'd while we wait: an otherwise idle process would exit before the wait ends.
      w.ref();
      return new Promise<void>((resolve) => w.once('exit', () => resolve()));
    });
    Atomics.store(this.stop, 0, 1);
    Atomics.store(this.state, 1, 1);
    Atomics.notify(this.state, 0);
    // The loops see their flags within one poll/wait timeout; the fd is closed only once no thread uses it.
    await Promise.all([...exits, this.writer.close(), this.readiness?.close()]);
    this.worker = undefined;
    libc().close(this.fd);
  }

  private startReader(libcName: string): void {
    const data: ReaderWorkerData = {
      koffiPath: koffiPath(),
      libcName,
      fd: this.fd,
      packetMax: this.mtu + this.hdr,
      slabPackets: SLAB_PACKETS,
      pollMs: POLL_MS,
      stop: this.stop,
      eagain: ERRNO.EAGAIN,
      eintr: ERRNO.EINTR,
    };
    const worker = new Worker(READER_WORKER_SOURCE, { eval: true, workerData: data });
    worker.on('message', (msg: SlabMessage | ReaderErrorMessage) => this.onMessage(msg));
    worker.on('error', () => {
      this.stats.dropped++;
    });
    // A reader must never keep the process alive by itself: close() is what ends it.
    worker.unref();
    this.worker = worker;
  }

  private writerThread(libcName: string, mode: TunWriteMode, demand: DemandPolicy | undefined): RingThread<WriteRing> {
    return new RingThread(mode, {
      create: () => {
        // Slots hold a whole packet plus FreeBSD's 4-byte header, rounded up to keep them 64-byte aligned.
        const ring = createWriteRing(RING_SLOTS, (this.mtu + this.hdr + 63) & ~63);
        const data: WriterWorkerData = { koffiPath: koffiPath(), libcName, fd: this.fd, ring, waitMs: POLL_MS };
        return { ring, worker: new Worker(WRITER_WORKER_SOURCE, { eval: true, workerData: data }) };
      },
      // The writer reports writes the kernel refused; they count as drops like on the main-thread path.
      onFailed: (failed) => {
        this.stats.dropped += failed;
        this.stats.txPackets -= failed;
      },
      onError: () => {
        this.stats.dropped++;
      },
    }, demand);
  }

  private startPool(): void {
    this.readiness = new PoolReadiness(this.fd, () => this.drain());
    this.readiness.arm();
  }

  private startPoller(libcName: string): void {
    const data: PollWorkerData = { koffiPath: koffiPath(), libcName, fd: this.fd, pollMs: POLL_MS, state: this.state };
    Atomics.store(this.state, 0, STATE_ARMED);
    const worker = new Worker(POLL_WORKER_SOURCE, { eval: true, workerData: data });
    worker.on('message', () => this.drain());
    worker.on('error', () => {
      this.stats.dropped++;
    });
    worker.unref();
    this.worker = worker;
  }

  /** Readiness mode: reads until EAGAIN (then re-arms the poller) or until the budget is spent. */
  private drain(): void {
    if (this.closing) return;
    const c = libc();
    const max = this.mtu + this.hdr;
    const hdr = this.hdr;
    for (let n = 0; n < READ_BUDGET; n++) {
      if (this.slab.length - this.slabUsed < max) {
        this.slab = new Uint8Array(SLAB_BYTES);
        this.slabUsed = 0;
      }
      const buf = this.slab.subarray(this.slabUsed, this.slabUsed + max);
      const len = c.read(this.fd, buf, max);
      if (len < 0) {
        this.stats.slabs++;
        // EAGAIN: drained, wait for the next burst. Anything else (EIO, EBADF: the interface went away)
        // ends reading: a poll that keeps reporting an error would otherwise spin (a busy pool thread).
        const errno = c.errno();
        if (errno === ERRNO.EAGAIN || errno === ERRNO.EINTR) this.rearm();
        else this.stats.dropped++;
        return;
      }
      // Keep packets 8-byte aligned in the slab, so views over them stay cheap for typed-array readers.
      this.slabUsed += (len + 7) & ~7;
      if (len <= hdr || !this.handler) {
        this.stats.dropped++;
        continue;
      }
      this.stats.rxPackets++;
      this.handler(buf.subarray(hdr, len));
      if (this.closing) return;
    }
    // Budget spent: let UDP and timers run, then continue without waiting for the poller.
    setImmediate(() => this.drain());
  }

  private rearm(): void {
    if (this.readiness) return this.readiness.arm();
    Atomics.store(this.state, 0, STATE_ARMED);
    Atomics.notify(this.state, 0);
  }

  private onMessage(msg: SlabMessage | ReaderErrorMessage): void {
    if ('error' in msg) return;
    this.stats.slabs++;
    const handler = this.handler;
    const hdr = this.hdr;
    for (let i = 0; i < msg.count; i++) {
      const len = (msg.lengths[i] as number) - hdr;
      if (!handler || len <= 0) {
        this.stats.dropped++;
        continue;
      }
      this.stats.rxPackets++;
      handler(new Uint8Array(msg.slab, (msg.offsets[i] as number) + hdr, len));
    }
  }
}

/** Maps an errno from opening or configuring a TUN device to an error a person can act on. */
export function openError(what: string, errno: number): ConegateError {
  if (errno === ERRNO.EPERM || errno === ERRNO.EACCES) {
    return new ConegateError('CG_NOT_PERMITTED', `${what}: permission denied (needs root or CAP_NET_ADMIN)`, { context: { errno } });
  }
  if (errno === ERRNO.EBUSY) return new ConegateError('CG_BUSY', `${what}: interface busy (another process holds it)`, { context: { errno } });
  if (errno === ERRNO.ENOENT) return new ConegateError('CG_UNSUPPORTED', `${what}: no TUN driver`, { context: { errno } });
  return new ConegateError('CG_NETWORK', `${what} failed (errno ${errno})`, { context: { errno } });
}
