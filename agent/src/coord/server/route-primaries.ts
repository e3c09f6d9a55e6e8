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
    const cur = input.current.get(cidr);
    const firstOnline = nodes.find((n) => input.online(n));
    if (cur !== undefined && nodes.includes(cur)) {
      if (input.online(cur) || firstOnline === undefined) {
        primaries.set(cidr, cur);
        continue;
      }
      const endsAtMs = (input.offlineSinceMs(cur) ?? input.nowMs) + input.graceMs;
      if (input.nowMs < endsAtMs) {
        primaries.set(cidr, cur);
        recheckAtMs = Math.min(recheckAtMs ?? endsAtMs, endsAtMs);
        continue;
      }
    }
    primaries.set(cidr, firstOnline ?? nodes[0]!);
  }
  return { primaries, recheckAtMs };
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
