/**
 * Sliding replay window for transport counters (RFC 6479's ring of bitmap blocks, the shape
 * wireguard-go's replay filter uses). 256 blocks of 32 bits: the newest 8160 counters are tracked
 * (the protocol asks for at least 2000). Call it only after the packet authenticated, or a forged
 * counter could slide the window.
 */

const BLOCK_BITS = 32;
const RING_BLOCKS = 256;
const BLOCK_MASK = RING_BLOCKS - 1;
/** One block is always being refilled, so the usable window is one block short of the ring. */
export const REPLAY_WINDOW_SIZE = (RING_BLOCKS - 1) * BLOCK_BITS;

export class ReplayWindow {
  private readonly ring = new Uint32Array(RING_BLOCKS);
  /** Highest counter accepted so far (-1: none yet). */
  private last = -1;

  reset(): void {
    this.ring.fill(0);
    this.last = -1;
  }

  /** True if `counter` is new and below `limit`; marks it seen. */
  accept(counter: number, limit: number): boolean {
    if (!(counter < limit) || counter < 0) return false;
    let block = Math.floor(counter / BLOCK_BITS);
    if (counter > this.last) {
      const current = this.last < 0 ? -1 : Math.floor(this.last / BLOCK_BITS);
      const advance = Math.min(block - current, RING_BLOCKS);
      for (let i = 1; i <= advance; i++) this.ring[(current + i) & BLOCK_MASK] = 0;
      this.last = counter;
    } else if (this.last - counter > REPLAY_WINDOW_SIZE) {
      return false;
    }
    block &= BLOCK_MASK;
    const bit = 1 << (counter % BLOCK_BITS);
    const old = this.ring[block]!;
    if (old & bit) return false;
    this.ring[block] = old | bit;
    return true;
  }
}
