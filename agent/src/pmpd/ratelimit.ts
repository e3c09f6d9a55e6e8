/**
 * Per-client token buckets on monotonic time. A LAN host that floods the server gets its excess
 * dropped (not answered: an answer would be amplification). The bucket map is bounded so a flood
 * from many spoofed LAN addresses cannot grow memory: when full, buckets that are refilled anyway
 * are forgotten first, then the oldest.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(
    private readonly perSec: number,
    private readonly maxClients = 4096,
  ) {}

  /** True if the client may send one more request at nowMs (and spends a token). */
  take(client: string, nowMs: number): boolean {
    let b = this.buckets.get(client);
    if (!b) {
      if (this.buckets.size >= this.maxClients) this.evict(nowMs);
      b = { tokens: this.perSec, atMs: nowMs };
      this.buckets.set(client, b);
    }
    b.tokens = Math.min(this.perSec, b.tokens + ((nowMs - b.atMs) / 1000) * this.perSec);
    b.atMs = nowMs;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private evict(nowMs: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((nowMs - b.atMs) / 1000) * this.perSec >= this.perSec) this.buckets.delete(k);
    }
    if (this.buckets.size >= this.maxClients) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
  }
}
