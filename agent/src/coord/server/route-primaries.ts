/**
 * Which node serves each subnet route: when several routers advertise the same prefix (two routers on
 * one site), peers must send it to exactly one of them (a WireGuard allowed IP belongs to one peer).
 * Pure: the hub passes the approved routes, who is online, since when the others are offline and the
 * time, and gets the primary per prefix plus when to look again.
 *
 * - A prefix goes to an approved advertiser that is online (lowest node id first: deterministic, so
 *   replicas and restarts pick alike); with none online, to the first approved one (better a route
 *   to a router that may come back than no route).
 * - The primary keeps the prefix while online, and for `graceMs` after its stream went away (a
 *   reconnect after a blip or a coordinator restart moves nothing). After the grace, the prefix moves
 *   to an online advertiser, if there is one.
 * - A primary that comes back does NOT take the prefix back: the current one keeps it (no flapping;
 *   every move costs the peers a re-route and the LAN hosts their connection state at the router).
 * - A primary whose route is no longer approved or advertised loses it at once.
 * - Health (issue 18: failover "judged by a health probe into the subnet, not only by node online"): a
 *   router that reports its probe into a prefix failing is not chosen for it while a healthy online
 *   advertiser exists, and a primary reported unhealthy loses the prefix `healthGraceMs` after the report
 *   to a healthy online one (the router already waited for repeated failures; the grace absorbs a report
 *   racing a recovery). With no healthy alternative the current primary keeps it.
 */
import type { RouteRecord } from '../store/types.ts';

export interface PrimaryInput {
  routes: readonly RouteRecord[];
  /** Prefix -> node id chosen before. */
  current: ReadonlyMap<string, string>;
  online: (nodeId: string) => boolean;
  /** Monotonic ms since which an offline node is offline (undefined when online). */
  offlineSinceMs: (nodeId: string) => number | undefined;
  nowMs: number;
  graceMs: number;
  /** Monotonic ms since which `nodeId` reports its health probe into `cidr` failing (undefined: healthy or
   * no probe). Absent: every advertiser is healthy. */
  unhealthySinceMs?: (nodeId: string, cidr: string) => number | undefined;
  /** How long a primary reported unhealthy keeps the prefix before it moves; default 0. */
  healthGraceMs?: number;
}

export interface PrimaryPlan {
  primaries: Map<string, string>;
  /** When a primary's grace runs out and the plan may change; undefined when nothing is pending. */
  recheckAtMs: number | undefined;
}

export function planPrimaries(input: PrimaryInput): PrimaryPlan {
  const byPrefix = new Map<string, string[]>();
  for (const r of input.routes) {
    if (!r.approved) continue;
    const list = byPrefix.get(r.cidr) ?? [];
    list.push(r.nodeId);
    byPrefix.set(r.cidr, list);
  }
  const primaries = new Map<string, string>();
  let recheckAtMs: number | undefined;
  for (const [cidr, nodes] of byPrefix) {
    nodes.sort();
    const sick = (n: string) => input.unhealthySinceMs?.(n, cidr);
    const firstOnline = nodes.find((n) => input.online(n));
    const firstHealthy = nodes.find((n) => input.online(n) && sick(n) === undefined);
    const best = firstHealthy ?? firstOnline;
    const cur = input.current.get(cidr);
    if (cur !== undefined && nodes.includes(cur)) {
      const keep = keepCurrent(input, cur, sick(cur), firstHealthy, firstOnline);
      if (keep === true) {
        primaries.set(cidr, cur);
        continue;
      }
      if (keep !== false) {
        primaries.set(cidr, cur);
        recheckAtMs = Math.min(recheckAtMs ?? keep, keep);
        continue;
      }
    }
    primaries.set(cidr, best ?? nodes[0]!);
  }
  return { primaries, recheckAtMs };
}

/** Whether the current primary keeps its prefix: true, false (move now), or until when (a grace runs). */
function keepCurrent(input: PrimaryInput, cur: string, sickSinceMs: number | undefined, firstHealthy: string | undefined, firstOnline: string | undefined): boolean | number {
  if (input.online(cur)) {
    if (sickSinceMs === undefined || firstHealthy === undefined) return true;
    const endsAtMs = sickSinceMs + (input.healthGraceMs ?? 0);
    return input.nowMs < endsAtMs ? endsAtMs : false;
  }
  if (firstOnline === undefined) return true;
  const endsAtMs = (input.offlineSinceMs(cur) ?? input.nowMs) + input.graceMs;
  return input.nowMs < endsAtMs ? endsAtMs : false;
}

/** The prefixes each node serves under a plan, sorted (what peers put in its allowed IPs). */
export function servedRoutes(primaries: ReadonlyMap<string, string>, nodeId: string): string[] {
  const out: string[] = [];
  for (const [cidr, id] of primaries) if (id === nodeId) out.push(cidr);
  return out.sort();
}

/** Nodes whose served set differs between two plans (the ones peers need a routes patch for). */
export function movedNodes(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): string[] {
  const out = new Set<string>();
  for (const cidr of new Set([...before.keys(), ...after.keys()])) {
    const a = before.get(cidr);
    const b = after.get(cidr);
    if (a === b) continue;
    if (a !== undefined) out.add(a);
    if (b !== undefined) out.add(b);
  }
  return [...out].sort();
}
