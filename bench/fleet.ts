/**
 * Fleet rollout at scale (`npm run bench fleet [-- --hosts 50 --forks 10 --settle-ms 2000 --per-site 5]`):
 * fake routers in the lab (test/lab/fleet-routers.ts: one real sshd per router, its own host key and
 * root tree, OPNsense / pfSense / UniFi OS / Linux in turn, a third with a tcsh login shell; --per-site
 * servers share one lab router namespace on different ports), stand-in packages of about 1 MB. A
 * controller process in the lab's internet server runs three rollouts in turn: a first install, an
 * upgrade (baseline, health gate over --settle-ms, confirm), and the same version again (nothing to
 * do). For each: wall time, the controller's peak RSS and CPU time, outcomes, per-host time.
 *
 * The settle time is the health gate's sampling after each change (30 s by default in a real rollout):
 * with F forks and H hosts a rollout takes at least ceil(H / F) x settle; the figures here use a short
 * settle so they show the controller's and the transport's own cost.
 */
import { join } from 'node:path';
import type { PackageRef } from '../agent/src/fleet/rollout/contract.ts';
import type { FleetPlatform } from '../agent/src/fleet/types.ts';
import { buildStandinPackages, PLATFORMS, startFleetLab, type FleetLab } from '../test/lab/fleet-routers.ts';
import { controllerArgs } from '../test/lab/fleet-rollout-driver.ts';

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : dflt;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;

interface HostDone { type: 'host-done'; result: { host: string; outcome: string; durationMs: number } }

async function timedRollout(fl: FleetLab, inventory: string, packages: Record<FleetPlatform, PackageRef>, forks: number, settleMs: number) {
  const version = packages.linux.version;
  const [script, args] = controllerArgs({ inventory, packages, forks, settleMs, knownHostsFile: fl.knownHostsFile, rootAt: fl.rootAt });
  const t0 = performance.now();
  const ctl = fl.lab.spawnNode('s1', script, args, { description: 'fleet bench controller', maxOutputBytes: 64 << 20 });
  const { code } = await ctl.done;
  const wallMs = Math.round(performance.now() - t0);
  const lines = ctl.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string });
  const done = lines.filter((l): l is HostDone => l.type === 'host-done').map((l) => l.result);
  const me = lines.find((l) => l.type === 'controller') as { maxRssKb: number; cpuMs: number } | undefined;
  if (!me) throw new Error(`the controller exited ${code} without its figures: ${ctl.stderr.slice(-2000)}`);
  const outcomes: Record<string, number> = {};
  for (const d of done) outcomes[d.outcome] = (outcomes[d.outcome] ?? 0) + 1;
  const ms = done.map((d) => d.durationMs);
  return { version, wallMs, controllerPeakRssMb: Math.round(me.maxRssKb / 102.4) / 10, controllerCpuMs: me.cpuMs, outcomes, perHostMs: { p50: pct(ms, 50), p95: pct(ms, 95), max: Math.max(...ms) } };
}

export async function run(args: string[]): Promise<unknown> {
  const hosts = arg(args, 'hosts', 50);
  const forks = arg(args, 'forks', 10);
  const settleMs = arg(args, 'settle-ms', 2000);
  const perSite = arg(args, 'per-site', 5);
  const t0 = performance.now();
  const fl = await startFleetLab({ routers: Array.from({ length: hosts }, (_, i) => ({ platform: PLATFORMS[i % 4]!, shell: i % 3 === 1 ? ('tcsh' as const) : ('sh' as const) })), perSite });
  try {
    const labSetupMs = Math.round(performance.now() - t0);
    const inventory = fl.writeInventory(join(fl.lab.workDir, 'inventory.yml'));
    const [v1, v2] = ['1.0.0', '2.0.0'].map((v) => buildStandinPackages(join(fl.lab.workDir, 'pkgs'), v, fl.rootAt));
    const install = await timedRollout(fl, inventory, v1!, forks, settleMs);
    const upgrade = await timedRollout(fl, inventory, v2!, forks, settleMs);
    // The same packages again: every host must come out unchanged.
    const again = await timedRollout(fl, inventory, v2!, forks, settleMs);
    return {
      note: 'shared 2-core machine (other engineers\' tests running): wall times are noisy; the controller runs under tsx (node --import tsx), which adds to its RSS',
      hosts, forks, settleMs, sshdPerLabRouter: perSite, packageBytes: 1 << 20, labSetupMs,
      install, upgrade, unchanged: again,
    };
  } finally {
    await fl.destroy();
  }
}
