/**
 * Reconnect delays for the coordinator session: exponential from 1 s to 60 s with full jitter in the
 * upper half (so a thousand nodes cut off by one coordinator restart do not come back in one second),
 * reset after a stream that delivered a map. Pure: the random value is passed in.
 */
export const BACKOFF = { firstMs: 1000, maxMs: 60_000 } as const;

/** Delay before reconnect attempt `attempt` (0 = first retry); `rand01` in [0, 1). */
export function backoffMs(attempt: number, rand01: number): number {
  const cap = Math.min(BACKOFF.maxMs, BACKOFF.firstMs * 2 ** Math.min(attempt, 16));
  return Math.round(cap / 2 + (cap / 2) * rand01);
}
