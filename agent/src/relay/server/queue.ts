/**
 * A bounded FIFO that drops its OLDEST entry when full (head drop). For relayed WireGuard and
 * discovery packets the newest packet is the useful one: a stale handshake or punch attempt is
 * worth less than the one that replaced it, and TCP inside the tunnel recovers from loss either way.
 */
export class DropOldestQueue<T> {
  private readonly items: (T | undefined)[];
  private head = 0;
  private count = 0;
  /** Entries dropped because the queue was full. */
  dropped = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('queue capacity must be a whole number >= 1');
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.count;
  }

  /** Adds v at the tail; returns the entry it pushed out, if the queue was full. */
  push(v: T): T | undefined {
    let evicted: T | undefined;
    if (this.count === this.capacity) {
      evicted = this.shift();
      this.dropped++;
    }
    this.items[(this.head + this.count) % this.capacity] = v;
    this.count++;
    return evicted;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const v = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return v;
  }

  clear(): void {
    while (this.count > 0) this.shift();
  }
}
