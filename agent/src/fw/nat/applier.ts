/**
 * Apply with confirm-or-revert, for PF anchors and nftables tables alike.
 *
 *   lock -> write candidate -> validate (dry run) -> remember what is in force -> load (atomic)
 *        -> check the rules are in force -> wait for a health check or `conegate pf confirm`
 *        -> confirmed, or the grace period ends / `conegate pf revert` -> load the previous text
 *
 * A failed validation or load changes nothing in the kernel (both tools load atomically), so the
 * previous rules stay in force. The lock serialises applies across processes; a lock left by a dead
 * process is taken over. If the applying process dies during the grace period, the next command
 * finds the pending record with a dead PID past its deadline and rolls back (recoverStale).
 * State lives in `<stateDir>/<kind>-<target>/`: current.conf (what we loaded and is in force),
 * previous.conf (what was in force before), pending.json, confirm/revert markers, lock.
 */
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { ConegateError } from '../../errors.ts';
import type { Clock } from '../../clock/clock.ts';
import type { RuleBackend } from './backend.ts';
import { acquireLock, pidAlive, readOptional, sleep, writeAtomic } from './files.ts';

export interface ApplierDeps {
  backend: RuleBackend;
  stateDir: string;
  clock: Clock;
  pid?: number;
  isAlive?: (pid: number) => boolean;
  /** Wall clock for the pending record only (another process compares deadlines). */
  wallMs?: () => number;
}

export interface ApplyOptions {
  /** Grace period: roll back unless confirmed within it. 0 = no wait (confirmed at once). */
  confirmMs: number;
  /** Passing = confirmed. Called every pollMs during the grace period. */
  healthCheck?: () => Promise<boolean>;
  pollMs?: number;
  /** How long to wait for another apply's lock. */
  lockWaitMs?: number;
}

export type ApplyOutcome = 'confirmed' | 'rolled-back' | 'unchanged';

export interface ApplyResult {
  outcome: ApplyOutcome;
  reason: string;
}

interface Pending {
  id: string;
  pid: number;
  deadlineWallMs: number;
}

export class NatApplier {
  readonly dir: string;
  private readonly pid: number;
  private readonly isAlive: (pid: number) => boolean;
  private readonly wallMs: () => number;

  constructor(private readonly deps: ApplierDeps) {
    this.dir = join(deps.stateDir, `${deps.backend.kind}-${deps.backend.target.replace(/[^A-Za-z0-9_.-]+/g, '_')}`);
    this.pid = deps.pid ?? process.pid;
    this.isAlive = deps.isAlive ?? pidAlive;
    this.wallMs = deps.wallMs ?? Date.now;
  }

  /** The backend this applier loads through. */
  get backend(): RuleBackend {
    return this.deps.backend;
  }

  private path(name: string): string {
    return join(this.dir, name);
  }

  /** Text we last loaded and believe in force ('' when none). */
  async current(): Promise<string> {
    return (await readOptional(this.path('current.conf'))) ?? '';
  }

  async pending(): Promise<Pending | undefined> {
    const raw = await readOptional(this.path('pending.json'));
    if (raw === undefined) return undefined;
    try {
      return JSON.parse(raw) as Pending;
    } catch (cause) {
      throw new ConegateError('CG_STATE_CORRUPT', `${this.path('pending.json')} is not valid JSON; remove it after checking the rules in force`, { cause });
    }
  }

  private async loadText(name: string, text: string): Promise<void> {
    const file = this.path(name);
    await writeAtomic(file, text);
    await this.deps.backend.load(file);
  }

  /** Loads previous.conf again; then previous.conf becomes `olderPrevious` (what it held before the failed apply). */
  private async rollback(reason: string): Promise<ApplyResult> {
    const previous = (await readOptional(this.path('previous.conf'))) ?? this.deps.backend.emptyText();
    const older = (await readOptional(this.path('previous.older.conf'))) ?? this.deps.backend.emptyText();
    try {
      await this.loadText('rollback.conf', previous);
    } catch (cause) {
      throw new ConegateError('CG_COMMAND_FAILED', `rollback failed after "${reason}": the new rules may still be in force; run conegate pf revert or load ${this.path('previous.conf')} by hand`, { cause });
    }
    await writeAtomic(this.path('current.conf'), previous);
    // History as if the rolled-back apply never happened, so a later revert goes one real step back.
    await writeAtomic(this.path('previous.conf'), older);
    await rm(this.path('pending.json'), { force: true });
    return { outcome: 'rolled-back', reason };
  }

  /** Rolls back an apply whose process died during its grace period and whose deadline passed. */
  async recoverStale(): Promise<ApplyResult | undefined> {
    const p = await this.pending();
    if (!p || this.isAlive(p.pid) || this.wallMs() < p.deadlineWallMs) return undefined;
    return this.rollback(`apply by PID ${p.pid} was never confirmed`);
  }

