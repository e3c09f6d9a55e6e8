/**
 * RTT samples per peer for the page's latency chart: a bounded ring per peer, one sample every
 * SAMPLE_EVERY_MS (the agent's page component arms the timer; this class only stores). 300 samples at
 * 2 s = the last 10 minutes, ~5 KB per peer, so a router with 100 peers keeps well under 1 MB.
 */
export const SAMPLE_EVERY_MS = 2_000;
export const HISTORY_SAMPLES = 300;

export class RttHistory {
  private readonly rings = new Map<string, { at: number[]; ms: (number | null)[]; next: number; size: number }>();

  constructor(private readonly capacity = HISTORY_SAMPLES) {}

  /**
   * One sample for every peer present (null = no RTT known right now, a gap in the chart). Peers no
   * longer present are forgotten, so a revoked peer's ring does not stay in memory.
   */
  sample(wallSec: number, rtts: ReadonlyMap<string, number | null>): void {
    for (const id of [...this.rings.keys()]) if (!rtts.has(id)) this.rings.delete(id);
    for (const [id, ms] of rtts) {
      let r = this.rings.get(id);
      if (!r) this.rings.set(id, (r = { at: new Array<number>(this.capacity), ms: new Array<number | null>(this.capacity), next: 0, size: 0 }));
      r.at[r.next] = wallSec;
      r.ms[r.next] = ms === null ? null : Math.round(ms * 10) / 10;
      r.next = (r.next + 1) % this.capacity;
      r.size = Math.min(r.size + 1, this.capacity);
    }
  }

  /** Oldest first, as [unix seconds, ms or null]. */
  get(id: string): [number, number | null][] {
    const r = this.rings.get(id);
    if (!r) return [];
    const out: [number, number | null][] = [];
    const start = (r.next - r.size + this.capacity) % this.capacity;
    for (let i = 0; i < r.size; i++) {
      const k = (start + i) % this.capacity;
      out.push([r.at[k]!, r.ms[k]!]);
    }
    return out;
  }

  get peers(): number {
    return this.rings.size;
  }
}
