/**
 * The engine's birthday messages and the hard side's shared extra sockets (birthday-pool.ts): several
 * easy peers' attempts run at once against this node over one set of at most 256 sockets. What the
 * engine (engine.ts) hands over: `birthday` requests and "busy" answers, the loop's opened sockets, a
 * pong that may win an attempt, and every batch of actions before it leaves (`settle`: a socket is closed
 * only when no running attempt and no peer's path needs it).
 *
 * Attribution: a probe or pong arriving on a shared socket is the peer's whose discovery key sealed it
 * (the loop opens the box before the engine sees it) and whose pending ping it answers from that address
 * and socket; a socket's mapping towards one peer says nothing about another's.
 */
import type { NodeKeyHex, PathAction, SocketId } from '../paths/types.ts';
import { formatEndpoint } from '../wg/ports.ts';
import { BIRTHDAY_MAX_DURATION_MS, BIRTHDAY_MAX_SOCKETS, BIRTHDAY_WAIT_MS, cancelBusy, finish, hardReady, readyMessage, startHardSide, type BirthdayMessage } from './birthday.ts';
import { BIRTHDAY_MIN_SOCKETS, BirthdayPool, type PoolMember, type PoolSend } from './birthday-pool.ts';
import { dropSocketCandidates, pushEvent, type Candidate, type PeerState } from './peer-state.ts';
import type { EngineSelf, Rounds } from './rounds.ts';

export interface BirthdayPoolStatus {
  /** Extra sockets open now: the shared pool and the winners held by peers' paths. */
  open: number;
  pool: number;
  held: number;
  /** Hard-side attempts running now on the shared sockets. */
  running: number;
  peakOpen: number;
  peakShared: number;
}

export class BirthdayHardSide {
  readonly pool = new BirthdayPool();
  /** Easy peers told "busy" (the node's socket budget was held by tunnels); told "free" once it is not. */
  private readonly waiting = new Map<NodeKeyHex, BirthdayMessage>();

  constructor(
    private readonly peers: Map<NodeKeyHex, PeerState>,
    private readonly rounds: Rounds,
    private readonly self: EngineSelf,
    /** Candidates were added or removed (the engine's source index is stale). */
    private readonly candidatesChanged: () => void,
  ) {}

  /** A `birthday` message from a peer: a request (we are the hard side), or the hard side's busy/free answer. */
  onMessage(s: PeerState, m: BirthdayMessage, nowMs: number): PathAction[] {
    if (m.sockets === 0) return this.onBusy(s, m, nowMs);
    // A request always asks for probes; 0 probes is the hard side's "ready" for our attempt.
    return m.probes === 0 ? this.onReady(s, m, nowMs) : this.onRequest(s, m, nowMs);
  }

  /** Easy side: the hard side's sockets have pinged us; probe now (their mappings exist). */
  private onReady(s: PeerState, m: BirthdayMessage, nowMs: number): PathAction[] {
    const a = s.birthday.current;
    if (!a || a.role !== 'easy' || a.id !== m.attempt || !hardReady(a, nowMs)) return [];
    pushEvent(s, nowMs, `birthday attempt ${a.id}: the peer pings from ${m.sockets} sockets, probing`);
    this.rounds.planWake(s, nowMs);
    return [];
  }

  private onRequest(s: PeerState, m: BirthdayMessage, nowMs: number): PathAction[] {
    const easyAdvertised = [...s.cands.values()].some((c) => c.source !== 'peer-reflexive' && formatEndpoint(c.endpoint) === formatEndpoint(m.easy));
    const others = this.members(nowMs).filter((x) => x.peer !== s.peer.nodeKey);
    const a = startHardSide(s.birthday, m, this.self.mappingVariesByDest, easyAdvertised, nowMs);
    if (!a) {
      pushEvent(s, nowMs, `birthday request ${m.attempt} refused (we are not the hard side, the endpoint was not advertised, or within 5 min of the last attempt)`);
      return [];
    }
    const plan = this.pool.join({ peer: s.peer.nodeKey, attempt: a }, others.length, this.heldOutside().size, nowMs);
    if (plan.kind === 'busy') return this.refuseBusy(s, m, plan.room, nowMs);
    this.markShared(nowMs);
    this.rounds.planWake(s, nowMs);
    const shared = others.length ? `, sharing the extra sockets with ${others.length} other attempt(s)` : '';
    if (plan.kind === 'open') {
      pushEvent(s, nowMs, `birthday attempt ${a.id}: hard side, opening ${plan.count} sockets towards ${formatEndpoint(a.easy)}${shared}`);
      return [{ t: 'open-sockets', peer: s.peer.nodeKey, count: plan.count }];
    }
    if (plan.kind === 'wait') {
      pushEvent(s, nowMs, `birthday attempt ${a.id}: hard side, the shared extra sockets are being opened${shared}`);
      return [];
    }
    pushEvent(s, nowMs, `birthday attempt ${a.id}: hard side, pinging ${formatEndpoint(a.easy)} from ${plan.sends.length} open extra sockets${shared}`);
    return this.pings(plan.sends, nowMs);
  }

