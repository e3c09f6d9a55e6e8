/**
 * Packets for a peer with no route yet (no relay, no pong), held until the engine has one. Without a
 * relay, the WireGuard handshake would otherwise wait for its own 5 s retransmission after discovery found
 * the path (a subnet route moving to another router took 5 s longer). Bounded per peer: at most HOLD_MAX
 * packets (the oldest dropped), HOLD_MS old at most.
 */
import type { Via } from './types.ts';

export const HOLD_MS = 3000;
export const HOLD_MAX = 16;

export class HeldPackets<P> {
  private readonly held = new Map<P, { atMs: number; packets: Uint8Array[] }>();

  get size(): number {
    return this.held.size;
  }

  hold(peer: P, packets: Uint8Array | Uint8Array[], nowMs: number): void {
    let h = this.held.get(peer);
    if (!h || nowMs - h.atMs > HOLD_MS) this.held.set(peer, (h = { atMs: nowMs, packets: [] }));
    // Copies: the device may reuse its buffers once send returns.
    for (const p of Array.isArray(packets) ? packets : [packets]) h.packets.push(Uint8Array.from(p));
    if (h.packets.length > HOLD_MAX) h.packets.splice(0, h.packets.length - HOLD_MAX);
  }

  /**
   * The held packets of every peer that has a route now (`route` returns its Vias, or undefined for a
   * peer that is gone); stale holds and gone peers are dropped, peers still without a route stay held.
   */
  release(nowMs: number, route: (peer: P) => Via[] | undefined): { peer: P; packets: Uint8Array[]; vias: Via[] }[] {
    const out: { peer: P; packets: Uint8Array[]; vias: Via[] }[] = [];
    for (const [peer, h] of this.held) {
      const vias = nowMs - h.atMs > HOLD_MS ? undefined : route(peer);
      if (vias === undefined) {
        this.held.delete(peer);
        continue;
      }
      if (vias.length === 0) continue;
      this.held.delete(peer);
      out.push({ peer, packets: h.packets, vias });
    }
    return out;
  }

  clear(): void {
    this.held.clear();
  }
}
