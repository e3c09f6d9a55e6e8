/**
 * Apply with confirm-or-revert, for PF anchors and nftables tables alike.
 *
 *   lock -> write candidate -> preflight (PF: our anchors are referenced) -> validate (dry run)
 *        -> record what to restore (pending.json) -> start the watchdog -> load (atomic)
 *        -> move the history -> check the rules are in force
 *        -> wait for a health check or `conegate pf confirm` -> confirmed, or at the deadline /
 *           on `conegate pf revert` load what was in force before
 *
 * The deadline does not depend on this process: before loading, a detached watchdog process is
 * started (its PID in pending.json) that rolls back at the deadline unless the apply was confirmed,
 * so `kill -9` of the applier or a lost SSH session still restores the previous rules in time.
 * pending.json carries the texts to restore (what was in force and the history before), so a
 * rollback is exact whichever process does it and wherever the applier died.
 * A failed validation or load changes nothing in the kernel (both tools load atomically) and leaves
 * the history as it was, so a later `revert` still goes back to the real previous rules.
 * State lives in `<stateDir>/<kind>-<target>/`: current.conf (what we loaded and is in force),
 * previous.conf (what was in force before it), pending.json, confirm/revert markers, last.json
 * (the last apply's outcome), lock.
 */
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { ConegateError } from '../../errors.ts';
import type { Clock } from '../../clock/clock.ts';
import type { RuleBackend } from './backend.ts';
import { acquireLock, pidAlive, readOptional, sleep, writeAtomic } from './files.ts';
import type { WatchdogJob } from './watchdog.ts';

export interface ApplierDeps {
  backend: RuleBackend;
  stateDir: string;
  clock: Clock;
  pid?: number;
  isAlive?: (pid: number) => boolean;
  /** Wall clock for the pending record only (another process compares deadlines). */
  wallMs?: () => number;
  /** Starts the detached process that rolls back at the deadline; returns its PID. */
  startWatchdog?: (job: WatchdogJob) => Promise<number>;
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

/** What a rollback puts back: the text in force before the apply, and previous.conf before it (null = none). */
export interface Restore {
  current: string;
  previous: string | null;
}

export interface Pending {
  id: string;
  pid: number;
  deadlineWallMs: number;
  watchdogPid?: number;
  /** Absent in records written before the watchdog existed: then previous.conf is restored. */
  restore?: Restore;
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

