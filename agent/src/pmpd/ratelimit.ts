/**
 * Per-client token buckets (net/ratelimit.ts). A LAN host that floods the server gets its excess
 * dropped (not answered: an answer would be amplification); the table is bounded so a flood from many
 * spoofed LAN addresses cannot grow memory. Burst = one second's worth.
 */
import { KeyedTokenBuckets } from '../net/ratelimit.ts';

export class RateLimiter extends KeyedTokenBuckets {
  constructor(perSec: number, maxClients = 4096) {
    super({ perSec, burst: perSec }, maxClients);
  }
}
