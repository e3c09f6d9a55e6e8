/**
 * Fleet rollout at scale (`npm run bench fleet [-- --hosts 50 --forks 10 --settle 1 --per-site 5]`):
 * fake routers in the lab (test/lab/fleet-routers.ts: one real sshd per router, its own host key and
 * root tree, OPNsense / pfSense / UniFi OS / Linux in turn, a third with a tcsh login shell; --per-site
 * servers share one lab router namespace on different ports), stand-in packages of about 1 MB. The
 * controller, the real CLI (`conegate fleet rollout --json`, the bundle) in the lab's internet server,
 * runs three rollouts in turn: a first install, an upgrade (baseline, health gate over --settle,
 * confirm), and the same version again (nothing to do). For each: wall time, the controller's peak RSS and CPU time, outcomes, per-host time.
 *
 * The settle time is the health gate's sampling after each change (30 s by default in a real rollout):
 * with F forks and H hosts a rollout takes at least ceil(H / F) x settle; the figures here use a short
 * settle so they show the controller's and the transport's own cost (two health samples 0.5 s apart).
 */
import { join } from 'node:path';
import { startFleetLab, type FleetLab } from '../test/lab/fleet-routers.ts';
import { buildStandinPackages, PLATFORMS, type StandinPackages } from '../test/lab/fleet-standins.ts';
import { parseRollout, spawnController } from '../test/lab/fleet-rollout-driver.ts';

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : dflt;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;

// The controller's own peak RSS and CPU time, printed at its exit (the same preload as bench startup).
const RSS_PRELOAD = 'data:text/javascript,import{writeSync}from"node:fs";process.on("exit",()=>{const u=process.resourceUsage();writeSync(2,"\\ncg-maxrss-kb="+u.maxRSS+" cg-cpu-us="+(u.userCPUTime+u.systemCPUTime)+"\\n")})';

async function timedRollout(fl: FleetLab, inventory: string, pkgs: StandinPackages, forks: number, settleSec: number) {
  const t0 = performance.now();
  const ctl = spawnController(fl, { inventory, packageDir: pkgs.dir, forks, settleSec }, ['--import', RSS_PRELOAD]);
  const { code } = await ctl.done;
  const wallMs = Math.round(performance.now() - t0);
  const res = parseRollout(ctl.stdout, ctl.stderr, code);
  const me = /cg-maxrss-kb=(\d+) cg-cpu-us=(\d+)/.exec(ctl.stderr);
  if (!me) throw new Error(`the controller exited ${code} without its figures: ${ctl.stderr.slice(-2000)}`);
  const outcomes: Record<string, number> = {};
  for (const d of res.results) outcomes[d.outcome] = (outcomes[d.outcome] ?? 0) + 1;
  const ms = res.results.map((d) => d.durationMs);
  return {
    version: pkgs.version, exit: code, wallMs, controllerPeakRssMb: Math.round(Number(me[1]) / 102.4) / 10, controllerCpuMs: Math.round(Number(me[2]) / 1000),
    peakHostsAtOnce: res.peakConcurrent, outcomes, perHostMs: { p50: pct(ms, 50), p95: pct(ms, 95), max: Math.max(...ms) },
  };
}

export async function run(args: string[]): Promise<unknown> {
  const hosts = arg(args, 'hosts', 50);
  const forks = arg(args, 'forks', 10);
  const settleSec = arg(args, 'settle', 1);
  const perSite = arg(args, 'per-site', 5);
  const t0 = performance.now();
  const fl = await startFleetLab({ routers: Array.from({ length: hosts }, (_, i) => ({ platform: PLATFORMS[i % 4]!, shell: i % 3 === 1 ? ('tcsh' as const) : ('sh' as const) })), perSite });
  try {
    const labSetupMs = Math.round(performance.now() - t0);
    const inventory = fl.writeInventory(join(fl.lab.workDir, 'inventory.yml'));
    const [v1, v2] = ['1.0.0', '2.0.0'].map((v) => buildStandinPackages(join(fl.lab.workDir, 'pkgs'), v, fl.rootAt));
    const install = await timedRollout(fl, inventory, v1!, forks, settleSec);
    const upgrade = await timedRollout(fl, inventory, v2!, forks, settleSec);
    // The same packages again: every host must come out unchanged.
    const again = await timedRollout(fl, inventory, v2!, forks, settleSec);
    return {
      note: 'shared 2-core machine (other engineers\' tests running): wall times are noisy. The controller is the shipped bundle (conegate fleet rollout --json) in the lab; --settle 1: the health gate takes two samples 0.5 s apart after each change',
      hosts, forks, settleSec, sshdPerLabRouter: perSite, packageBytes: 1 << 20, labSetupMs,
      install, upgrade, unchanged: again,
    };
  } finally {
    await fl.destroy();
  }
}
