/**
 * The inventory as Ansible holds it before variables are flattened: groups (direct hosts, children,
 * vars) and hosts (inventory vars) in file order. Every parser (INI, YAML, our own form) fills one of
 * these; `finishModel` applies Ansible's implicit rules (InventoryData.reconcile_inventory): `all` is
 * every group's root, `ungrouped` holds exactly the hosts that are in no other group.
 */
import { ConegateError } from '../errors.ts';
import type { PlatformChoice } from './types.ts';

export type Vars = Record<string, unknown>;

export interface GroupDef {
  name: string;
  /** Hosts listed directly in this group, in file order. */
  hosts: string[];
  children: string[];
  vars: Vars;
}

export interface HostDef {
  name: string;
  vars: Vars;
  /** Only from our own inventory form. */
  platform?: PlatformChoice;
  config?: Vars;
}

export interface InventoryModel {
  /** The inventory file, for messages and for finding group_vars/ and host_vars/ beside it. */
  source: string;
  groups: Map<string, GroupDef>;
  hosts: Map<string, HostDef>;
}

export function newModel(source: string): InventoryModel {
  const m: InventoryModel = { source, groups: new Map(), hosts: new Map() };
  addGroup(m, 'all');
  addGroup(m, 'ungrouped');
  return m;
}

export function addGroup(m: InventoryModel, name: string): GroupDef {
  let g = m.groups.get(name);
  if (!g) {
    g = { name, hosts: [], children: [], vars: {} };
    m.groups.set(name, g);
  }
  return g;
}

/** Adds (or re-lists) a host in a group; later vars for the same host overwrite earlier ones, as in Ansible. */
export function addHost(m: InventoryModel, group: string, name: string, vars: Vars = {}): HostDef {
  let h = m.hosts.get(name);
  if (!h) {
    h = { name, vars: {} };
    m.hosts.set(name, h);
  }
  Object.assign(h.vars, vars);
  const g = addGroup(m, group);
  if (!g.hosts.includes(name)) g.hosts.push(name);
  return h;
}

/** Makes child a child of parent; a cycle is refused (Ansible: "groups cannot be circular"). */
export function addChild(m: InventoryModel, parent: string, child: string): void {
  if (parent === child || ancestorsOf(m, parent).has(child)) {
    throw new ConegateError('CG_CONFIG_INVALID', `group '${child}' cannot be a child of '${parent}': groups cannot be circular`);
  }
  if (child === 'all') throw new ConegateError('CG_CONFIG_INVALID', `group 'all' cannot be a child of '${parent}'`);
  addGroup(m, child);
  const p = addGroup(m, parent);
  if (!p.children.includes(child)) p.children.push(child);
}

function parentsOf(m: InventoryModel, name: string): string[] {
  const out: string[] = [];
  for (const g of m.groups.values()) if (g.children.includes(name)) out.push(g.name);
  return out;
}

/** Every group above `name` (not including itself). */
export function ancestorsOf(m: InventoryModel, name: string): Set<string> {
  const seen = new Set<string>();
  const stack = parentsOf(m, name);
  while (stack.length) {
    const g = stack.pop()!;
    if (seen.has(g)) continue;
    seen.add(g);
    stack.push(...parentsOf(m, g));
  }
  return seen;
}

/** Applies the implicit `all` / `ungrouped` rules; call once after parsing. */
export function finishModel(m: InventoryModel): InventoryModel {
  const all = m.groups.get('all')!;
  for (const g of m.groups.values()) {
    if (g.name !== 'all' && parentsOf(m, g.name).length === 0) all.children.push(g.name);
  }
  const direct = new Map<string, Set<string>>();
  for (const g of m.groups.values()) for (const h of g.hosts) (direct.get(h) ?? direct.set(h, new Set()).get(h)!).add(g.name);
  const ungrouped = m.groups.get('ungrouped')!;
  for (const h of m.hosts.keys()) {
    const groups = direct.get(h) ?? new Set();
    const others = [...groups].filter((g) => g !== 'all' && g !== 'ungrouped');
    if (others.length > 0) ungrouped.hosts = ungrouped.hosts.filter((x) => x !== h);
    else if (!ungrouped.hosts.includes(h)) ungrouped.hosts.push(h);
  }
  // Hosts listed under all.hosts (YAML) belong to all implicitly, like every other host.
  all.hosts = [];
  return m;
}

/** Groups a host is in, directly or through children, incl. all. */
export function groupsOfHost(m: InventoryModel, host: string): Set<string> {
  const out = new Set<string>(['all']);
  for (const g of m.groups.values()) {
    if (g.hosts.includes(host)) {
      out.add(g.name);
      for (const a of ancestorsOf(m, g.name)) out.add(a);
    }
  }
  return out;
}

/** Group depth as Ansible computes it: all = 0, a child is at least one deeper than each parent. */
export function groupDepth(m: InventoryModel, name: string, memo = new Map<string, number>()): number {
  if (name === 'all') return 0;
  const known = memo.get(name);
  if (known !== undefined) return known;
  const parents = parentsOf(m, name);
  const d = parents.length === 0 ? 1 : Math.max(...parents.map((p) => groupDepth(m, p, memo) + 1));
  memo.set(name, d);
  return d;
}

/** Every host of a group, through its children, in inventory order. */
export function hostsOfGroup(m: InventoryModel, name: string): string[] {
  if (name === 'all') return [...m.hosts.keys()];
  const set = new Set<string>();
  const visit = (g: string): void => {
    const def = m.groups.get(g);
    if (!def) return;
    for (const h of def.hosts) set.add(h);
    for (const c of def.children) visit(c);
  };
  visit(name);
  return [...m.hosts.keys()].filter((h) => set.has(h));
}
