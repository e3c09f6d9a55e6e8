/**
 * Time for protocol logic. Everything that decides takes `nowMs` as an argument; what must arm timers
 * takes a Clock, so tests drive time with FakeClock.advance() instead of waiting.
 * All values are monotonic milliseconds; wall time is only for display and logs.
 */

export type CancelTimer = () => void;

export interface Clock {
  /** Monotonic milliseconds since an arbitrary origin. */
  nowMs(): number;
  /** Calls fn once after delayMs; the returned function cancels it (idempotent). */
  setTimer(delayMs: number, fn: () => void): CancelTimer;
}

/**
 * The real clock: performance.now() and ordinary (ref'd) timers. A pending timer keeps the process
 * alive on purpose: a confirm-or-revert wait must not end early because nothing else is pending.
 */
export const realClock: Clock = {
  nowMs: () => performance.now(),
  setTimer(delayMs, fn) {
    const handle = setTimeout(fn, Math.max(0, delayMs));
    return () => clearTimeout(handle);
  },
};

interface PendingTimer {
  atMs: number;
  seq: number;
  fn: () => void;
}

/** A clock that moves only when told to. Timers fire in time order (ties in creation order) during advance(). */
export class FakeClock implements Clock {
  private now: number;
  private seq = 0;
  private timers: PendingTimer[] = [];

  constructor(startMs = 0) {
    this.now = startMs;
  }

  nowMs(): number {
    return this.now;
  }

  setTimer(delayMs: number, fn: () => void): CancelTimer {
    const timer: PendingTimer = { atMs: this.now + Math.max(0, delayMs), seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /** Number of timers not yet fired; tests assert 0 after stop() to prove nothing is left armed. */
  pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves time forward by ms, firing every timer that falls due on the way (including ones armed by timers). */
  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      const next = this.nextDue(target);
      if (!next) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.now = next.atMs;
      next.fn();
    }
    this.now = target;
  }

  private nextDue(limitMs: number): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const t of this.timers) {
      if (t.atMs > limitMs) continue;
      if (!best || t.atMs < best.atMs || (t.atMs === best.atMs && t.seq < best.seq)) best = t;
    }
    return best;
  }
}
