/**
 * One relay connection as the server holds it: the frame reader, the two packet queues (discovery
 * before data, each 32 packets, head drop), the write pump with its write timeout, read back-pressure
 * from a token bucket on received bytes, and the keepalive timer. What the frames mean is decided by
 * the server (relay-server.ts) through ConnHost; this file only moves bytes and keeps time.
 */
import type { CancelTimer, Clock } from '../../clock/clock.ts';
import { DecodeError } from '../../errors.ts';
import { TokenBucket, type BucketSpec } from '../../net/ratelimit.ts';
import { encodeKeepalive, FrameReader, type Frame } from '../frames.ts';
import { DropOldestQueue } from './queue.ts';
import type { RelayTransport } from './transport.ts';

export interface ConnOptions {
  queueDepth: number;
  /** A write that has not drained after this long ends the connection. */
  writeTimeoutMs: number;
  keepaliveMs: number;
  keepaliveJitterMs: number;
  /** Per-client bytes/s on reads; undefined = unlimited (relay-to-relay links always are). */
  readLimit?: BucketSpec;
  /** More than this written and unsent (control frames to a client that does not read) ends the connection. */
  maxBufferedBytes: number;
  /** Frames are gathered into writes of about this size (one TLS record each, not one per packet). */
  writeBatchBytes: number;
  /** Packets move from the queues to the socket while it holds less than this. */
  socketBufferBytes: number;
}

export interface ConnHost {
  onFrame(conn: RelayConn, frame: Frame): void;
  onClose(conn: RelayConn, reason: string): void;
}

export interface ConnDeps {
  clock: Clock;
  random: () => number;
}

let nextId = 1;

export class RelayConn {
  readonly id = nextId++;
  /** Set at login. */
  key: Uint8Array | undefined;
  keyHex = '';
  /** Logged in with the region's mesh key: another relay of this region. */
  isMesh = false;
  /** A mesh peer that asked for peer-present/peer-gone (watch-conns). */
  watching = false;
  prober = false;
  preferred = false;
  /** Monotonic ms of the last frame read: duplicate keys go to the connection that wrote last. */
  lastReadMs = 0;
  /** Packets dropped from full queues, and frames of unknown types skipped. */
  get droppedPackets(): number {
    return this.disco.dropped + this.data.dropped;
  }

  private readonly reader = new FrameReader();
  private readonly disco: DropOldestQueue<Uint8Array>;
  private readonly data: DropOldestQueue<Uint8Array>;
  private bucket: TokenBucket | undefined;
  private writeTimeoutMs: number;
  private flushQueued = false;
  private closed = false;
  private cancelWriteTimer: CancelTimer | undefined;
  private cancelKeepalive: CancelTimer | undefined;
  private cancelResume: CancelTimer | undefined;

  constructor(
    readonly transport: RelayTransport,
    private readonly opts: ConnOptions,
    private readonly host: ConnHost,
    private readonly deps: ConnDeps,
  ) {
    this.disco = new DropOldestQueue(opts.queueDepth);
    this.data = new DropOldestQueue(opts.queueDepth);
    this.bucket = opts.readLimit ? new TokenBucket(opts.readLimit, deps.clock.nowMs()) : undefined;
    this.writeTimeoutMs = opts.writeTimeoutMs;
    transport.onClose(() => this.close('closed by peer'));
    transport.onDrain(() => {
      this.cancelWriteTimer?.();
      this.cancelWriteTimer = undefined;
      this.flush();
    });
    transport.onData((chunk) => this.read(chunk));
  }

  /** A relay of the region logged in: no read limit, a longer write timeout. */
  promoteToMesh(writeTimeoutMs: number): void {
    this.isMesh = true;
    this.bucket = undefined;
    this.writeTimeoutMs = writeTimeoutMs;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Control frames (pong, peer-gone, health, server-info...) are small and never dropped. */
  sendControl(frame: Uint8Array): void {
    if (this.closed) return;
    if (!this.transport.write(frame)) this.awaitDrain();
    if (this.transport.bufferedBytes > this.opts.maxBufferedBytes) this.close('not reading');
  }

  /** A packet frame (recv or forward) into its queue; the oldest is dropped when the queue is full. */
  sendPacket(frame: Uint8Array, discovery: boolean): void {
    if (this.closed) return;
    const q = discovery ? this.disco : this.data;
    q.push(frame);
    // One read can carry more packets than a queue holds (a 64 KiB TLS read is 50 packets of 1,200
    // bytes): move them to the socket now rather than drop the head before the end-of-read flush.
    if (q.length >= q.capacity >> 1) this.flush();
    if (!this.flushQueued) {
      this.flushQueued = true;
      // Frames handed over in one read are written together after it: fewer writes, fewer TLS records.
      queueMicrotask(() => {
        this.flushQueued = false;
        this.flush();
      });
    }
  }

  /** Starts the keepalive (after login); every keepaliveMs + 0..jitter, so many clients do not tick together. */
  startKeepalive(): void {
    const delay = this.opts.keepaliveMs + this.deps.random() * this.opts.keepaliveJitterMs;
    this.cancelKeepalive = this.deps.clock.setTimer(delay, () => {
      this.sendControl(encodeKeepalive());
      if (!this.closed) this.startKeepalive();
    });
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelWriteTimer?.();
    this.cancelKeepalive?.();
    this.cancelResume?.();
    this.disco.clear();
    this.data.clear();
    this.transport.close();
    this.host.onClose(this, reason);
  }

  private read(chunk: Uint8Array): void {
    if (this.closed) return;
    const now = this.deps.clock.nowMs();
    this.lastReadMs = now;
    if (this.bucket) {
      const pauseMs = this.bucket.charge(chunk.length, now);
      if (pauseMs > 0 && !this.cancelResume) {
        this.transport.pause();
        this.cancelResume = this.deps.clock.setTimer(pauseMs, () => {
          this.cancelResume = undefined;
          if (!this.closed) this.transport.resume();
        });
      }
    }
    let frames: Frame[];
    try {
      frames = this.reader.feed(chunk);
    } catch (err) {
      if (err instanceof DecodeError) return this.close(`bad frame: ${err.reason}`);
      throw err;
    }
    for (const f of frames) {
      if (this.closed) return;
      this.host.onFrame(this, f);
    }
  }

  /**
   * Moves queued packets to the transport while it holds less than socketBufferBytes. A write()
   * returning false only means the stream passed its small high-water mark; stopping there would leave
   * the 32-packet queues as the only buffer and drop most of a burst. Past socketBufferBytes the queues
   * fill and drop their oldest, and 'drain' (with the write timeout armed) resumes the pump.
   */
  private flush(): void {
    if (this.closed) return;
    while (this.transport.bufferedBytes < this.opts.socketBufferBytes) {
      const batch: Uint8Array[] = [];
      let size = 0;
      while (size < this.opts.writeBatchBytes) {
        const f = this.disco.shift() ?? this.data.shift();
        if (!f) break;
        batch.push(f);
        size += f.length;
      }
      if (batch.length === 0) return;
      if (!this.transport.write(batch.length === 1 ? batch[0]! : Buffer.concat(batch, size))) this.awaitDrain();
    }
    this.awaitDrain();
  }

  /** Not drained within the write timeout: the client is gone or not reading; it must not hold us. */
  private awaitDrain(): void {
    this.cancelWriteTimer ??= this.deps.clock.setTimer(this.writeTimeoutMs, () => this.close('write timeout'));
  }
}
