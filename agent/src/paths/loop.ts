/**
 * The engine's one timer: after every call into the PathEngine the loop re-arms a single timer at
 * `nextWakeMs()` (never more than one pending), calls `tick` when it fires and hands every returned
 * action to `perform`. A throwing action handler is logged, never propagated into a socket callback.
 */
import type { CancelTimer, Clock } from '../clock/clock.ts';
import type { Logger } from '../log/logger.ts';
import type { PathAction, PathEngine } from './types.ts';

export class PathLoop {
  private cancel: CancelTimer | undefined;
  private armedAt: number | undefined;
  private stopped = false;
  ticks = 0;
  /** Engine calls performed so far: anything the router caches from the engine is stale once this moves. */
  runs = 0;

  constructor(
    private readonly engine: PathEngine,
    private readonly clock: Clock,
    private readonly perform: (action: PathAction) => void,
    private readonly log: Logger,
    /** Called after each run's actions (the router sends packets that waited for a route). */
    private readonly afterRun?: () => void,
  ) {}

  /** Performs `actions` (the result of an engine call) and re-arms the timer. */
  run(actions: PathAction[]): void {
    this.runs++;
    for (const a of actions) {
      try {
        this.perform(a);
      } catch (err) {
        this.log.warn({ err: (err as Error).message, action: a.t }, 'paths: action failed');
      }
    }
    this.afterRun?.();
    this.rearm();
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = undefined;
    this.armedAt = undefined;
  }

  private rearm(): void {
    if (this.stopped) return;
    const at = this.engine.nextWakeMs();
    if (at === this.armedAt) return;
    this.cancel?.();
    this.cancel = undefined;
    this.armedAt = at;
    if (at === undefined) return;
    this.cancel = this.clock.setTimer(Math.max(0, at - this.clock.nowMs()), () => {
      this.cancel = undefined;
      this.armedAt = undefined;
      this.ticks++;
      this.run(this.engine.tick(this.clock.nowMs()));
    });
  }
}
