/**
 * The per-host plan, pure: from what detection found on the host (HostFacts, and the current config
 * text for --diff) and the target (package and rendered config for its platform), the steps of ONE
 * transaction: nothing ("unchanged": a second rollout of the same version and config changes nothing),
 * or upload + install + write config + restart. --check reports the plan and writes nothing; --diff
 * shows the config change as a unified diff. The executor (next step) runs the steps behind the host's
 * confirm-or-revert timer; the paths and service commands per platform are in PLATFORM_LAYOUT.
 */
import { createHash } from 'node:crypto';
import { ConegateError } from '../errors.ts';
import { unifiedDiff } from './diff.ts';
import type { FleetHost, FleetPlatform, HostFacts } from './types.ts';

export interface PlatformLayout {
  /** conegate's config file (same paths as agent/src/platform/detect.ts conegateConfig). */
  configPath: string;
  /** Where packages are uploaded before install: root-only, on persistent storage. */
  incomingDir: string;
  /** Package file name suffix built by `npm run package` for the platform. */
  packageSuffix: string;
  /** What the fleet installed last ({version, packageHash}), written after a confirmed change. */
  stateFile: string;
}

export const PLATFORM_LAYOUT: Record<FleetPlatform, PlatformLayout> = {
  opnsense: { configPath: '/usr/local/etc/conegate/conegate.json', incomingDir: '/var/db/conegate/incoming', packageSuffix: '.pkg', stateFile: '/var/db/conegate/fleet-state.json' },
  pfsense: { configPath: '/usr/local/etc/conegate/conegate.json', incomingDir: '/var/db/conegate/incoming', packageSuffix: '.pkg', stateFile: '/var/db/conegate/fleet-state.json' },
  // UniFi firmware updates wipe everything outside /data.
  unifi: { configPath: '/data/conegate/conegate.json', incomingDir: '/data/conegate/incoming', packageSuffix: '.tar.gz', stateFile: '/data/conegate/fleet-state.json' },
  linux: { configPath: '/etc/conegate/conegate.json', incomingDir: '/var/lib/conegate/incoming', packageSuffix: '.tar.gz', stateFile: '/var/lib/conegate/fleet-state.json' },
};

/** What the rollout wants on a host of one platform. */
export interface HostTarget {
  version: string;
  /** Local path of the package built for the host's platform. */
  packageFile: string;
  /** sha256 hex of that package. */
  packageHash: string;
  /** The rendered config text (host overrides already merged). */
  config: string;
}

export type PlanStep =
  | { kind: 'upload'; local: string; remotePath: string; mode: number; sha256: string }
  | { kind: 'install'; platform: FleetPlatform; packagePath: string; fromVersion?: string; toVersion: string }
  | { kind: 'write-config'; remotePath: string; mode: number; sha256: string }
  | { kind: 'restart'; platform: FleetPlatform };

export type PlanAction = 'unchanged' | 'install' | 'upgrade' | 'reinstall' | 'reconfigure';

export interface HostPlan {
  host: string;
  platform: FleetPlatform;
  action: PlanAction;
  /** One line per change, for --check and the summary. */
  changes: string[];
  steps: PlanStep[];
  /** Unified diff of the config ('' when it does not change); shown with --diff. */
  configDiff: string;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The platform the plan is for: the inventory's unless auto; a mismatch with detection is refused. */
export function platformFor(host: FleetHost, facts: HostFacts): FleetPlatform {
  const given = host.platform && host.platform !== 'auto' ? host.platform : undefined;
  if (facts.platform === 'unknown') {
    throw new ConegateError('CG_PLATFORM_UNKNOWN', `${host.name}: the platform could not be detected (no OPNsense, pfSense, UniFi OS or Linux markers)`, { context: { host: host.name } });
  }
  if (given && given !== facts.platform) {
    throw new ConegateError('CG_PLATFORM_UNKNOWN', `${host.name}: the inventory says ${given} but the host looks like ${facts.platform}; nothing done`, { context: { host: host.name, given, detected: facts.platform } });
  }
  return facts.platform;
}

/**
 * The plan for one host. `currentConfig` is the installed config text when the host has one (for
 * --diff); its hash must agree with facts.configHash when both are known.
 */
export function planHost(host: FleetHost, facts: HostFacts, target: HostTarget, currentConfig?: string): HostPlan {
  const platform = platformFor(host, facts);
  const layout = PLATFORM_LAYOUT[platform];
  const configHash = sha256Hex(target.config);
  const currentHash = facts.configHash ?? (currentConfig === undefined ? undefined : sha256Hex(currentConfig));
  const configChanges = currentHash !== configHash;
  const action = actionFor(facts, target, configChanges);
  const plan: HostPlan = { host: host.name, platform, action, changes: [], steps: [], configDiff: '' };
  if (action === 'unchanged') return plan;
  if (configChanges) {
    plan.configDiff = unifiedDiff(currentConfig ?? '', target.config, currentConfig === undefined ? '/dev/null' : `${host.name}:${layout.configPath}`, `${host.name}:${layout.configPath} (new)`);
  }
  if (action !== 'reconfigure') {
    const remote = `${layout.incomingDir}/conegate-${target.version}${layout.packageSuffix}`;
    plan.changes.push(packageChange(action, facts, target));
    plan.steps.push({ kind: 'upload', local: target.packageFile, remotePath: remote, mode: 0o600, sha256: target.packageHash });
    plan.steps.push({ kind: 'install', platform, packagePath: remote, ...(facts.version ? { fromVersion: facts.version } : {}), toVersion: target.version });
  }
  if (configChanges) {
    plan.changes.push(currentHash === undefined ? `write config ${layout.configPath}` : `change config ${layout.configPath}`);
    // The config can carry keys and auth material: 0600 from the first byte.
    plan.steps.push({ kind: 'write-config', remotePath: layout.configPath, mode: 0o600, sha256: configHash });
  }
  plan.steps.push({ kind: 'restart', platform });
  plan.changes.push(facts.version ? 'restart the agent' : 'start the agent');
  return plan;
}

function actionFor(facts: HostFacts, target: HostTarget, configChanges: boolean): PlanAction {
  if (facts.version === undefined) return 'install';
  if (facts.version !== target.version) return 'upgrade';
  // Same version from a different package build: install it again rather than trust the version string.
  if (facts.packageHash !== undefined && facts.packageHash !== target.packageHash) return 'reinstall';
  return configChanges ? 'reconfigure' : 'unchanged';
}

function packageChange(action: PlanAction, facts: HostFacts, target: HostTarget): string {
  if (action === 'install') return `install conegate ${target.version}`;
  if (action === 'reinstall') return `reinstall conegate ${target.version} (package differs: ${facts.packageHash?.slice(0, 12)} -> ${target.packageHash.slice(0, 12)})`;
  return `upgrade conegate ${facts.version} -> ${target.version}`;
}

/** --check text for one host: what would change; nothing is written. */
export function checkText(plan: HostPlan, withDiff: boolean): string {
  const head = `${plan.host} (${plan.platform}): ${plan.action === 'unchanged' ? 'unchanged' : `would ${plan.action}`}`;
  const body = plan.changes.map((c) => `  - ${c}`);
  const diff = withDiff && plan.configDiff ? [plan.configDiff.trimEnd()] : [];
  return [head, ...body, ...diff].join('\n');
}
