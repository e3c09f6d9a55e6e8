/**
 * From the CLI's flags to RolloutOptions, and back again for `fleet resume`: the inventory and
 * --limit, packages (files hashed now; a resume refuses a package that changed since), the base
 * config, host-key trust, policy. What resume needs is kept in the run state as plain flags.
 */
import { homedir } from 'node:os';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConegateError } from '../../errors.ts';
import { DEFAULT_FORKS, parseMaxFailPercentage, parseSerial } from '../batches.ts';
import { loadInventory } from '../load.ts';
import type { FleetHost, FleetPlatform, HostTrust } from '../types.ts';
import { select } from '../view.ts';
import type { PackageRef, RolloutOptions } from './contract.ts';
import { packagesFromArgs, packagesFromDir, sha256File } from './packages.ts';
import { hostsToResume, readRunState } from './runstate.ts';

/** The flags of `fleet rollout`, as stored in the run state. */
export interface RolloutFlags {
  inventory: string;
  limit?: string;
  forks?: number;
  serial?: string;
  maxFailPercentage?: string;
  check?: boolean;
  diff?: boolean;
  packageDir?: string;
  package?: string[];
  config?: string;
  knownHosts?: string;
  acceptNew?: boolean;
  revertAfter?: number;
  settle?: number;
  state?: string;
}

export type Prepared = Omit<RolloutOptions, 'onEvent' | 'health'> & { settleSec?: number };

/** The trust for a host: its `conegate_host_key` variable ("type base64") pins the key, else known_hosts. */
export function trustFor(flags: Pick<RolloutFlags, 'knownHosts' | 'acceptNew'>): (h: FleetHost) => HostTrust {
  const knownHostsFile = flags.knownHosts ?? join(homedir(), '.ssh', 'known_hosts');
  return (h) => {
    const pinned = h.vars.conegate_host_key;
    if (pinned !== undefined && typeof pinned !== 'string') throw new ConegateError('CG_CONFIG_INVALID', `${h.name}: conegate_host_key must be "type base64"`);
    return { knownHostsFile, acceptNew: flags.acceptNew === true, ...(pinned ? { pinnedKey: pinned } : {}) };
  };
}

