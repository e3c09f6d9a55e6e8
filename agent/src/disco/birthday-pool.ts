/**
 * The hard side's extra sockets, shared by every birthday attempt running on the node (issue 18). A NAT
 * that maps per destination gives one socket a separate mapping towards each destination, so one set of
 * n sockets serves several easy peers at once: each socket pings every easy peer being attempted, and
 * each peer's probes find n mappings of their own. Without sharing, a hard node met by three easy peers
 * at once ran their attempts one after the other (p95 7.4 s to direct in the NAT matrix, against 3.7 s
 * for a pair alone).
 *
 * Budget: at most BIRTHDAY_MAX_SOCKETS extra sockets on the node in total, whatever the number of
 * attempts: the pool plus the winners of earlier attempts that still carry their peer's tunnel ("held").
 * A fresh pool is opened with what the held sockets leave; an attempt that starts while the pool is in
 * use joins it (no new sockets). Refused ("busy") only when no pool runs and the held sockets leave less
 * than BIRTHDAY_MIN_SOCKETS.
 *
 * Pure: which socket sends a ping to which peer's endpoint, and when (at join for a pool already open,
 * at open for the attempts already running); the engine turns the sends into pings (birthday-hard.ts).
 */
import type { NodeKeyHex, SocketId } from '../paths/types.ts';
import type { Endpoint } from '../wg/ports.ts';
import { BIRTHDAY_MAX_DURATION_MS, BIRTHDAY_MAX_SOCKETS, type BirthdayAttempt } from './birthday.ts';

/** Below this many free sockets a fresh pool is not worth a pair's 5 min back-off: 64 sockets and 1,024
 * probes give 64% against 98% with 256. */
export const BIRTHDAY_MIN_SOCKETS = 64;

/** A running hard-side attempt as the pool sees it (the attempt's `sockets` grow as the pool serves it). */
export interface PoolMember {
  peer: NodeKeyHex;
  attempt: Pick<BirthdayAttempt, 'easy' | 'sockets' | 'socketsRequested'>;
}

/** One ping from an extra socket to an easy peer's endpoint (one mapping in the hard NAT towards it). */
export interface PoolSend {
  peer: NodeKeyHex;
  socket: SocketId;
  to: Endpoint;
}

export type JoinPlan =
  | { kind: 'busy'; room: number }
  | { kind: 'open'; count: number }
  /** The pool is being opened for another attempt: this one is served when the sockets arrive. */
  | { kind: 'wait' }
  | { kind: 'join'; sends: PoolSend[] };

export interface PoolCounters {
  /** open-sockets asked for. */
  openings: number;
  /** Sockets taken into the pool, and sockets given back because no attempt wanted them. */
  opened: number;
  refused: number;
  /** The most extra sockets open at once (pool + held). */
  peakOpen: number;
  /** The most attempts sharing the pool at once. */
  peakShared: number;
  busy: number;
}

export class BirthdayPool {
  private ids: SocketId[] = [];
  private openingAtMs: number | undefined;
  readonly counters: PoolCounters = { openings: 0, opened: 0, refused: 0, peakOpen: 0, peakShared: 0, busy: 0 };

  get sockets(): readonly SocketId[] {
    return this.ids;
  }

  has(id: SocketId): boolean {
    return this.ids.includes(id);
  }

  /**
   * An attempt starts. `others`: the attempts already running (they share the pool); `held`: extra sockets
   * outside the pool that carry a peer's tunnel.
   */
  join(m: PoolMember, others: number, held: number, nowMs: number): JoinPlan {
    if (others === 0) this.ids = []; // a pool no attempt uses is released (its held winners stay open, counted in `held`)
    this.counters.peakShared = Math.max(this.counters.peakShared, others + 1);
    if (others > 0 && this.ids.length > 0) {
      const take = this.ids.slice(0, m.attempt.socketsRequested);
      m.attempt.sockets.push(...take);
      return { kind: 'join', sends: take.map((socket) => ({ peer: m.peer, socket, to: m.attempt.easy })) };
    }
    if (others > 0 && this.opening(nowMs)) return { kind: 'wait' };
    const room = BIRTHDAY_MAX_SOCKETS - held - this.ids.length;
    if (room < Math.min(m.attempt.socketsRequested, BIRTHDAY_MIN_SOCKETS)) {
      this.counters.busy++;
      return { kind: 'busy', room };
    }
    this.openingAtMs = nowMs;
    this.counters.openings++;
    return { kind: 'open', count: Math.min(m.attempt.socketsRequested, room) };
  }

  /**
   * The loop opened sockets: they join the pool (within the node's budget) and each running attempt is
   * served up to what it asked for; the rest (no attempt left, over budget, duplicates) are given back.
   */
  opened(ids: SocketId[], members: PoolMember[], held: number): { sends: PoolSend[]; refuse: SocketId[] } {
    this.openingAtMs = undefined;
    const fresh = [...new Set(ids)].filter((id) => id !== 0 && !this.ids.includes(id));
    const room = members.length === 0 ? 0 : Math.max(0, BIRTHDAY_MAX_SOCKETS - held - this.ids.length);
    const take = fresh.slice(0, room);
    const refuse = [...ids.filter((id) => !take.includes(id))];
    this.ids.push(...take);
    this.counters.opened += take.length;
    this.counters.refused += refuse.length;
    this.counters.peakOpen = Math.max(this.counters.peakOpen, this.ids.length + held);
    this.counters.peakShared = Math.max(this.counters.peakShared, members.length);
    const sends: PoolSend[] = [];
    for (const m of members) {
      const mine = take.slice(0, Math.max(0, m.attempt.socketsRequested - m.attempt.sockets.length));
      m.attempt.sockets.push(...mine);
      for (const socket of mine) sends.push({ peer: m.peer, socket, to: m.attempt.easy });
    }
    return { sends, refuse };
  }

  /** No attempt runs any more: every pool socket is to be closed (the caller keeps those a tunnel holds). */
  release(): SocketId[] {
    const ids = this.ids;
    this.ids = [];
    return ids;
  }

  /** Sockets closed by the engine leave the pool. */
  closed(ids: Iterable<SocketId>): void {
    const gone = new Set(ids);
    if (gone.size) this.ids = this.ids.filter((id) => !gone.has(id));
  }

  /** An opening is in flight (its sockets have not arrived). One whose answer never came is forgotten
   * after an attempt's length, so a lost answer cannot keep later attempts waiting. */
  private opening(nowMs: number): boolean {
    return this.openingAtMs !== undefined && nowMs - this.openingAtMs < BIRTHDAY_MAX_DURATION_MS;
  }
}
