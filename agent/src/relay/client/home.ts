/**
 * The home region: where a node is always connected, so peers can reach it, and what it publishes
 * through the coordinator. Pure: latency samples go in with their time, decisions come out.
 *
 * Rules (tailscale netcheck/magicsock, see mesh-facts.md):
 * - home = the region with the lowest best latency over the last 5 minutes;
 * - stay put unless the other region is at least 10 ms AND at least 1/3 faster (a region a few ms
 *   faster by jitter must not make every peer re-learn our home);
 * - never change while the coordinator is unreachable: peers could not learn the new home, and would
 *   keep sending to the old one we would then close. The first choice is allowed (there is no old one).
 * - a home with no sample in the window (unreachable relay, or gone from the map) yields to the best.
 */
export const HOME = {
  windowMs: 5 * 60_000,
  minGainMs: 10,
  minGainRatio: 1 / 3,
  /** Probe round period: home and the 3 fastest; every region once per full scan. */
  probeEveryMs: 30_000,
  fullScanEveryMs: 5 * 60_000,
  probeFastest: 3,
} as const;

interface Sample {
  atMs: number;
  ms: number;
}

export class LatencyHistory {
  private readonly samples = new Map<string, Sample[]>();

  add(region: string, latencyMs: number, nowMs: number): void {
    const list = this.samples.get(region) ?? [];
    list.push({ atMs: nowMs, ms: latencyMs });
    this.samples.set(region, list);
    this.prune(nowMs);
  }

  /** Lowest latency per region over the window ending at nowMs (regions without a sample are absent). */
  best(nowMs: number): Map<string, number> {
    this.prune(nowMs);
    const out = new Map<string, number>();
    for (const [region, list] of this.samples) {
      if (list.length) out.set(region, Math.min(...list.map((s) => s.ms)));
    }
    return out;
  }

  /** The newest sample of a region in the window, for status. */
  latest(region: string, nowMs: number): number | undefined {
    this.prune(nowMs);
    return this.samples.get(region)?.at(-1)?.ms;
  }

  /** Forgets regions no longer in the relay map. */
  retain(regions: readonly string[]): void {
    for (const r of [...this.samples.keys()]) if (!regions.includes(r)) this.samples.delete(r);
  }

  private prune(nowMs: number): void {
    for (const [region, list] of this.samples) {
      const kept = list.filter((s) => nowMs - s.atMs <= HOME.windowMs);
      if (kept.length) this.samples.set(region, kept);
      else this.samples.delete(region);
    }
  }
}

export interface HomeInput {
  current: string | undefined;
  /** Regions in the relay map, in map order (ties go to the earlier one). */
  regions: readonly string[];
  best: ReadonlyMap<string, number>;
  coordinatorReachable: boolean;
}

/** The home region to use now: the current one unless the rules above say to move. */
export function chooseHome(input: HomeInput): string | undefined {
  const { current, regions, best, coordinatorReachable } = input;
  const measured = regions.filter((r) => best.has(r)).sort((a, b) => best.get(a)! - best.get(b)! || regions.indexOf(a) - regions.indexOf(b));
  const fastest = measured[0];
  if (current === undefined) return fastest;
  if (!coordinatorReachable) return current;
  if (!regions.includes(current)) return fastest ?? regions[0];
  const cur = best.get(current);
  if (cur === undefined) return fastest ?? current;
  if (fastest === undefined || fastest === current) return current;
  const cand = best.get(fastest)!;
  const gain = cur - cand;
  return gain >= HOME.minGainMs && gain >= cur * HOME.minGainRatio ? fastest : current;
}

/**
 * Which regions to probe in the round at nowMs: every region on a full scan (the first round, and
 * every 5 min), otherwise the home and the 3 fastest (a far region rarely becomes the fastest, and
 * probing 20 regions every 30 s from every node is load for nothing).
 */
export function regionsToProbe(input: { regions: readonly string[]; home: string | undefined; best: ReadonlyMap<string, number>; lastFullScanMs: number | undefined; nowMs: number }): { regions: string[]; fullScan: boolean } {
  const { regions, home, best, lastFullScanMs, nowMs } = input;
  if (lastFullScanMs === undefined || nowMs - lastFullScanMs >= HOME.fullScanEveryMs) return { regions: [...regions], fullScan: true };
  const fastest = regions.filter((r) => best.has(r)).sort((a, b) => best.get(a)! - best.get(b)!).slice(0, HOME.probeFastest);
  const pick = new Set<string>(home !== undefined && regions.includes(home) ? [home, ...fastest] : fastest);
  return { regions: regions.filter((r) => pick.has(r)), fullScan: false };
}
