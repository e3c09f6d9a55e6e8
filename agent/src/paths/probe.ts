/**
 * `conegate ping`'s discovery pings: one sealed ping per Via the peer's packets take now, matched to the
 * pong by transaction id, so the answer says which path carried it (direct, UDP relay, TCP relay) and in
 * how long. Kept apart from the engine's own pings: these never change the path choice.
 */
import type { NodeKeyHex, Via } from './types.ts';

export interface ProbeResult {
  via: Via;
  rttMs: number;
}

interface Pending {
  peer: NodeKeyHex;
  sentMs: number;
  resolve: (r: ProbeResult | undefined) => void;
  cancel: () => void;
}

/** At most this many probes in flight (a loop of `conegate ping` cannot grow memory). */
const MAX_PENDING = 64;

export class PeerProbes {
  private readonly pending = new Map<string, Pending>();

  /** Registers a probe; `txHex` ids its pings. Resolves with the first pong, or undefined at `timeoutMs`. */
  start(peer: NodeKeyHex, txHex: string, nowMs: number, timeoutMs: number, setTimer: (ms: number, fn: () => void) => () => void): Promise<ProbeResult | undefined> {
    if (this.pending.size >= MAX_PENDING) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const cancel = setTimer(timeoutMs, () => {
        this.pending.delete(txHex);
        resolve(undefined);
      });
      this.pending.set(txHex, { peer, sentMs: nowMs, resolve, cancel });
    });
  }

  /** A pong arrived: true when it answered one of our probes (from the probed peer). */
  onPong(peer: NodeKeyHex, txHex: string, via: Via, nowMs: number): boolean {
    const p = this.pending.get(txHex);
    if (!p || p.peer !== peer) return false;
    this.pending.delete(txHex);
    p.cancel();
    p.resolve({ via, rttMs: nowMs - p.sentMs });
    return true;
  }

  close(): void {
    for (const p of this.pending.values()) {
      p.cancel();
      p.resolve(undefined);
    }
    this.pending.clear();
  }
}
