/**
 * Token buckets on monotonic time passed in (pure: no clock, no timers), shared by every server that
 * answers strangers: the NAT-PMP/PCP server (per LAN client), the STUN server (per source and overall)
 * and the coordinator (registrations per address). A bucket starts full, refills at `perSec` up to
 * `burst`; time that runs backwards adds nothing.
 */

export interface BucketSpec {
  /** Sustained rate, tokens per second. */
  perSec: number;
  /** Bucket size: how many requests may arrive at once after a quiet spell. */
  burst: number;
}

/** One bucket. */
export class TokenBucket {
  private tokens: number;
  private atMs: number;

  constructor(
    private readonly spec: BucketSpec,
    nowMs: number,
  ) {
    this.tokens = spec.burst;
    this.atMs = nowMs;
  }

  /** Tokens at nowMs without spending any. */
  level(nowMs: number): number {
    return Math.min(this.spec.burst, this.tokens + (Math.max(0, nowMs - this.atMs) / 1000) * this.spec.perSec);
  }

  /** Spends one token if there is one. */
  take(nowMs: number): boolean {
    this.tokens = this.level(nowMs);
    this.atMs = Math.max(this.atMs, nowMs);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * Spends `cost` tokens even if that overdraws the bucket (a byte stream cannot refuse bytes already
   * read), and returns how many ms until the balance is back at zero: 0 means go on reading, more means
   * pause reads that long (the relay's per-client back-pressure).
   */
  charge(cost: number, nowMs: number): number {
    this.tokens = this.level(nowMs) - cost;
    this.atMs = Math.max(this.atMs, nowMs);
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.spec.perSec) * 1000);
  }

  /** Seconds until a token is there again (for Retry-After); 0 if there is one now. */
  retryAfterSec(nowMs: number): number {
    const level = this.level(nowMs);
    return level >= 1 ? 0 : Math.ceil((1 - level) / this.spec.perSec);
  }
}

/**
 * One bucket per key (a client address, an IPv6 /64), in a table of at most `maxKeys`. Past that the
 * least recently used key is forgotten, in O(1): under a flood from many spoofed sources the table
 * costs the memory we chose and no scan per packet, and a forgotten key only ever gets a full bucket
 * back (the limit errs towards admitting, never towards growth). An overall bucket beside it, where a
 * server needs one, bounds the total whatever the number of keys.
 */
export class KeyedTokenBuckets {
  // A Map keeps insertion order; re-inserting on every touch makes its first key the least recent.
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly spec: BucketSpec,
    private readonly maxKeys: number,
  ) {}

  /** Takes one token for key at nowMs; false when its bucket is empty (the caller drops or answers 429). */
  take(key: string, nowMs: number): boolean {
    const b = this.buckets.get(key) ?? new TokenBucket(this.spec, nowMs);
    this.buckets.delete(key);
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
    return b.take(nowMs);
  }

  /** Seconds until key has a token again at nowMs. */
  retryAfterSec(key: string, nowMs: number): number {
    return this.buckets.get(key)?.retryAfterSec(nowMs) ?? 0;
  }

  get size(): number {
    return this.buckets.size;
  }
}
