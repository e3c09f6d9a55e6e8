/**
 * The rollback watchdog: a detached process started by `apply` before it loads anything, so the
 * confirm-or-revert deadline holds even when the applier is killed (kill -9, OOM, lost SSH session
 * with a hung shell). It watches pending.json; when the apply is settled (confirmed, rolled back,
 * reverted) it exits, and at the deadline it rolls back under the apply lock unless confirmed.
 * It is started as `conegate pf watchdog --job JSON` in its own session (setsid), stdio closed.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { ConegateError, isConegateError } from '../../errors.ts';
import type { Clock } from '../../clock/clock.ts';
import type { ApplyResult, NatApplier } from './applier.ts';
import { sleep } from './files.ts';

export interface WatchdogJob {
  /** The `nat` state directory the applier was built with. */
  stateDir: string;
  /** The applier's own directory in it (pending.json, lock); the watchdog logs to watchdog.log there. */
  dir: string;
  kind: 'pf' | 'nftables';
  target: string;
  id: string;
  deadlineWallMs: number;
}

export function parseWatchdogJob(text: string): WatchdogJob {
  let j: Partial<WatchdogJob>;
  try {
    j = JSON.parse(text) as Partial<WatchdogJob>;
  } catch (cause) {
    throw new ConegateError('CG_USAGE', '--job is not JSON', { cause });
  }
  if (typeof j.stateDir !== 'string' || typeof j.dir !== 'string' || (j.kind !== 'pf' && j.kind !== 'nftables') || typeof j.target !== 'string' || typeof j.id !== 'string' || typeof j.deadlineWallMs !== 'number')
    throw new ConegateError('CG_USAGE', '--job needs stateDir, dir, kind (pf|nftables), target, id and deadlineWallMs');
  return j as WatchdogJob;
}

/**
 * Waits for the deadline of apply `job.id` (wall clock, checked every pollMs) and rolls it back if
 * it is still pending. Returns the rollback's result, or undefined when someone settled it first.
 */
export async function runWatchdog(applier: NatApplier, job: WatchdogJob, deps: { clock: Clock; wallMs: () => number; pollMs?: number }): Promise<ApplyResult | undefined> {
  for (;;) {
    if ((await applier.pending())?.id !== job.id) return undefined;
    const leftMs = job.deadlineWallMs - deps.wallMs();
    if (leftMs <= 0) break;
    await sleep(deps.clock, Math.min(deps.pollMs ?? 1000, leftMs));
  }
  // A live applier holds the lock until it has settled its own apply; keep waiting while it works.
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      return await applier.expire(job.id);
    } catch (e) {
      if (!isConegateError(e) || e.code !== 'CG_BUSY') throw e;
    }
  }
  throw new ConegateError('CG_BUSY', `apply ${job.id}: the lock stayed taken; run conegate pf revert`);
}

/**
 * Starts the watchdog as a detached copy of this program (`entry` is the script node runs, e.g.
 * bin/conegate.js or the bundle), its stderr appended to `<dir>/watchdog.log` (0600) so a failed
 * rollback leaves a trace. Resolves with its PID once it has been spawned.
 */
export function spawnWatchdog(job: WatchdogJob, entry: string, nodeArgs: string[] = process.execArgv): Promise<number> {
  return new Promise((resolve, reject) => {
    const log = openSync(join(job.dir, 'watchdog.log'), 'a', 0o600);
    const child = spawn(process.execPath, [...nodeArgs, entry, 'pf', 'watchdog', '--job', JSON.stringify(job)], { detached: true, stdio: ['ignore', 'ignore', log], env: process.env });
    closeSync(log);
    child.once('error', reject);
    child.once('spawn', () => {
      child.unref();
      if (child.pid === undefined) reject(new ConegateError('CG_COMMAND_FAILED', 'the watchdog has no PID'));
      else resolve(child.pid);
    });
  });
}
