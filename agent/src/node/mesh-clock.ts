/**
 * The mesh's shared wall clock. Signed coordinator requests carry the node's wall-clock time (the
 * coordinator refuses more than 5 min of skew) and sealed discovery messages carry it too (peers refuse
 * more than 30 s). Routers are the machines most likely to have a wrong clock: many boot without a
 * battery-backed clock and start the agent before NTP has synchronised. With its own clock such a router
 * could neither register nor punch a hole. So a node keeps an offset to the coordinator's clock, learnt
 * from the HTTP `Date` header of each coordinator answer (the connection is pinned TLS, so only the
 * coordinator sets it), and stamps everything it signs or seals with local time + offset. Every node of
 * the mesh then speaks the coordinator's time, whatever its own clock says.
 *
 * `Date` has one-second resolution and is written some time between our send and our receive, so one
 * sample is off by up to 0.5 s + the round trip. A correction within `toleranceMs` of the current mesh
 * time is ignored: a node with a good clock keeps its own, and the mesh time does not jitter per answer.
 * Once corrected, the mesh time runs on the monotonic clock (anchored to the coordinator's time), so a
 * later step of the local clock (NTP catching up) does not move it; the next answers keep it in line.
 */
export interface MeshClockStatus {
  /** Mesh time minus the local wall clock now (0 while never corrected). */
  offsetMs: number;
  /** Local wall time of the last correction (null while never corrected). */
  adjustedAt: number | null;
  corrections: number;
}

export class MeshClock {
  /** Mesh time minus monotonic time, once corrected. */
  private anchor: number | undefined;
  private adjustedAt: number | null = null;
  private corrections = 0;

  constructor(
    private readonly localWallMs: () => number = Date.now,
    readonly monoMs: () => number = () => performance.now(),
    private readonly toleranceMs = 2_000,
  ) {}

  /** The mesh time, integer ms: what signatures and discovery messages carry. */
  nowMs(): number {
    return this.meshAt(this.monoMs());
  }

  /**
   * One coordinator answer: its `Date` header and our monotonic send and receive times. Returns true when
   * the mesh time was corrected (a request refused for clock skew is then worth one retry).
   */
  observe(dateHeader: string | undefined, sentMonoMs: number, receivedMonoMs: number): boolean {
    const anchor = anchorFromDate(dateHeader, sentMonoMs, receivedMonoMs);
    if (anchor === undefined) return false;
    const mid = (sentMonoMs + receivedMonoMs) / 2;
    if (Math.abs(mid + anchor - this.meshAt(mid)) <= this.toleranceMs) return false;
    this.anchor = anchor;
    this.adjustedAt = this.localWallMs();
    this.corrections++;
    return true;
  }

  status(): MeshClockStatus {
    return { offsetMs: this.anchor === undefined ? 0 : this.nowMs() - Math.floor(this.localWallMs()), adjustedAt: this.adjustedAt, corrections: this.corrections };
  }

  private meshAt(mono: number): number {
    if (this.anchor !== undefined) return Math.floor(mono + this.anchor);
    return Math.floor(this.localWallMs() - (this.monoMs() - mono));
  }
}

/**
 * The anchor (coordinator time minus monotonic time) one answer suggests, or undefined for a missing or
 * unparsable header or impossible timing. The server's true time lies in [Date, Date + 1 s) at some
 * instant between our send and receive: take the middle of both ranges.
 */
export function anchorFromDate(dateHeader: string | undefined, sentMonoMs: number, receivedMonoMs: number): number | undefined {
  if (!dateHeader || dateHeader.length > 64) return undefined;
  const serverMs = Date.parse(dateHeader);
  if (!Number.isFinite(serverMs) || receivedMonoMs < sentMonoMs) return undefined;
  return Math.round(serverMs + 500 - (sentMonoMs + receivedMonoMs) / 2);
}