  async apply(text: string, o: ApplyOptions): Promise<ApplyResult> {
    const release = await acquireLock(this.dir, { clock: this.deps.clock, pid: this.pid, isAlive: this.isAlive, waitMs: o.lockWaitMs ?? o.confirmMs + 30_000 });
    try {
      await this.recoverStale();
      const before = await this.current();
      const expected = text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#')).length;
      // "Unchanged" needs the kernel to agree: after a reboot our record survives but the anchor is empty.
      if (before === text && (await this.pending()) === undefined && (expected === 0 || this.deps.backend.countRules(await this.deps.backend.show()) > 0))
        return { outcome: 'unchanged', reason: 'the same rules are already in force' };
      const candidate = this.path('candidate.conf');
      await writeAtomic(candidate, text);
      await this.deps.backend.validate(candidate);
      await writeAtomic(this.path('previous.older.conf'), (await readOptional(this.path('previous.conf'))) ?? this.deps.backend.emptyText());
      await writeAtomic(this.path('previous.conf'), before || this.deps.backend.emptyText());
      await this.deps.backend.load(candidate);
      await writeAtomic(this.path('current.conf'), text);
      const id = `${this.pid}-${Math.round(this.deps.clock.nowMs())}`;
      await writeAtomic(this.path('pending.json'), JSON.stringify({ id, pid: this.pid, deadlineWallMs: this.wallMs() + o.confirmMs } satisfies Pending));
      if (expected > 0 && this.deps.backend.countRules(await this.deps.backend.show()) === 0) return await this.rollback('the loaded rules do not show in the ruleset');
      return await this.awaitConfirm(id, o);
    } finally {
      await release();
    }
  }

  private async awaitConfirm(id: string, o: ApplyOptions): Promise<ApplyResult> {
    const deadline = this.deps.clock.nowMs() + o.confirmMs;
    for (;;) {
      if ((await readOptional(this.path(`revert-${id}`))) !== undefined) {
        await rm(this.path(`revert-${id}`), { force: true });
        return this.rollback('revert requested');
      }
      if ((await readOptional(this.path(`confirm-${id}`))) !== undefined || o.confirmMs === 0) {
        await rm(this.path(`confirm-${id}`), { force: true });
        await rm(this.path('pending.json'), { force: true });
        return { outcome: 'confirmed', reason: o.confirmMs === 0 ? 'no grace period' : 'confirmed by the admin' };
      }
      if (o.healthCheck && (await o.healthCheck().catch(() => false))) {
        await rm(this.path('pending.json'), { force: true });
        return { outcome: 'confirmed', reason: 'health check passed' };
      }
      if (this.deps.clock.nowMs() >= deadline) return this.rollback(`not confirmed within ${Math.round(o.confirmMs / 1000)} s`);
      await sleep(this.deps.clock, Math.min(o.pollMs ?? 1000, Math.max(1, deadline - this.deps.clock.nowMs())));
    }
  }

  /** Marks the pending apply confirmed (run from another process: `conegate pf confirm`). */
  async confirm(): Promise<string> {
    const p = await this.pending();
    if (!p) throw new ConegateError('CG_USAGE', 'no apply is waiting for confirmation');
    await writeAtomic(this.path(`confirm-${p.id}`), `${this.pid}\n`);
    return p.id;
  }

  /** Asks the pending apply (ours or another process's) to roll back at its next poll. */
  async requestRevert(): Promise<boolean> {
    const p = await this.pending();
    if (!p) return false;
    await writeAtomic(this.path(`revert-${p.id}`), `${this.pid}\n`);
    return true;
  }

  /**
   * Reverts: a pending apply is told to roll back (or rolled back here if its process is gone);
   * otherwise the previous text is loaded again under the lock.
   */
  async revert(lockWaitMs = 5_000): Promise<ApplyResult> {
    const p = await this.pending();
    if (p && this.isAlive(p.pid) && p.pid !== this.pid) {
      await this.requestRevert();
      return { outcome: 'rolled-back', reason: `apply by PID ${p.pid} told to roll back` };
    }
    const release = await acquireLock(this.dir, { clock: this.deps.clock, pid: this.pid, isAlive: this.isAlive, waitMs: lockWaitMs });
    try {
      if ((await readOptional(this.path('previous.conf'))) === undefined && (await this.current()) === '') return { outcome: 'unchanged', reason: 'conegate has loaded nothing here' };
      // One step back only: a second revert empties our place rather than flipping back and forth.
      await writeAtomic(this.path('previous.older.conf'), this.deps.backend.emptyText());
      return await this.rollback('revert requested');
    } finally {
      await release();
    }
  }
}
