/**
 * Token buckets for the STUN server, on monotonic time passed in (pure: no clock, no timers).
 * A STUN server answers anyone, and UDP sources are spoofable, so every answer is a packet we may be
 * made to send at a victim: a per-source bucket bounds what one address (or one IPv6 /64, which one
 * subscriber usually holds whole) can draw from us, and an overall bucket bounds the server's total
 * output whatever the number of sources. Excess requests are dropped, never answered.
 */
import { parseIp } from '../net/ip.ts';
import { KeyedTokenBuckets, TokenBucket, type BucketSpec } from '../net/ratelimit.ts';

export { TokenBucket, type BucketSpec };

export interface StunRateLimits {
  perSource: BucketSpec;
  overall: BucketSpec;
  /** Bound on remembered sources, so a flood from many spoofed addresses cannot grow memory. */
  maxSources: number;
}

/**
 * Defaults: an RFC 5780 discovery run or a netcheck with retransmissions is a few tens of requests,
 * well inside 20 at once and 10/s from one source; 500/s overall is far above what a mesh needs from
 * its own server and keeps the worst-case output (500 x 92-byte IPv6 answers) under 50 kB/s.
 */
export const DEFAULT_STUN_LIMITS: StunRateLimits = { perSource: { perSec: 10, burst: 20 }, overall: { perSec: 500, burst: 1000 }, maxSources: 8192 };

/** The key a source is limited under: the IPv4 address, or the /64 of an IPv6 address. */
export function sourceKey(address: string): string {
  const ip = parseIp(address);
  if (!ip || ip.family === 4) return address;
  return Buffer.from(ip.bytes.subarray(0, 8)).toString('hex');
}

export class StunRateLimiter {
  private readonly sources: KeyedTokenBuckets;
  private readonly overall: TokenBucket;

  constructor(limits: StunRateLimits, nowMs: number) {
    this.sources = new KeyedTokenBuckets(limits.perSource, limits.maxSources);
    this.overall = new TokenBucket(limits.overall, nowMs);
  }

  /** True if a request from `address` may be answered at nowMs (spends a token from both buckets). */
  allow(address: string, nowMs: number): boolean {
    // The source pays first: one noisy source must not drain the overall bucket for everyone else.
    return this.sources.take(sourceKey(address), nowMs) && this.overall.take(nowMs);
  }

  get trackedSources(): number {
    return this.sources.size;
  }
}
