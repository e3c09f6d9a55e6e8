/**
 * The page's NAT buttons (control commands nat-apply, nat-confirm, nat-revert) and the NAT part of the
 * page model, on the same applier and state directory as `conegate pf apply|confirm|revert`, so the
 * page, the CLI and the detached watchdog all see one pending apply.
 *
 * nat-apply answers as soon as the rules are loaded and waiting for confirmation (the page then shows
 * "revert at ..." and the Confirm button); the apply itself keeps waiting in the agent and rolls back
 * at the deadline. The watchdog process started before loading rolls back even if the agent dies.
 */
import { ConegateError } from '../errors.ts';
import type { Clock } from '../clock/clock.ts';
import type { Logger } from '../log/logger.ts';
import type { NatApplier, ApplyResult } from '../fw/nat/applier.ts';
import type { NatState } from '../web/page-model.ts';

export interface NatControlDeps {
  clock: Clock;
  log: Logger;
  /** Builds the applier for this host and generates the rules text the config asks for. */
  prepare(): Promise<{ applier: NatApplier; text: string }>;
  /** The applier alone (state, confirm, revert), without generating. */
  applier(): Promise<NatApplier>;
  /** The grace period when nat-apply names none (nat.confirmSec, changeable live from the settings). */
  confirmSec(): number;
  enabled: boolean;
  wallMs?: () => number;
}

export class NatControl {
  private inFlight: Promise<ApplyResult> | undefined;
  private last: { outcome: string; reason: string; atWallMs: number } | undefined;

  constructor(private readonly deps: NatControlDeps) {}

  private wall(): number {
    return (this.deps.wallMs ?? Date.now)();
  }

  async state(): Promise<NatState> {
    const a = await this.deps.applier();
    const p = await a.pending().catch(() => undefined);
    const rules = (await a.current()) || '';
    return {
      enabled: this.deps.enabled,
      backend: a.backend.kind === 'nftables' ? 'nft' : 'pf',
      rules,
      pending: p ? { deadlineWallMs: p.deadlineWallMs } : null,
      appliedAtWallMs: this.last?.atWallMs ?? null,
    };
  }

  /** Loads the rules; resolves once they wait for confirmation (or settled at once). */
  async apply(confirmSeconds?: number): Promise<{ pending: { revertAt: string } | null; outcome?: string; reason?: string }> {
    if (this.inFlight) throw new ConegateError('CG_BUSY', 'an apply from the page is still waiting for confirmation; confirm or revert it first');
    const confirmSec = confirmSeconds ?? this.deps.confirmSec();
    const { applier, text } = await this.deps.prepare();
    const run = applier.apply(text, { confirmMs: confirmSec * 1000 });
    this.inFlight = run;
    const settled = run.then(
      (r) => {
        this.last = { ...r, atWallMs: this.wall() };
        this.deps.log.info({ outcome: r.outcome, reason: r.reason }, 'nat: page apply settled');
        return r;
      },
      (err: unknown) => {
        throw err;
      },
    );
    void settled.catch(() => undefined).finally(() => (this.inFlight = undefined));
    // Answer when the rules wait for confirmation, or when the apply ended first (unchanged, refused).
    for (;;) {
      const winner = await Promise.race([settled.then((r) => ({ r }), (err: unknown) => ({ err })), sleepThen(this.deps.clock, 50)]);
      if (winner && 'err' in winner) throw winner.err;
      if (winner && 'r' in winner) return { pending: null, outcome: winner.r.outcome, reason: winner.r.reason };
      const p = await applier.pending().catch(() => undefined);
      if (p && (await applier.current()) === text) return { pending: { revertAt: new Date(p.deadlineWallMs).toISOString() } };
    }
  }

  async confirm(): Promise<{ confirmed: string }> {
    const a = await this.deps.applier();
    const id = await a.confirm();
    await this.inFlight?.catch(() => undefined);
    return { confirmed: id };
  }

  /** A pending apply of ours is told to roll back and awaited (it holds the lock); else one step back. */
  async revert(): Promise<ApplyResult> {
    const a = await this.deps.applier();
    if (this.inFlight) {
      const run = this.inFlight;
      await a.requestRevert();
      return run;
    }
    const r = await a.revert();
    this.last = { ...r, atWallMs: this.wall() };
    return r;
  }
}

function sleepThen(clock: Clock, ms: number): Promise<undefined> {
  return new Promise((r) => clock.setTimer(ms, () => r(undefined)));
}
