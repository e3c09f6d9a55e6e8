/**
 * Receiver indices (whitepaper 5.4.1): each handshake and each session we take part in gets a random
 * 32-bit index chosen by us; the peer puts it in the receiver field, so an incoming message finds its
 * state with one map lookup and nothing about us is linkable across sessions.
 */

export type IndexEntry<P, S> = { kind: 'handshake'; peer: P } | { kind: 'session'; peer: P; session: S };

export class IndexTable<P, S> {
  private readonly entries = new Map<number, IndexEntry<P, S>>();

  constructor(private readonly randomBytes: (n: number) => Uint8Array) {}

  /** A fresh, unused index registered for a handshake of `peer`. */
  newHandshakeIndex(peer: P): number {
    for (;;) {
      const b = this.randomBytes(4);
      const index = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
      if (!this.entries.has(index)) {
        this.entries.set(index, { kind: 'handshake', peer });
        return index;
      }
    }
  }

  /** Turns a handshake index into a session index (same number: the peer already knows it). */
  promote(index: number, peer: P, session: S): void {
    this.entries.set(index, { kind: 'session', peer, session });
  }

  get(index: number): IndexEntry<P, S> | undefined {
    return this.entries.get(index);
  }

  delete(index: number): void {
    this.entries.delete(index);
  }

  /** Drops a pending-handshake index of `peer`; an index already promoted to a session is left alone. */
  deleteHandshake(index: number, peer: P): void {
    const e = this.entries.get(index);
    if (e && e.kind === 'handshake' && e.peer === peer) this.entries.delete(index);
  }

  get size(): number {
    return this.entries.size;
  }
}