  private lock(waitMs: number): Promise<() => Promise<void>> {
    return acquireLock(this.dir, { clock: this.deps.clock, pid: this.pid, isAlive: this.isAlive, waitMs });
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

  /** Outcome of the last apply that was settled (by anyone), for `confirm` to report truthfully. */
  async lastOutcome(): Promise<{ id: string; outcome: ApplyOutcome; reason: string } | undefined> {
    const raw = await readOptional(this.path('last.json'));
    try {
      return raw === undefined ? undefined : (JSON.parse(raw) as { id: string; outcome: ApplyOutcome; reason: string });
    } catch {
      return undefined;
    }
  }

  private async settled(id: string, r: ApplyResult): Promise<ApplyResult> {
    await writeAtomic(this.path('last.json'), JSON.stringify({ id, ...r }));
    await rm(this.path('pending.json'), { force: true });
    await rm(this.path(`confirm-${id}`), { force: true });
    await rm(this.path(`revert-${id}`), { force: true });
    return r;
  }

  private restoreOf(p: Pending): Promise<Restore> | Restore {
    if (p.restore) return p.restore;
    return (async () => ({ current: (await readOptional(this.path('previous.conf'))) ?? this.deps.backend.emptyText(), previous: (await readOptional(this.path('previous.older.conf'))) ?? null }))();
  }

  /** Loads what was in force before and puts the history back as if the apply never happened. */
  private async rollback(id: string, restore: Restore, reason: string): Promise<ApplyResult> {
    const file = this.path('rollback.conf');
    try {
      await writeAtomic(file, restore.current);
      await this.deps.backend.load(file);
    } catch (cause) {
      throw new ConegateError('CG_COMMAND_FAILED', `rollback failed after "${reason}": the new rules may still be in force; run conegate pf revert or load ${file} by hand`, { cause });
    }
    await writeAtomic(this.path('current.conf'), restore.current);
    if (restore.previous === null) await rm(this.path('previous.conf'), { force: true });
    else await writeAtomic(this.path('previous.conf'), restore.previous);
    return this.settled(id, { outcome: 'rolled-back', reason });
  }

  /**
   * Settles a pending apply whose process is gone (caller holds the lock): a confirm it never saw
   * is honoured; past the deadline it is rolled back; before it, the watchdog is left to act.
   */
  private async settleOrphan(): Promise<ApplyResult | undefined> {
    const p = await this.pending();
    if (!p || (p.pid !== this.pid && this.isAlive(p.pid))) return undefined;
    if ((await readOptional(this.path(`confirm-${p.id}`))) !== undefined) return this.settled(p.id, { outcome: 'confirmed', reason: 'confirmed while the applier was gone' });
    if (this.wallMs() < p.deadlineWallMs) return undefined;
    return this.rollback(p.id, await this.restoreOf(p), `apply by PID ${p.pid} was never confirmed`);
  }

  /** Rolls back an apply whose process died during its grace period and whose deadline passed. */
  async recoverStale(lockWaitMs = 5_000): Promise<ApplyResult | undefined> {
    const p = await this.pending();
    if (!p || this.isAlive(p.pid)) return undefined;
    const release = await this.lock(lockWaitMs);
    try {
      return await this.settleOrphan();
    } finally {
      await release();
    }
  }

  async apply(text: string, o: ApplyOptions): Promise<ApplyResult> {
    const release = await this.lock(o.lockWaitMs ?? o.confirmMs + 30_000);
    try {
      await this.settleOrphan();
      const waiting = await this.pending();
      if (waiting) throw new ConegateError('CG_BUSY', `apply ${waiting.id} is still waiting for confirmation; confirm or revert it first`);
      const before = await this.current();
      const expected = text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#')).length;
      // "Unchanged" needs the kernel to agree: after a reboot our record survives but the anchor is empty.
      if (before === text && (expected === 0 || this.deps.backend.countRules(await this.deps.backend.show()) > 0))
        return { outcome: 'unchanged', reason: 'the same rules are already in force' };
      const candidate = this.path('candidate.conf');
      await writeAtomic(candidate, text);
      await this.deps.backend.preflight?.();
      await this.deps.backend.validate(candidate);
      const id = `${this.pid}-${Math.round(this.deps.clock.nowMs())}`;
      const restore: Restore = { current: before || this.deps.backend.emptyText(), previous: (await readOptional(this.path('previous.conf'))) ?? null };
      if (o.confirmMs > 0) await this.arm({ id, pid: this.pid, deadlineWallMs: this.wallMs() + o.confirmMs, restore });
      try {
        await this.deps.backend.load(candidate);
      } catch (e) {
        // Nothing changed in the kernel: drop the record (the watchdog then exits) and keep the history.
        await rm(this.path('pending.json'), { force: true });
        throw e;
      }
      await writeAtomic(this.path('previous.conf'), restore.current);
      await writeAtomic(this.path('current.conf'), text);
      if (expected > 0 && this.deps.backend.countRules(await this.deps.backend.show()) === 0) return await this.rollback(id, restore, 'the loaded rules do not show in the ruleset');
      if (o.confirmMs === 0) return { outcome: 'confirmed', reason: 'no grace period' };
      return await this.awaitConfirm(id, restore, o);
    } finally {
      await release();
    }
  }

  /** Writes the pending record and starts the watchdog before anything is loaded. */
  private async arm(p: Pending): Promise<void> {
    await writeAtomic(this.path('pending.json'), JSON.stringify(p));
    if (!this.deps.startWatchdog) return;
    try {
      p.watchdogPid = await this.deps.startWatchdog({ stateDir: this.deps.stateDir, dir: this.dir, kind: this.deps.backend.kind, target: this.deps.backend.target, id: p.id, deadlineWallMs: p.deadlineWallMs });
    } catch (cause) {
      await rm(this.path('pending.json'), { force: true });
      throw new ConegateError('CG_COMMAND_FAILED', 'cannot start the rollback watchdog; nothing was loaded', { cause });
    }
    await writeAtomic(this.path('pending.json'), JSON.stringify(p));
  }

  private async awaitConfirm(id: string, restore: Restore, o: ApplyOptions): Promise<ApplyResult> {
    const deadline = this.deps.clock.nowMs() + o.confirmMs;
    for (;;) {
      if ((await readOptional(this.path(`revert-${id}`))) !== undefined) return this.rollback(id, restore, 'revert requested');
      if ((await readOptional(this.path(`confirm-${id}`))) !== undefined) return this.settled(id, { outcome: 'confirmed', reason: 'confirmed by the admin' });
      if (o.healthCheck && (await o.healthCheck().catch(() => false))) return this.settled(id, { outcome: 'confirmed', reason: 'health check passed' });
      if (this.deps.clock.nowMs() >= deadline) return this.rollback(id, restore, `not confirmed within ${Math.round(o.confirmMs / 1000)} s`);
      await sleep(this.deps.clock, Math.min(o.pollMs ?? 1000, Math.max(1, deadline - this.deps.clock.nowMs())));
    }
  }

  /**
   * The watchdog's act at the deadline: under the lock (a live applier settles first and releases
   * it), roll back the apply `id` if it is still pending and unconfirmed.
   */
  async expire(id: string, lockWaitMs = 60_000): Promise<ApplyResult | undefined> {
    const release = await this.lock(lockWaitMs);
    try {
      const p = await this.pending();
      if (!p || p.id !== id) return undefined;
      if ((await readOptional(this.path(`confirm-${id}`))) !== undefined) return await this.settled(id, { outcome: 'confirmed', reason: 'confirmed while the applier was gone' });
      return await this.rollback(id, await this.restoreOf(p), `not confirmed before the deadline; rolled back by the watchdog (applier PID ${p.pid})`);
    } finally {
      await release();
    }
  }

  /**
   * Confirms the pending apply (run from another process: `conegate pf confirm`). A live applier
   * takes the marker at its next poll; an applier that is gone is settled here. Throws
   * CG_NOTHING_PENDING when nothing waits, CG_FIREWALL_ROLLED_BACK when it was too late.
   */
  async confirm(waitMs = 5_000): Promise<string> {
    const p = await this.pending();
    if (!p) throw new ConegateError('CG_NOTHING_PENDING', 'no apply is waiting for confirmation: nothing to confirm (conegate pf status shows the rules in force)');
    await writeAtomic(this.path(`confirm-${p.id}`), `${this.pid}\n`);
    const until = this.deps.clock.nowMs() + waitMs;
    while (this.deps.clock.nowMs() < until && this.isAlive(p.pid) && (await this.pending())?.id === p.id) await sleep(this.deps.clock, 20);
    const release = await this.lock(waitMs);
    try {
      const q = await this.pending();
      if (q?.id === p.id) {
        if (this.wallMs() >= q.deadlineWallMs) {
          await this.rollback(q.id, await this.restoreOf(q), 'confirmed after the deadline');
        } else {
          await this.settled(q.id, { outcome: 'confirmed', reason: 'confirmed by the admin' });
        }
      }
    } finally {
      await release();
    }
    const last = await this.lastOutcome();
    if (last?.id === p.id && last.outcome === 'rolled-back') throw new ConegateError('CG_FIREWALL_ROLLED_BACK', `apply ${p.id} was not confirmed in time and has been rolled back (${last.reason}); the previous rules are in force`);
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
   * otherwise the previous text is loaded again under the lock, and a second revert empties our place.
   */
  async revert(lockWaitMs = 5_000): Promise<ApplyResult> {
    const p = await this.pending();
    if (p && this.isAlive(p.pid) && p.pid !== this.pid) {
      await this.requestRevert();
      return { outcome: 'rolled-back', reason: `apply by PID ${p.pid} told to roll back` };
    }
    const release = await this.lock(lockWaitMs);
    try {
      const q = await this.pending();
      if (q) return await this.rollback(q.id, await this.restoreOf(q), 'revert requested');
      const previous = await readOptional(this.path('previous.conf'));
      if (previous === undefined && (await this.current()) === '') return { outcome: 'unchanged', reason: 'conegate has loaded nothing here' };
      return await this.rollback(`revert-${this.pid}-${Math.round(this.deps.clock.nowMs())}`, { current: previous ?? this.deps.backend.emptyText(), previous: this.deps.backend.emptyText() }, 'revert requested');
    } finally {
      await release();
    }
  }

  /**
   * Loads `text` in place of what is in force, under the same lock and state as apply but without
   * a grace period (the dynamic pinner's reloads). Refused while an apply waits for confirmation.
   * With `keepHistory` false the text in force becomes previous.conf, so `revert` returns to it.
   */
  async replace(text: string, o: { keepHistory: boolean; lockWaitMs?: number }): Promise<void> {
    const release = await this.lock(o.lockWaitMs ?? 5_000);
    try {
      await this.settleOrphan();
      const p = await this.pending();
      if (p) throw new ConegateError('CG_BUSY', `apply ${p.id} is waiting for confirmation; not reloading ${this.deps.backend.target} until it is settled`);
      const file = this.path('replace.conf');
      await writeAtomic(file, text);
      await this.deps.backend.preflight?.();
      await this.deps.backend.validate(file);
      const before = await this.current();
      await this.deps.backend.load(file);
      if (!o.keepHistory) await writeAtomic(this.path('previous.conf'), before || this.deps.backend.emptyText());
      await writeAtomic(this.path('current.conf'), text);
    } finally {
      await release();
    }
  }
}

