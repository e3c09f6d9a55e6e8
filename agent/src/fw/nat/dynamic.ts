/**
 * The dynamic mode's edge: every pollMs, read UDP states with `pfctl -ss` (streamed line by line:
 * a busy router has hundreds of thousands of states and only outbound UDP NAT states are kept),
 * plan pins (pure, in pf-rules/src/dynamic/pins.ts) and, only when the plan changes, load the
 * anchor again: the static part plus one rule per pinned socket. Loads go through the NatApplier
 * (`replace`): the same lock and state files as apply/confirm/revert, validated with `pfctl -n`,
 * loaded in one transaction, refused while an apply waits for confirmation. The first load of a
 * session keeps what was in force as previous.conf, so `conegate pf revert` undoes the pinning.
 * A failed poll or load is logged and retried at the next tick; the pins in force stay.
 * Time comes from the injected Clock; randomness from the injected randomInt.
 */
import type { Clock, CancelTimer } from '../../clock/clock.ts';
import type { Logger } from '../../log/logger.ts';
import { isOutboundUdpNat, PfStateReader } from '../../../../pf-rules/src/dynamic/states.ts';
import { planPins, renderPins, type Pin, type PinScope, type Plan, type WanAddresses } from '../../../../pf-rules/src/dynamic/pins.ts';
import type { PortRange } from '../../../../pf-rules/src/model.ts';
import type { NatApplier } from './applier.ts';
import { ConegateError } from '../../errors.ts';
import type { LineRunner } from './runner.ts';

export interface DynamicConfig {
  /** The generated anchor text the pins are appended to. */
  baseText: string;
  scope: PinScope;
  wans: WanAddresses[];
  pollMs: number;
  graceMs: number;
  portRange?: PortRange;
}

export interface DynamicDeps {
  clock: Clock;
  /** Streams `pfctl -ss`. */
  lines: LineRunner;
  applier: Pick<NatApplier, 'replace'>;
  randomInt: (n: number) => number;
  log?: Pick<Logger, 'info' | 'warn'>;
}

export class DynamicPinner {
  private pins: Pin[] = [];
  private cancel: CancelTimer | undefined;
  private running = false;
  private current: Promise<void> = Promise.resolve();
  private loadedOnce = false;
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
      await this.load(this.cfg.baseText);
      this.pins = [];
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
    const reader = new PfStateReader(isOutboundUdpNat);
    const ss = await this.deps.lines('pfctl', ['-ss'], (line) => reader.push(line), { timeoutMs: 15_000 });
    if (ss.code !== 0) throw new ConegateError('CG_COMMAND_FAILED', `pfctl -ss failed: ${ss.stderr.trim().split('\n')[0] ?? `exit ${ss.code}`}`);
    const plan = planPins({
      states: reader.states,
      pins: this.pins,
      nowMs: this.deps.clock.nowMs(),
      graceMs: this.cfg.graceMs,
      scope: this.cfg.scope,
      wans: this.cfg.wans,
      portRange: this.cfg.portRange ?? { from: 1024, to: 65535 },
      randomInt: this.deps.randomInt,
    });
    if (plan.changed) {
      await this.load(`${this.cfg.baseText.replace(/\n*$/, '\n')}\n${renderPins(plan.pins)}`);
      this.deps.log?.info({ added: plan.added.length, expired: plan.expired.length, pinned: plan.pins.length }, 'dynamic NAT pins reloaded');
    }
    // Only a loaded plan becomes ours: after a failed load the next poll plans from the old pins again.
    this.pins = plan.pins;
    return plan;
  }

  private async load(text: string): Promise<void> {
    await this.deps.applier.replace(text, { keepHistory: this.loadedOnce });
    this.loadedOnce = true;
    this.loads++;
  }
}
