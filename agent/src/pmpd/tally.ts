/**
 * Counters per decision result and a periodic summary, so what the server does is visible at `info`
 * without one line per packet: routers log to flash, and a LAN host (or a fuzzer) sending 100k
 * requests must not write 100k lines. Each decision goes to `debug`; `info` gets one summary line per
 * interval, and only for an interval in which something happened.
 */
import type { Clock, CancelTimer } from '../clock/clock.ts';
import type { Logger } from '../log/logger.ts';

/** @default 5 minutes */
export const SUMMARY_INTERVAL_MS = 5 * 60_000;

export class DecisionTally {
  /** Totals since start, by `protocol:RESULT` (e.g. `pcp:NO_RESOURCES`, `pmp:SUCCESS`) and drop reason. */
  readonly totals = new Map<string, number>();
  private interval = new Map<string, number>();
  private timer: CancelTimer | undefined;

  constructor(
    private readonly deps: { clock: Clock; log: Logger },
    private readonly intervalMs = SUMMARY_INTERVAL_MS,
  ) {}

  /** Counts one outcome. */
  count(key: string): void {
    this.totals.set(key, (this.totals.get(key) ?? 0) + 1);
    this.interval.set(key, (this.interval.get(key) ?? 0) + 1);
  }

  /** Arms the summary timer. Idempotent. */
  start(): void {
    if (this.timer || this.intervalMs <= 0) return;
    this.timer = this.deps.clock.setTimer(this.intervalMs, () => {
      this.timer = undefined;
      this.flush();
      this.start();
    });
  }

  /** Cancels the timer and writes what is left. Idempotent. */
  stop(): void {
    this.timer?.();
    this.timer = undefined;
    this.flush();
  }

  /** Writes the summary of the current interval, if anything happened in it, and starts a new one. */
  flush(): void {
    if (this.interval.size === 0) return;
    const counts = Object.fromEntries([...this.interval].sort(([a], [b]) => a.localeCompare(b)));
    this.interval = new Map();
    this.deps.log.info({ counts, intervalSec: Math.round(this.intervalMs / 1000) }, 'pmpd: requests handled');
  }
}
