/**
 * Per-source token buckets for handshake messages while the device is under load (wireguard-go's
 * ratelimiter): even a sender with a valid cookie gets at most HANDSHAKES_PER_SECOND, with a burst of
 * HANDSHAKE_BURST. IPv6 sources are grouped by /64, since one host controls a whole /64. Pure: the
 * caller passes nowMs; idle buckets are swept as calls arrive.
 */
import { parseIp } from '../net/ip.ts';

export const HANDSHAKES_PER_SECOND = 20;
export const HANDSHAKE_BURST = 5;
const COST_MS = 1000 / HANDSHAKES_PER_SECOND;
const MAX_TOKENS_MS = COST_MS * HANDSHAKE_BURST;
const IDLE_MS = 1000;
const SWEEP_EVERY_MS = 1000;

interface Bucket {
  tokensMs: number;
  lastMs: number;
}

export class HandshakeRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweepMs = -Infinity;

  /** True if a handshake message from `address` may be processed now (and takes a token). */
  allow(address: string, nowMs: number): boolean {
    this.sweep(nowMs);
    const key = sourceKey(address);
    const b = this.buckets.get(key);
    if (!b) {
      this.buckets.set(key, { tokensMs: MAX_TOKENS_MS - COST_MS, lastMs: nowMs });
      return true;
    }
    b.tokensMs = Math.min(MAX_TOKENS_MS, b.tokensMs + (nowMs - b.lastMs));
    b.lastMs = nowMs;
    if (b.tokensMs < COST_MS) return false;
    b.tokensMs -= COST_MS;
    return true;
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(nowMs: number): void {
    if (nowMs - this.lastSweepMs < SWEEP_EVERY_MS) return;
    this.lastSweepMs = nowMs;
    for (const [k, b] of this.buckets) if (nowMs - b.lastMs > IDLE_MS) this.buckets.delete(k);
  }
}

function sourceKey(address: string): string {
  const ip = parseIp(address);
  if (!ip) return address;
  if (ip.family === 4) return address;
  return Buffer.from(ip.bytes.subarray(0, 8)).toString('hex');
}
