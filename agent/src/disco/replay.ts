/**
 * Replay protection for discovery messages. A sealed message carries its send time (sender's wall clock)
 * and a random 24-byte nonce. A copy captured on the path and sent again must not make us ping or switch
 * paths for an attacker, so the receiver refuses:
 * - messages sent more than `maxAgeMs` (30 s) ago, or more than `maxSkewMs` in the future (clocks of
 *   two nodes differ; NTP keeps routers well inside this);
 * - a nonce it has seen from the same sender while that message could still pass the time check.
 * Memory is bounded per sender: past `perSenderNonces` the oldest remembered nonce is forgotten and the
 * sender's floor rises to its send time, so every forgotten message is refused by time instead. The
 * number of senders is bounded too (the loop opens only messages from keys in the network map).
 * Call `check` only after the box verified: forged packets must not cost memory.
 */

export type ReplayVerdict = 'ok' | 'stale' | 'future' | 'replayed' | 'busy';

export interface ReplayOptions {
  maxAgeMs?: number;
  maxSkewMs?: number;
  perSenderNonces?: number;
  maxSenders?: number;
}

interface SenderWindow {
  /** nonce (hex) -> send time; Map keeps insertion order, oldest first. */
  seen: Map<string, number>;
  /** Messages sent at or before this were forgotten: refused. */
  floorMs: number;
}

export const REPLAY_MAX_AGE_MS = 30_000;
export const REPLAY_MAX_SKEW_MS = 30_000;

export class ReplayGuard {
  private readonly maxAgeMs: number;
  private readonly maxSkewMs: number;
  private readonly perSender: number;
  private readonly maxSenders: number;
  private readonly senders = new Map<string, SenderWindow>();

  constructor(o: ReplayOptions = {}) {
    this.maxAgeMs = o.maxAgeMs ?? REPLAY_MAX_AGE_MS;
    this.maxSkewMs = o.maxSkewMs ?? REPLAY_MAX_SKEW_MS;
    this.perSender = o.perSenderNonces ?? 1024;
    this.maxSenders = o.maxSenders ?? 16_384;
  }

  /** Decides on one authenticated message and, when 'ok', remembers its nonce. `nowMs` is our wall clock. */
  check(sender: string, nonce: string, sentAtMs: number, nowMs: number): ReplayVerdict {
    if (sentAtMs < nowMs - this.maxAgeMs) return 'stale';
    if (sentAtMs > nowMs + this.maxSkewMs) return 'future';
    let w = this.senders.get(sender);
    if (!w) {
      if (this.senders.size >= this.maxSenders) this.prune(nowMs);
      if (this.senders.size >= this.maxSenders) return 'busy';
      w = { seen: new Map(), floorMs: -Infinity };
      this.senders.set(sender, w);
    }
    this.expire(w, nowMs);
    if (w.seen.has(nonce)) return 'replayed';
    if (sentAtMs <= w.floorMs) return 'replayed';
    w.seen.set(nonce, sentAtMs);
    while (w.seen.size > this.perSender) this.forgetOldest(w);
    return 'ok';
  }

  /** Remembered nonces in all (for tests and status: proves the bound). */
  size(): number {
    let n = 0;
    for (const w of this.senders.values()) n += w.seen.size;
    return n;
  }

  senderCount(): number {
    return this.senders.size;
  }

  private forgetOldest(w: SenderWindow): void {
    const first = w.seen.entries().next().value;
    if (!first) return;
    w.seen.delete(first[0]);
    w.floorMs = Math.max(w.floorMs, first[1]);
  }

  /** Entries that would fail the age check anyway; insertion order is nearly time order, so stop early. */
  private expire(w: SenderWindow, nowMs: number): void {
    for (const [nonce, at] of w.seen) {
      if (at >= nowMs - this.maxAgeMs) break;
      w.seen.delete(nonce);
    }
  }

  private prune(nowMs: number): void {
    for (const [key, w] of this.senders) {
      this.expire(w, nowMs);
      if (w.seen.size === 0 && w.floorMs < nowMs - this.maxAgeMs) this.senders.delete(key);
    }
  }
}
