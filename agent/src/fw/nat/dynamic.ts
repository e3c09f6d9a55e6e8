/**
 * The dynamic mode's edge: every pollMs, read UDP states with `pfctl -ss`, plan pins (pure, in
 * pf-rules/src/dynamic/pins.ts) and, only when the plan changes, load the anchor again: the static
 * part plus one rule per pinned socket, validated with `pfctl -n` and loaded with `pfctl -a` (one
 * transaction). A failed poll or load is logged and retried at the next tick; the pins in force stay.
 * Time comes from the injected Clock; randomness from the injected randomInt.
 */
import { join } from 'node:path';
import type { Clock, CancelTimer } from '../../clock/clock.ts';
import type { Logger } from '../../log/logger.ts';
import { parsePfStates } from '../../../../pf-rules/src/dynamic/states.ts';
import { planPins, renderPins, type Pin, type PinScope, type Plan, type WanAddresses } from '../../../../pf-rules/src/dynamic/pins.ts';
import type { PortRange } from '../../../../pf-rules/src/model.ts';
import type { RuleBackend } from './backend.ts';
import { runOk, type CommandRunner } from './runner.ts';
import { writeAtomic } from './files.ts';

export interface DynamicConfig {
  /** The generated anchor text the pins are appended to. */
  baseText: string;
  scope: PinScope;
  wans: WanAddresses[];
  pollMs: number;
  graceMs: number;
  portRange?: PortRange;
  stateDir: string;
}

export interface DynamicDeps {
  clock: Clock;
  run: CommandRunner;
  backend: RuleBackend;
  randomInt: (n: number) => number;
  log?: Pick<Logger, 'info' | 'warn'>;
}

export class DynamicPinner {
  private pins: Pin[] = [];
  private cancel: CancelTimer | undefined;
  private running = false;
  private current: Promise<void> = Promise.resolve();
  loads = 0;

  constructor(private readonly cfg: DynamicConfig, private readonly deps: DynamicDeps) {}

  get pinned(): readonly Pin[] {
    return this.pins;
  }

  /** Starts polling (first poll at once). Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /**
   * Stops polling. With `clearPins` the anchor is loaded with the base text alone, because nobody
   * would expire the pins any more: a pin left behind would hold its socket's port for good.
   * Idempotent.
   */
  async stop(opts: { clearPins?: boolean } = {}): Promise<void> {
    this.running = false;
    this.cancel?.();
    this.cancel = undefined;
    await this.current;
    if (opts.clearPins && this.pins.length) {
      const file = join(this.cfg.stateDir, 'dynamic.conf');
      await writeAtomic(file, this.cfg.baseText);
      await this.deps.backend.validate(file);
      await this.deps.backend.load(file);
      this.pins = [];
      this.loads++;
    }
  }

  /** Resolves when the poll in progress (if any) has finished. */
  idle(): Promise<void> {
    return this.current;
  }

  private schedule(delayMs: number): void {
    this.cancel = this.deps.clock.setTimer(delayMs, () => {
      this.cancel = undefined;
      this.current = this.tick()
        .then(() => undefined, (err: unknown) => this.deps.log?.warn({ err }, 'dynamic NAT pinning: poll failed; keeping the pins in force'))
        .finally(() => {
          if (this.running) this.schedule(this.cfg.pollMs);
        });
    });
  }

  /** One poll: read states, plan, and load the anchor if the plan changed. */
  async tick(): Promise<Plan> {
    const ss = await runOk(this.deps.run, 'pfctl', ['-ss'], { timeoutMs: 15_000 });
    const plan = planPins({
      states: parsePfStates(ss.stdout).states,
      pins: this.pins,
      nowMs: this.deps.clock.nowMs(),
      graceMs: this.cfg.graceMs,
      scope: this.cfg.scope,
      wans: this.cfg.wans,
      portRange: this.cfg.portRange ?? { from: 1024, to: 65535 },
      randomInt: this.deps.randomInt,
    });
    if (plan.changed) {
      const file = join(this.cfg.stateDir, 'dynamic.conf');
      await writeAtomic(file, `${this.cfg.baseText.replace(/\n*$/, '\n')}\n${renderPins(plan.pins)}`);
      await this.deps.backend.validate(file);
      await this.deps.backend.load(file);
      this.loads++;
      this.deps.log?.info({ added: plan.added.length, expired: plan.expired.length, pinned: plan.pins.length }, 'dynamic NAT pins reloaded');
    }
    // Only a loaded plan becomes ours: after a failed load the next poll plans from the old pins again.
    this.pins = plan.pins;
    return plan;
  }
}