async function baseConfig(file: string | undefined): Promise<Record<string, unknown>> {
  if (!file) return {};
  let v: unknown;
  try {
    v = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new ConegateError('CG_CONFIG_UNREADABLE', `--config ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConegateError('CG_CONFIG_INVALID', `--config ${file}: expected a JSON object (the agent config every host starts from)`);
  return v as Record<string, unknown>;
}

async function selectHosts(flags: RolloutFlags): Promise<FleetHost[]> {
  const inv = await loadInventory(flags.inventory);
  const sel = select(inv.model, inv.hosts, flags.limit);
  for (const t of sel.unmatched) process.stderr.write(`warning: host pattern '${t}' matched nothing\n`);
  if (sel.hosts.length === 0) throw new ConegateError('CG_USAGE', `no host selected from ${flags.inventory}${flags.limit ? ` by --limit '${flags.limit}'` : ''}`);
  return sel.hosts;
}

async function packagesFor(flags: RolloutFlags): Promise<Partial<Record<FleetPlatform, PackageRef>>> {
  if (flags.packageDir && flags.package?.length) throw new ConegateError('CG_USAGE', '--package-dir and --package are exclusive');
  if (flags.packageDir) return packagesFromDir(flags.packageDir);
  if (flags.package?.length) return packagesFromArgs(flags.package);
  // --check too: what a host would get (install, upgrade, unchanged) depends on the package.
  throw new ConegateError('CG_USAGE', 'no package: --package-dir DIR or --package PLATFORM=FILE');
}

export async function prepareRollout(flags: RolloutFlags, presetPackages?: Partial<Record<FleetPlatform, PackageRef>>): Promise<Prepared> {
  const abs = { ...flags, inventory: resolve(flags.inventory), ...(flags.config ? { config: resolve(flags.config) } : {}), ...(flags.packageDir ? { packageDir: resolve(flags.packageDir) } : {}) };
  const policy = {
    serial: parseSerial(flags.serial ?? ''),
    forks: flags.forks ?? DEFAULT_FORKS,
    ...(flags.maxFailPercentage === undefined ? {} : { maxFailPercentage: parseMaxFailPercentage(flags.maxFailPercentage) }),
  };
  const packages = presetPackages ?? (await packagesFor(flags));
  return {
    hosts: await selectHosts(abs), policy, trust: trustFor(flags), connect: () => Promise.reject(new Error('no connector')),
    packages, baseConfig: await baseConfig(abs.config), check: flags.check === true, diff: flags.diff === true,
    revertAfterSec: flags.revertAfter ?? 120, ...(flags.state ? { runStateFile: resolve(flags.state) } : {}),
    ...(flags.settle !== undefined ? { settleSec: flags.settle } : {}),
    runStateOptions: { ...abs, packages },
  };
}

/** `fleet resume --state F`: the same flags, the hosts not done yet, the same packages (checked). */
export async function prepareResume(stateFile: string): Promise<Prepared> {
  const state = await readRunState(stateFile);
  const flags = state.options as unknown as RolloutFlags & { packages?: Partial<Record<FleetPlatform, PackageRef>> };
  if (typeof flags.inventory !== 'string') throw new ConegateError('CG_STATE_CORRUPT', `${stateFile}: the run's options have no inventory`);
  const packages = flags.packages ?? {};
  for (const [p, ref] of Object.entries(packages) as [FleetPlatform, PackageRef][]) {
    if ((await sha256File(ref.file)) !== ref.sha256) throw new ConegateError('CG_STATE_CORRUPT', `${ref.file} changed since the run started (sha256); resume needs the same package`);
    if (!ref.version || !ref.sha256) throw new ConegateError('CG_STATE_CORRUPT', `${stateFile}: package of ${p} incomplete`);
  }
  const prepared = await prepareRollout({ ...flags, state: stateFile }, packages);
  const todo = new Set(hostsToResume(state));
  const hosts = prepared.hosts.filter((h) => todo.has(h.name));
  const priorResults = state.hosts.filter((h) => !todo.has(h) && state.results[h]).map((h) => state.results[h]!);
  return { ...prepared, hosts, packages, runId: state.runId, priorResults, runStateOptions: state.options };
}

export interface RollbackPlan {
  prepared: Prepared;
  /** Hosts of the run that are not rolled back, and why (a fresh install, no matching package). */
  left: { host: string; why: string }[];
}

/**
 * `fleet rollback --state F`: the hosts the run changed go back to the package they came from, as a
 * rollout of that package (same transaction, timer and health gate). The previous packages are given
 * like a rollout's (--package-dir / --package) and must be the very files (sha256 from the host's
 * fleet state file, else the version). The config stays as the run left it (not restored), and a host
 * the run installed fresh is not uninstalled: both are listed in `left`.
 */
export async function prepareRollback(stateFile: string, flags: Pick<RolloutFlags, 'packageDir' | 'package' | 'settle' | 'revertAfter'>): Promise<RollbackPlan> {
  const state = await readRunState(stateFile);
  const opts = state.options as unknown as RolloutFlags;
  if (typeof opts.inventory !== 'string') throw new ConegateError('CG_STATE_CORRUPT', `${stateFile}: the run's options have no inventory`);
  const previous = await packagesFor(flags as RolloutFlags);
  const prepared = await prepareRollout({ ...opts, ...flags, check: false, diff: false, state: '' }, previous);
  const left: RollbackPlan['left'] = [];
  const hosts = prepared.hosts.filter((h) => {
    const r = state.results[h.name];
    if (!r || r.outcome !== 'changed') return false;
    const why = rollbackRefusal(r, previous);
    if (why) left.push({ host: h.name, why });
    return !why;
  });
  return { prepared: { ...prepared, hosts, runStateOptions: { rollbackOf: state.runId } }, left };
}

function rollbackRefusal(r: import('./contract.ts').HostResult, previous: Partial<Record<FleetPlatform, PackageRef>>): string | undefined {
  if (!r.fromVersion) return 'the run installed it fresh; rollback does not uninstall';
  const p = r.platform ? previous[r.platform] : undefined;
  if (!p) return `no previous package given for ${r.platform ?? 'its platform'} (conegate ${r.fromVersion})`;
  if (r.fromPackageHash ? p.sha256 !== r.fromPackageHash : p.version !== r.fromVersion) {
    return `the given ${r.platform} package is ${p.version} (${p.sha256.slice(0, 12)}), the host came from ${r.fromVersion}${r.fromPackageHash ? ` (${r.fromPackageHash.slice(0, 12)})` : ''}`;
  }
  return undefined;
}
