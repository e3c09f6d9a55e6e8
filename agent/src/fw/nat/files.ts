/** Atomic state files and the apply lock (a file holding the owner's PID, taken over when stale). */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ConegateError } from '../../errors.ts';
import type { Clock } from '../../clock/clock.ts';

/** Writes via a temporary file and rename, so a crash leaves the old or the new file, never half of one. */
export async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}

export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface LockOptions {
  clock: Clock;
  pid: number;
  isAlive?: (pid: number) => boolean;
  waitMs: number;
  pollMs?: number;
}

export const sleep = (clock: Clock, ms: number) => new Promise<void>((r) => clock.setTimer(ms, r));

/**
 * Takes `dir/lock` (our PID and a token, linked into place whole). A lock whose PID is not running, or
 * holds no PID, is stale and removed. Waits up to waitMs for a live holder, then throws CG_BUSY.
 * Returns release().
 */
export async function acquireLock(dir: string, o: LockOptions): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'lock');
  const alive = o.isAlive ?? pidAlive;
  const deadline = o.clock.nowMs() + o.waitMs;
  // The lock's content is whole the moment it exists: written to a private file first, then
  // hard-linked into place (link fails with EEXIST like O_EXCL). An O_EXCL create followed by a
  // write left a window in which another contender read an empty lock, took it for stale and
  // removed it, and both held the lock. The token tells our lock from another holder's with the
  // same PID (two appliers in one process).
  const mine = `${o.pid} ${randomBytes(8).toString('hex')}\n`;
  for (;;) {
    // A fresh private file per attempt, removed right after it: a kill -9 while waiting for a live
    // holder leaves nothing behind.
    const tmp = `${path}.${o.pid}.${randomBytes(6).toString('hex')}`;
    await writeFile(tmp, mine, { mode: 0o600 });
    try {
      await link(tmp, path);
      return async () => {
        if ((await readOptional(path)) === mine) await rm(path, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      await rm(tmp, { force: true });
    }
    const holder = Number((await readOptional(path))?.trim().split(/\s+/)[0]);
    if (!alive(holder)) {
      // Stale: the holder died (or wrote nothing). Remove and retry; the link settles who takes it.
      // Left open: two contenders that read the same stale lock, where the slower one's rm can remove
      // the lock the faster one has just linked (only after a holder crashed).
      await rm(path, { force: true });
      continue;
    }
    if (o.clock.nowMs() >= deadline) throw new ConegateError('CG_BUSY', `another conegate apply (PID ${holder}) holds ${path}; try again when it finishes`, { context: { holder } });
    await sleep(o.clock, o.pollMs ?? 100);
  }
}
