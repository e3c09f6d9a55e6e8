/**
 * The in-memory twin of a relay transport, for tests of the connection pump and the server logic
 * without sockets: the test delivers bytes, reads what the server wrote, and decides when the
 * "network" is congested and when it drains.
 */
import { FrameReader, type Frame } from '../frames.ts';
import type { RelayTransport } from './transport.ts';

export class MemoryTransport implements RelayTransport {
  readonly written: Uint8Array[] = [];
  /** While true, write() answers false (the buffer is "full") and bytes count as buffered. */
  congested = false;
  paused = false;
  closed = false;
  pauses = 0;
  remoteAddress = '192.0.2.10';
  remotePort = 40000;
  private buffered = 0;
  private dataFn: (chunk: Uint8Array) => void = () => {};
  private drainFns: (() => void)[] = [];
  private closeFns: (() => void)[] = [];
  private readonly reader = new FrameReader();
  private readAt = 0;

  write(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    this.written.push(bytes);
    if (this.congested) this.buffered += bytes.length;
    return !this.congested;
  }
  get bufferedBytes(): number {
    return this.buffered;
  }
  pause(): void {
    this.paused = true;
    this.pauses++;
  }
  resume(): void {
    this.paused = false;
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fn of this.closeFns) fn();
  }
  onData(fn: (chunk: Uint8Array) => void): void {
    this.dataFn = fn;
  }
  onDrain(fn: () => void): void {
    this.drainFns.push(fn);
  }
  onClose(fn: () => void): void {
    this.closeFns.push(fn);
  }

  /** Bytes arriving from the client. */
  deliver(chunk: Uint8Array): void {
    if (!this.closed) this.dataFn(chunk);
  }
  /** The network took everything: 'drain'. */
  drain(): void {
    this.congested = false;
    this.buffered = 0;
    for (const fn of this.drainFns) fn();
  }
  /** Frames the server wrote since the last call. */
  frames(): Frame[] {
    const out: Frame[] = [];
    for (; this.readAt < this.written.length; this.readAt++) out.push(...this.reader.feed(this.written[this.readAt]!));
    return out;
  }
}