  /** The node's budget is held by earlier winners: "busy, retry after" (a birthday message with 0 sockets);
   * the peer voids its half without the 5 min back-off and asks again when told the sockets are free. */
  private refuseBusy(s: PeerState, m: BirthdayMessage, room: number, nowMs: number): PathAction[] {
    // Our half never ran: no attempt counted, no back-off (cancelBusy), and the hard side decides nothing.
    cancelBusy(s.birthday, nowMs);
    s.birthday.dueMs = undefined;
    pushEvent(s, nowMs, `birthday request ${m.attempt} refused: tunnels hold the extra sockets, ${room} of 256 free`);
    if (!s.peer.homeRelay) return [];
    this.waiting.set(s.peer.nodeKey, m);
    const message: BirthdayMessage = { ...m, sockets: 0, probes: 0, ratePerSec: 0, deadlineMs: BIRTHDAY_MAX_DURATION_MS };
    return [{ t: 'disco', peer: s.peer.nodeKey, via: { kind: 'tcp-relay', region: s.peer.homeRelay }, message }];
  }

  /** Easy side: the hard side is busy; cancel our attempt (it never really ran, so no back-off) and decide
   * again once its sockets are free. */
  private onBusy(s: PeerState, m: BirthdayMessage, nowMs: number): PathAction[] {
    const a = s.birthday.current;
    if (!a && m.deadlineMs === 0 && s.birthday.dueMs !== undefined && !s.best) {
      // "Free now": the sockets that held the peer's budget were let go; ask again at once.
      s.birthday.dueMs = nowMs;
      pushEvent(s, nowMs, 'birthday: the peer\'s sockets are free, asking again');
      this.rounds.planWake(s, nowMs);
      return [];
    }
    if (!a || a.role !== 'easy' || a.id !== m.attempt) return [];
    cancelBusy(s.birthday, nowMs + Math.min(m.deadlineMs, BIRTHDAY_MAX_DURATION_MS) + BIRTHDAY_WAIT_MS);
    for (const [tx, p] of s.pending) if (p.birthdayAttempt === a.id) s.pending.delete(tx);
    pushEvent(s, nowMs, `birthday attempt ${a.id} put off: the peer's sockets are busy for ${m.deadlineMs} ms (${a.probesSent} probes sent)`);
    this.rounds.planWake(s, nowMs);
    return [];
  }

  /** The loop opened extra sockets: into the pool, and every running attempt pings its easy peer from them. */
  onOpened(ids: SocketId[], nowMs: number): PathAction[] {
    const members = this.members(nowMs);
    const { sends, refuse } = this.pool.opened(ids, members, this.heldOutside().size);
    const out: PathAction[] = refuse.length ? [{ t: 'close-sockets', ids: refuse }] : [];
    for (const m of members) {
      const s = this.peers.get(m.peer)!;
      const mine = sends.filter((x) => x.peer === m.peer).length;
      if (mine) pushEvent(s, nowMs, `birthday attempt ${s.birthday.current!.id}: ${mine} extra sockets open, pinging ${formatEndpoint(m.attempt.easy)} from each`);
    }
    this.markShared(nowMs);
    return [...out, ...this.pings(sends, nowMs)];
  }

  /** A pong on an extra socket (hard side) or for a probe (easy side) ends that peer's attempt as won.
   * Hard side: the winner is kept for the peer's tunnel; the pool stays while other attempts run. */
  won(s: PeerState, c: Candidate, probeOf: number | undefined, nowMs: number): PathAction[] {
    const a = s.birthday.current;
    if (!a) return [];
    const hardWin = a.role === 'hard' && a.sockets.includes(c.socket);
    // Easy side: a pong for one of our probes, or for the ping-back we sent when one of the hard side's
    // sockets reached us first (its mapping existed before our probe hit that port). Either way the hard
    // address answered: stop probing (every further probe costs both NATs a session entry).
    const easyWin = a.role === 'easy' && c.socket === 0 && (probeOf === a.id || c.endpoint.address === a.hardAddress);
    if (!hardWin && !easyWin) return [];
    const winner = c.socket ? `${formatEndpoint(c.endpoint)} on socket ${c.socket}` : formatEndpoint(c.endpoint);
    finish(s.birthday, nowMs, winner);
    if (c.socket !== 0 && !s.keptSockets.includes(c.socket)) s.keptSockets.push(c.socket);
    for (const [tx, p] of s.pending) if (p.birthdayAttempt === a.id) s.pending.delete(tx);
    pushEvent(s, nowMs, `birthday attempt ${a.id} won by ${winner} after ${nowMs - a.startMs} ms`);
    // Its other sockets: closed by settle() unless another attempt still uses the pool.
    const losers = a.sockets.filter((id) => id !== c.socket);
    dropSocketCandidates(s, losers);
    return losers.length ? [{ t: 'close-sockets', ids: losers }] : [];
  }

