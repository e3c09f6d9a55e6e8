/**
 * How the fleet acceptance tests run a rollout against the fake routers (fleet-routers.ts): the
 * inventory is loaded and --limit applied as the CLI does, the executor runs with the real ssh2 edge
 * (connections enter the lab at s1 through labDial), host keys verified against the lab's known_hosts,
 * and the events are kept to show what happened (e.g. how many hosts were worked on at once).
 *
 * Run as a program (`node --import tsx fleet-rollout-driver.ts JSON`, in the lab node s1), it is a
 * controller process of its own that a test can kill: the options as JSON, events as JSON lines.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSerial } from '../../agent/src/fleet/batches.ts';
import { loadInventory } from '../../agent/src/fleet/load.ts';
import type { HealthGate, PackageRef, RolloutEvent, RolloutResult } from '../../agent/src/fleet/rollout/contract.ts';
import { createHealthGate } from '../../agent/src/fleet/rollout/health.ts';
import { runRollout } from '../../agent/src/fleet/rollout/run.ts';
import { sshConnector, type Dial } from '../../agent/src/fleet/ssh-remote.ts';
import type { FleetPlatform } from '../../agent/src/fleet/types.ts';
import { select } from '../../agent/src/fleet/view.ts';
import type { FleetLab } from './fleet-routers.ts';

export interface LabRollout {
  fl: Pick<FleetLab, 'knownHostsFile' | 'rootAt'>;
  /** How the controller reaches the routers: from this process through s1, or direct when it runs in s1. */
  dial?: Dial;
  inventory: string;
  packages: Record<FleetPlatform, PackageRef>;
  limit?: string;
  serial?: string;
  forks: number;
  maxFailPercentage?: number;
  check?: boolean;
  revertAfterSec?: number;
  settleMs?: number;
  health?: HealthGate;
  onEvent?: (e: RolloutEvent) => void;
}

export interface LabRolloutResult extends RolloutResult {
  events: RolloutEvent[];
  /** The most hosts that had started and not finished at one time. */
  peakConcurrent: number;
}

export async function labRollout(o: LabRollout): Promise<LabRolloutResult> {
  const inv = await loadInventory(o.inventory);
  const hosts = select(inv.model, inv.hosts, o.limit).hosts;
  const events: RolloutEvent[] = [];
  const active = new Set<string>();
  let peakConcurrent = 0;
  const res = await runRollout({
    hosts,
    policy: { serial: parseSerial(o.serial ?? ''), forks: o.forks, ...(o.maxFailPercentage !== undefined ? { maxFailPercentage: o.maxFailPercentage } : {}) },
    trust: () => ({ knownHostsFile: o.fl.knownHostsFile, acceptNew: false }),
    connect: sshConnector({ ...(o.dial ? { dial: o.dial } : {}), connectTimeoutMs: 30_000 }),
    packages: o.packages,
    baseConfig: {},
    check: o.check ?? false,
    diff: false,
    revertAfterSec: o.revertAfterSec ?? 120,
    health: o.health ?? createHealthGate({ root: o.fl.rootAt, settleMs: o.settleMs ?? 1500, intervalMs: 500 }),
    root: o.fl.rootAt,
    onEvent(e) {
      events.push(e);
      o.onEvent?.(e);
      if (e.type === 'host-step') active.add(e.host);
      if (e.type === 'host-done') active.delete(e.result.host);
      peakConcurrent = Math.max(peakConcurrent, active.size);
    },
  });
  return { ...res, events, peakConcurrent };
}

/** Staged, temporary or restore files the rollout's steps name `*.cg-*`, anywhere under a root. */
export function stagedFiles(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.name.includes('.cg-')) out.push(r);
    if (e.isDirectory()) out.push(...stagedFiles(root, r));
  }
  return out;
}

type ControllerArgs = Omit<LabRollout, 'fl' | 'dial' | 'health' | 'onEvent'> & { knownHostsFile: string; rootAt: string };

/** argv for a controller process running one rollout (see the module comment). */
export function controllerArgs(a: ControllerArgs): [string, string[]] {
  return [fileURLToPath(import.meta.url), [JSON.stringify(a)]];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const a = JSON.parse(process.argv[2]!) as ControllerArgs;
  const res = await labRollout({ ...a, fl: { knownHostsFile: a.knownHostsFile, rootAt: a.rootAt }, onEvent: (e) => process.stdout.write(JSON.stringify(e) + '\n') });
  const u = process.resourceUsage();
  // For bench fleet: the controller's own peak memory and CPU time (not the lab's).
  process.stdout.write(JSON.stringify({ type: 'controller', maxRssKb: u.maxRSS, cpuMs: Math.round((u.userCPUTime + u.systemCPUTime) / 1000) }) + '\n');
  process.exitCode = res.ok ? 0 : 1;
}
