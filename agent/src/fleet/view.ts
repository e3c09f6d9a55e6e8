/**
 * What `conegate fleet inventory` and `fleet plan` print, as data: the inventory in the shape of
 * `ansible-inventory --list` (groups with their direct hosts and children, `_meta.hostvars` holding each
 * host's flattened variables) or `--graph`, and the rollout batches with their stop rule.
 */
import { batchStopsRollout, forkWaves, makeBatches, type RolloutPolicy } from './batches.ts';
import { hostsOfGroup, type InventoryModel } from './model.ts';
import { selectHosts } from './pattern.ts';
import type { FleetHost } from './types.ts';

export interface Selection {
  hosts: FleetHost[];
  unmatched: string[];
}

/** The hosts --limit selects (all without it), in inventory order. */
export function select(model: InventoryModel, hosts: FleetHost[], limit?: string): Selection {
  if (limit === undefined) return { hosts, unmatched: [] };
  const r = selectHosts(model, limit);
  const keep = new Set(r.hosts);
  return { hosts: hosts.filter((h) => keep.has(h.name)), unmatched: r.unmatched };
}

type ListGroup = { hosts?: string[]; children?: string[] };

/** ansible-inventory --list: groups that hold a selected host (directly or below), all always. */
export function inventoryList(model: InventoryModel, selected: FleetHost[]): Record<string, unknown> {
  const keep = new Set(selected.map((h) => h.name));
  const live = (g: string): boolean => g === 'all' || hostsOfGroup(model, g).some((h) => keep.has(h));
  const out: Record<string, unknown> = { _meta: { hostvars: Object.fromEntries(selected.map((h) => [h.name, h.vars])) } };
  for (const name of [...model.groups.keys()].sort()) {
    if (!live(name)) continue;
    const g = model.groups.get(name)!;
    const entry: ListGroup = {};
    const hosts = g.hosts.filter((h) => keep.has(h));
    const children = g.children.filter(live).sort();
    if (hosts.length) entry.hosts = hosts;
    if (children.length) entry.children = children;
    out[name] = entry;
  }
  return out;
}

/** ansible-inventory --graph. */
export function inventoryGraph(model: InventoryModel, selected: FleetHost[], root = 'all'): string {
  const keep = new Set(selected.map((h) => h.name));
  const lines: string[] = [];
  const walk = (group: string, depth: number): void => {
    const g = model.groups.get(group);
    if (!g) return;
    if (group !== 'all' && !hostsOfGroup(model, group).some((h) => keep.has(h))) return;
    const pad = '  |'.repeat(depth);
    lines.push(depth === 0 ? `@${group}:` : `${pad}--@${group}:`);
    for (const c of [...g.children].sort()) walk(c, depth + 1);
    for (const h of g.hosts) if (keep.has(h)) lines.push(`${'  |'.repeat(depth + 1)}--${h}`);
  };
  walk(root, 0);
  return lines.join('\n');
}

export interface BatchView {
  index: number;
  canary: boolean;
  /** Failures in this batch that stop the rollout (the smallest count that does). */
  stopAtFailures: number;
  waves: number;
  hosts: { name: string; address: string; port: number; user: string; platform: string }[];
}

export interface PlanView {
  hosts: number;
  forks: number;
  maxFailPercentage: number | null;
  unmatched: string[];
  batches: BatchView[];
}

export function planView(sel: Selection, policy: RolloutPolicy): PlanView {
  const batches = makeBatches(sel.hosts, policy.serial);
  return {
    hosts: sel.hosts.length,
    forks: policy.forks,
    maxFailPercentage: policy.maxFailPercentage ?? null,
    unmatched: sel.unmatched,
    batches: batches.map((b, i) => {
      let stopAt = 1;
      while (!batchStopsRollout(b.length, stopAt, policy.maxFailPercentage)) stopAt++;
      return {
        index: i + 1,
        canary: i === 0 && b.length === 1 && batches.length > 1,
        stopAtFailures: stopAt,
        waves: forkWaves(b, policy.forks).length,
        hosts: b.map((h) => ({ name: h.name, address: h.address, port: h.port, user: h.user, platform: h.platform ?? 'auto' })),
      };
    }),
  };
}

export function planText(v: PlanView): string {
  const head = `${v.hosts} host(s) in ${v.batches.length} batch(es), ${v.forks} fork(s), max fail ${v.maxFailPercentage === null ? 'none (a batch stops the rollout only when all of it fails)' : `${v.maxFailPercentage}% per batch (must be exceeded)`}`;
  const lines = [head];
  for (const b of v.batches) {
    lines.push(`batch ${b.index}${b.canary ? ' (canary)' : ''}: ${b.hosts.length} host(s), stops the rollout at ${b.stopAtFailures} failure(s)`);
    for (const h of b.hosts) lines.push(`  ${h.name}  ${h.user}@${h.address}:${h.port}  ${h.platform}`);
  }
  return lines.join('\n');
}