  /**
   * Every batch of actions passes here before it leaves the engine: a pool no attempt uses any more is
   * released, and a socket is closed only when neither a running attempt (the pool) nor a peer's path
   * (a held winner) still needs it. Closed sockets leave every peer's candidates. Then peers told "busy"
   * are told "free" once a fresh pool would fit again.
   */
  settle(out: PathAction[], nowMs: number): PathAction[] {
    const running = this.members(nowMs).length > 0;
    if (!running && this.pool.sockets.length) out.push({ t: 'close-sockets', ids: this.pool.release() });
    const held = this.held();
    if (running) for (const id of this.pool.sockets) held.add(id);
    const closed = new Set<SocketId>();
    const res: PathAction[] = [];
    for (const x of out) {
      if (x.t !== 'close-sockets') {
        res.push(x);
        continue;
      }
      const ids = x.ids.filter((id) => id !== 0 && !held.has(id) && !closed.has(id));
      for (const id of ids) closed.add(id);
      if (ids.length) res.push({ t: 'close-sockets', ids });
    }
    if (closed.size) {
      this.pool.closed(closed);
      for (const s of this.peers.values()) dropSocketCandidates(s, [...closed]);
      this.candidatesChanged();
    }
    res.push(...this.notifyFree(nowMs, running));
    return res;
  }

  status(nowMs: number): BirthdayPoolStatus {
    const held = this.heldOutside().size;
    const running = this.members(nowMs).length;
    const pool = running ? this.pool.sockets.length : 0;
    return { open: pool + held, pool, held, running, peakOpen: this.pool.counters.peakOpen, peakShared: this.pool.counters.peakShared };
  }

  private notifyFree(nowMs: number, running: boolean): PathAction[] {
    if (this.waiting.size === 0) return [];
    if (!running && this.heldOutside().size > BIRTHDAY_MAX_SOCKETS - BIRTHDAY_MIN_SOCKETS) return [];
    const out: PathAction[] = [];
    for (const [key, m] of this.waiting) {
      const o = this.peers.get(key);
      if (o?.peer.homeRelay) out.push({ t: 'disco', peer: key, via: { kind: 'tcp-relay', region: o.peer.homeRelay }, message: { ...m, sockets: 0, probes: 0, ratePerSec: 0, deadlineMs: 0 } });
    }
    this.waiting.clear();
    void nowMs;
    return out;
  }

  /** The hard-side attempts running now (their deadline not passed). */
  private members(nowMs: number): PoolMember[] {
    const out: PoolMember[] = [];
    for (const s of this.peers.values()) {
      const a = s.birthday.current;
      if (a?.role === 'hard' && nowMs < a.endMs) out.push({ peer: s.peer.nodeKey, attempt: a });
    }
    return out;
  }

  private markShared(nowMs: number): void {
    const members = this.members(nowMs);
    for (const m of members) {
      const a = this.peers.get(m.peer)!.birthday.current!;
      a.concurrent = Math.max(a.concurrent, members.length);
    }
  }

  /** Extra sockets a peer's path holds (birthday winners carrying a tunnel). */
  private held(): Set<SocketId> {
    const ids = new Set<SocketId>();
    for (const s of this.peers.values()) {
      for (const id of s.keptSockets) ids.add(id);
      if (s.best && s.best.via.socket !== 0) ids.add(s.best.via.socket);
    }
    return ids;
  }

  private heldOutside(): Set<SocketId> {
    const ids = this.held();
    for (const id of this.pool.sockets) ids.delete(id);
    return ids;
  }

  private pings(sends: PoolSend[], nowMs: number): PathAction[] {
    const out: PathAction[] = [];
    const touched = new Set<PeerState>();
    for (const x of sends) {
      const s = this.peers.get(x.peer);
      const a = s?.birthday.current;
      if (!s || !a) continue;
      a.probesSent++;
      touched.add(s);
      out.push(this.rounds.pingEndpoint(s, x.to, x.socket, nowMs, a.id));
    }
    for (const s of touched) {
      this.rounds.planWake(s, nowMs);
      // After the pings (their mappings exist now): the easy side may probe.
      if (s.peer.homeRelay) out.push({ t: 'disco', peer: s.peer.nodeKey, via: { kind: 'tcp-relay', region: s.peer.homeRelay }, message: readyMessage(s.birthday.current!, nowMs) });
    }
    return out;
  }
}
