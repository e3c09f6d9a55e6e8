/**
 * The engine's `open-sockets` action, performed: the hard side of a birthday attempt opens its extra
 * sockets at once through the SocketSet and reports them to the engine (PathEngine.onSocketsOpened),
 * whose answer (one ping from each socket to the easy endpoint, or close-sockets when the attempt is
 * already over) goes back to the loop. The path router takes `open` as its `onOpenSockets`; without it
 * the engine never learns the sockets' ids and never pings from them.
 * Bounded: at most 256 sockets per request (BIRTHDAY_LIMITS) and one opening in flight per peer; after
 * close(), sockets that arrive late are closed and the engine is not called.
 */
import type { Clock } from '../clock/clock.ts';
import { BIRTHDAY_LIMITS } from './birthday-plan.ts';
import type { NodeKeyHex, PathAction, PathEngine, SocketSet } from './types.ts';

export interface BirthdayOpenerDeps {
  sockets: SocketSet;
  engine: PathEngine;
  clock: Clock;
  /** Performs the engine's answer (the router's loop.run). */
  run: (actions: PathAction[]) => void;
}

/** The last opening per peer, for status and the bench: how many asked, how many the OS gave, how long it took. */
export interface OpenReport {
  requested: number;
  opened: number;
  openMs: number;
  atMs: number;
}

export class BirthdayOpener {
  private readonly inFlight = new Set<NodeKeyHex>();
  private closed = false;
  readonly last = new Map<NodeKeyHex, OpenReport>();
  /** Requests ignored because one was already in flight for the peer, or the opener was closed. */
  ignored = 0;

  constructor(private readonly deps: BirthdayOpenerDeps) {}

  open(peer: NodeKeyHex, count: number): void {
    if (this.closed || this.inFlight.has(peer)) {
      this.ignored++;
      return;
    }
    const want = Math.max(0, Math.min(Math.floor(count) || 0, BIRTHDAY_LIMITS.maxSockets));
    const t0 = this.deps.clock.nowMs();
    this.inFlight.add(peer);
    this.deps.sockets.openExtra(want).then(
      (ids) => {
        this.inFlight.delete(peer);
        if (this.closed) return this.deps.sockets.closeExtra(ids);
        const now = this.deps.clock.nowMs();
        this.last.set(peer, { requested: want, opened: ids.length, openMs: now - t0, atMs: now });
        this.deps.run(this.deps.engine.onSocketsOpened(peer, ids, now));
      },
      // The set resolves with fewer sockets rather than failing; if it throws anyway, the engine hears
      // "none opened" so the attempt ends instead of waiting for sockets that never come.
      () => {
        this.inFlight.delete(peer);
        if (!this.closed) this.deps.run(this.deps.engine.onSocketsOpened(peer, [], this.deps.clock.nowMs()));
      },
    );
  }

  close(): void {
    this.closed = true;
  }
}
