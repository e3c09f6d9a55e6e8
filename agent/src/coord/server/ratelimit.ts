/**
 * Per-key token buckets (one key per source address) for /v1/register: a burst of `burst` requests,
 * then `perSec` a second. Pure: every call takes `nowMs`. The table is bounded: past `maxKeys` the
 * least recently touched key is dropped, so a flood from many addresses costs memory we chose, and a
 * dropped key only ever gets a full bucket back (the limit errs towards admitting, never towards growth).
 */
export interface RateLimitConfig {
  burst: number;
  perSec: number;
  maxKeys: number;
}

export const DEFAULT_REGISTER_LIMIT: RateLimitConfig = { burst: 20, perSec: 2, maxKeys: 10_000 };

interface Bucket {
  tokens: number;
  atMs: number;
}

export class TokenBuckets {
  // A Map keeps insertion order; re-inserting on every touch makes its first key the least recent.
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly config: RateLimitConfig) {}

  /** Takes one token for key; false when the bucket is empty (the caller answers 429). */
  take(key: string, nowMs: number): boolean {
    const b = this.buckets.get(key) ?? { tokens: this.config.burst, atMs: nowMs };
    this.buckets.delete(key);
    const elapsedSec = Math.max(0, nowMs - b.atMs) / 1000;
    b.tokens = Math.min(this.config.burst, b.tokens + elapsedSec * this.config.perSec);
    b.atMs = nowMs;
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    this.buckets.set(key, b);
    if (this.buckets.size > this.config.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
    return ok;
  }

  /** Seconds until key has a token again (for Retry-After). */
  retryAfterSec(key: string): number {
    const b = this.buckets.get(key);
    if (!b || b.tokens >= 1) return 0;
    return Math.ceil((1 - b.tokens) / this.config.perSec);
  }

  get size(): number {
    return this.buckets.size;
  }
}
