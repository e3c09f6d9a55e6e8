/**
 * When a data-plane thread (the TUN writer, the UDP sender) is worth running. Each is a worker thread
 * with a V8 isolate of its own, ~10-12 MB resident, which an idle router pays for nothing: an agent
 * with 100 quiet peers sends a keepalive now and then, which the calling thread writes in microseconds.
 * So the thread starts only when packets come fast (a window holding `startPackets`), and stops after
 * `idleStopMs` without a packet through its ring (issue 16: idle RSS < 80 MB). Pure: times are passed in.
 */

export interface DemandPolicy {
  /** Packets written on the calling thread within one window that start the thread. */
  startPackets: number;
  windowMs: number;
  /** A running thread that saw no packet for this long is stopped and its memory returned. */
  idleStopMs: number;
}

/**
 * 256 packets in 100 ms (2,560/s, ~30 Mbit/s of full-size packets): far above keepalives, handshakes
 * and STUN, where the thread pays off (the write path was ~20-35% of a busy main thread). A bulk
 * transfer reaches it within its first milliseconds. 30 s idle: a pause in a transfer keeps the thread.
 */
export const DEFAULT_DEMAND: DemandPolicy = { startPackets: 256, windowMs: 100, idleStopMs: 30_000 };

export class DemandMeter {
  private windowStartMs = Number.NEGATIVE_INFINITY;
  private inWindow = 0;

  constructor(readonly policy: DemandPolicy = DEFAULT_DEMAND) {}

  /** Counts `n` packets written on the calling thread at `nowMs`; true when the thread should start. */
  note(nowMs: number, n = 1): boolean {
    if (nowMs - this.windowStartMs >= this.policy.windowMs) {
      this.windowStartMs = nowMs;
      this.inWindow = 0;
    }
    this.inWindow += n;
    return this.inWindow >= this.policy.startPackets;
  }

  /** Forgets the current window (after the thread started or stopped). */
  reset(): void {
    this.windowStartMs = Number.NEGATIVE_INFINITY;
    this.inWindow = 0;
  }
}

/**
 * Idle check of a running thread, from its ring's head counter (which grows by one per packet): the
 * caller samples it every `idleStopMs`; an unchanged head means a whole period without a packet.
 */
export function idleSince(previousHead: number | undefined, head: number): boolean {
  return previousHead !== undefined && previousHead === head;
}
