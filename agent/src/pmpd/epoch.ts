/**
 * Seconds since start of epoch (RFC 6886 3.6, RFC 6887 8.5). Clients compare successive values with
 * their own elapsed time; a value that goes back means "the gateway lost your mappings, re-create
 * them". So the epoch restarts exactly when the table is lost: restart without state, a crash, a
 * firewall flush, a WAN address change; and continues across a clean restart (baseSec).
 */
export class Epoch {
  private startMs: number;
  private baseSec: number;

  /** startMs: monotonic time the epoch (re)started; baseSec: epoch seconds already elapsed at that time. */
  constructor(startMs: number, baseSec = 0) {
    this.startMs = startMs;
    this.baseSec = baseSec;
  }

  /** The SSSoE field value at nowMs (a 32-bit counter; it wraps after 136 years, which the RFCs accept). */
  sec(nowMs: number): number {
    const s = this.baseSec + Math.floor(Math.max(0, nowMs - this.startMs) / 1000);
    return s % 0x100000000;
  }

  /** Starts a new epoch at nowMs: SSSoE drops to 0, which every client notices. */
  reset(nowMs: number): void {
    this.startMs = nowMs;
    this.baseSec = 0;
  }
}
