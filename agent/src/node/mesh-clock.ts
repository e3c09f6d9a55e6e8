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
 * sample is off by up to 0.5 s + the round trip. Offsets within `toleranceMs` of the current one are
 * ignored: a node with a good clock keeps offset 0, and the offset does not jitter with each answer.
 */
export interface MeshClockStatus {
  offsetMs: number;
  /** Local wall time of the last adjustment (null while the local clock was never corrected). */
  adjustedAt: number | null;
}

export class MeshClock {
  private offset = 0;
  private adjustedAt: number | null = null;

  constructor(
    private readonly localWallMs: () => number = Date.now,
    private readonly toleranceMs = 2_000,
  ) {}

  /** The mesh time: what signatures and discovery messages carry. */
  nowMs(): number {
    return this.localWallMs() + this.offset;
  }

  /** Local wall time, for measuring a request's send and receive. */
  localMs(): number {
    return this.localWallMs();
  }

  /**
   * One coordinator answer: its `Date` header and our local send and receive times. Returns true when
   * the offset changed (a request refused for clock skew is then worth one retry).
   */
  observe(dateHeader: string | undefined, sentLocalMs: number, receivedLocalMs: number): boolean {
    const estimate = offsetFromDate(dateHeader, sentLocalMs, receivedLocalMs);
    if (estimate === undefined || Math.abs(estimate - this.offset) <= this.toleranceMs) return false;
    this.offset = Math.round(estimate);
    this.adjustedAt = receivedLocalMs;
    return true;
  }

  status(): MeshClockStatus {
    return { offsetMs: Math.round(this.offset), adjustedAt: this.adjustedAt };
  }
}

/**
 * The offset (coordinator minus local) one answer suggests, or undefined for a missing or unparsable
 * header or impossible timing. The server's true time lies in [Date, Date + 1 s) at some instant between
 * our send and receive: take the middle of both ranges.
 */
export function offsetFromDate(dateHeader: string | undefined, sentLocalMs: number, receivedLocalMs: number): number | undefined {
  if (!dateHeader || dateHeader.length > 64) return undefined;
  const serverMs = Date.parse(dateHeader);
  if (!Number.isFinite(serverMs) || receivedLocalMs < sentLocalMs) return undefined;
  return serverMs + 500 - (sentLocalMs + receivedLocalMs) / 2;
}
