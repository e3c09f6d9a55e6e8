/**
 * How the fleet acceptance tests and `bench fleet` run a rollout against the fake routers
 * (fleet-routers.ts): the real CLI, `conegate fleet rollout ... --json` (the bundle, as shipped), as a
 * controller process in the lab's internet server s1, which reaches every router's sshd directly.
 * Host keys are verified against the lab's known_hosts; the events (JSON lines) show what happened,
 * e.g. how many hosts were worked on at once.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { HostResult, RolloutEvent } from '../../agent/src/fleet/rollout/contract.ts';
import { conegateArgv } from '../conegate.ts';
import type { FleetLab } from './fleet-routers.ts';
import type { LabProcess } from './proc.ts';

export interface CliRollout {
  inventory: string;
  /** --package-dir: the stand-in packages of one version (buildStandinPackages). */
  packageDir: string;
  forks: number;
  limit?: string;
  serial?: string;
  maxFailPercentage?: number;
  check?: boolean;
  /** --revert-after (seconds, at least 10). */
  revertAfterSec?: number;
  /** --settle (seconds): the health gate samples every 5 s, at least once. @default 1 */
  settleSec?: number;
  /** --report: where the controller writes the run's JSON report. */
  report?: string;
}

export interface CliRolloutResult {
  code: number | null;
  stderr: string;
  events: RolloutEvent[];
  results: HostResult[];
  ok: boolean;
  stoppedEarly: boolean;
  /** The most hosts that had started and not finished at one time. */
  peakConcurrent: number;
}

export function rolloutArgs(fl: Pick<FleetLab, 'knownHostsFile'>, o: CliRollout): string[] {
  return [
    'fleet', 'rollout', '--inventory', o.inventory, '--package-dir', o.packageDir, '--known-hosts', fl.knownHostsFile,
    '--forks', String(o.forks), '--settle', String(o.settleSec ?? 1), '--json',
    ...(o.report ? ['--report', o.report] : []),
    ...(o.limit ? ['--limit', o.limit] : []),
    ...(o.serial ? ['--serial', o.serial] : []),
    ...(o.maxFailPercentage !== undefined ? ['--max-fail-percentage', String(o.maxFailPercentage)] : []),
    ...(o.check ? ['--check'] : []),
    ...(o.revertAfterSec !== undefined ? ['--revert-after', String(o.revertAfterSec)] : []),
  ];
}

/** Starts the controller (`conegate fleet rollout --json`) in s1; `nodeArgs` e.g. a preload that reports its peak RSS. */
export function spawnController(fl: FleetLab, o: CliRollout, nodeArgs: string[] = []): LabProcess {
  return fl.lab.spawn('s1', conegateArgv(rolloutArgs(fl, o), nodeArgs), { description: 'conegate fleet rollout', maxOutputBytes: 64 << 20 });
}

/** The JSON lines of a controller's stdout, read back into the run's outcome. */
export function parseRollout(stdout: string, stderr: string, code: number | null): CliRolloutResult {
  const events = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as RolloutEvent);
  const active = new Set<string>();
  let peakConcurrent = 0;
  for (const e of events) {
    if (e.type === 'host-step') active.add(e.host);
    if (e.type === 'host-done') active.delete(e.result.host);
    peakConcurrent = Math.max(peakConcurrent, active.size);
  }
  const done = events.find((e): e is Extract<RolloutEvent, { type: 'run-done' }> => e.type === 'run-done');
  if (!done) throw new Error(`the rollout ended (exit ${code}) without its run-done event: ${stderr.slice(-2000)}`);
  return { code, stderr, events, results: done.results, ok: done.ok, stoppedEarly: done.stoppedEarly, peakConcurrent };
}

/** Runs one rollout to its end. */
export async function cliRollout(fl: FleetLab, o: CliRollout): Promise<CliRolloutResult> {
  const p = spawnController(fl, o);
  const { code } = await p.done;
  return parseRollout(p.stdout, p.stderr, code);
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
