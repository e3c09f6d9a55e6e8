/**
 * Flattens an inventory to FleetHosts with Ansible's variable precedence (lowest first; the "Variable
 * precedence" list of the playbook guide, items 3-9 that an inventory can set):
 *   inventory group vars (all, then parents before children) < group_vars/all < group_vars/<group>
 *   < inventory host vars < host_vars/<host>.
 * Groups at the same depth merge by ansible_group_priority, then by name (ASCII), later ones winning
 * (ansible/inventory/helpers.py sort_groups). Values replace whole keys (hash_behaviour=replace).
 */
import { ConegateError } from '../errors.ts';
import { groupDepth, groupsOfHost, type InventoryModel, type Vars } from './model.ts';
import type { FleetHost, PlatformChoice } from './types.ts';

export interface VarFiles {
  /** group_vars/<name> contents by group name. */
  groups: Map<string, Vars>;
  /** host_vars/<name> contents by host name. */
  hosts: Map<string, Vars>;
}

export const NO_VAR_FILES: VarFiles = { groups: new Map(), hosts: new Map() };

const PLATFORMS: readonly PlatformChoice[] = ['opnsense', 'pfsense', 'unifi', 'linux', 'auto'];

/** Groups of a host in merge order (all first). */
export function sortedGroups(m: InventoryModel, host: string): string[] {
  const memo = new Map<string, number>();
  const prio = (g: string): number => {
    const p = m.groups.get(g)?.vars.ansible_group_priority;
    return typeof p === 'number' ? p : Number(p ?? 1) || 1;
  };
  return [...groupsOfHost(m, host)].sort((a, b) => {
    const d = groupDepth(m, a, memo) - groupDepth(m, b, memo);
    if (d !== 0) return d;
    const p = prio(a) - prio(b);
    if (p !== 0) return p;
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

/** Every variable of a host after precedence. */
export function hostVars(m: InventoryModel, host: string, files: VarFiles = NO_VAR_FILES): Vars {
  const order = sortedGroups(m, host);
  const out: Vars = {};
  for (const g of order) Object.assign(out, m.groups.get(g)?.vars);
  Object.assign(out, files.groups.get('all'));
  for (const g of order) if (g !== 'all') Object.assign(out, files.groups.get(g));
  Object.assign(out, m.hosts.get(host)?.vars);
  Object.assign(out, files.hosts.get(host));
  delete out.ansible_group_priority;
  return out;
}

function bad(host: string, message: string): never {
  throw new ConegateError('CG_CONFIG_INVALID', `${host}: ${message}`, { context: { host } });
}

function portOf(host: string, v: unknown): number {
  if (v === undefined || v === null) return 22;
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) bad(host, `ansible_port must be a port number 1..65535, got ${JSON.stringify(v)}`);
  return n;
}

function textVar(host: string, key: string, v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string' || v.trim() === '') bad(host, `${key} must be a non-empty string`);
  return v;
}

/** One FleetHost from the model (connection fields from the ansible_* variables). */
export function resolveHost(m: InventoryModel, name: string, files: VarFiles = NO_VAR_FILES): FleetHost {
  const vars = hostVars(m, name, files);
  const def = m.hosts.get(name);
  const keyFile = textVar(name, 'ansible_ssh_private_key_file', vars.ansible_ssh_private_key_file ?? vars.ansible_private_key_file);
  const platformVar = def?.platform ?? vars.conegate_platform;
  if (platformVar !== undefined && !PLATFORMS.includes(platformVar as PlatformChoice)) {
    bad(name, `platform must be one of ${PLATFORMS.join(', ')}, got ${JSON.stringify(platformVar)}`);
  }
  const config = def?.config ?? vars.conegate_config;
  if (config !== undefined && (typeof config !== 'object' || config === null || Array.isArray(config))) bad(name, 'conegate_config must be a mapping');
  return {
    name,
    address: textVar(name, 'ansible_host', vars.ansible_host) ?? name,
    port: portOf(name, vars.ansible_port),
    user: textVar(name, 'ansible_user', vars.ansible_user) ?? 'root',
    ...(keyFile ? { keyFile } : {}),
    vars,
    groups: [...groupsOfHost(m, name)].sort(),
    ...(platformVar !== undefined ? { platform: platformVar as PlatformChoice } : {}),
    ...(config !== undefined ? { config: config as Vars } : {}),
  };
}

/** Every host of the inventory, in inventory order. */
export function resolveAll(m: InventoryModel, files: VarFiles = NO_VAR_FILES): FleetHost[] {
  return [...m.hosts.keys()].map((h) => resolveHost(m, h, files));
}
