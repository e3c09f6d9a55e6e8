/**
 * The discovery engine (PathEngine, agent/src/paths/types.ts): pure, on `nowMs`, returning actions as
 * data. Every peer starts on its home relay; on first traffic the engine pings every candidate and sends
 * call-me-maybe through the relay in the same tick (coordinated punching, mesh facts); pongs measure RTT
 * and the best direct path is chosen by scoring.ts with hysteresis; trust, heartbeats and re-probes keep
 * it honest, and a lost path falls back to the relay and is found again within a minute.
 * Rounds and timers are in rounds.ts; the birthday attempt's pure part in birthday.ts; status and fallback views
 * in engine-views.ts.
 */
import type { DiscoKeyHex, NodeKeyHex, PathAction, PathEngine, PathPeer, PeerPathStatus, SocketId, Via } from '../paths/types.ts';
import { formatEndpoint, type Endpoint } from '../wg/ports.ts';
import { finish } from './birthday.ts';
import { BirthdayHardSide } from './birthday-hard.ts';
import {
  candidateKey, heardFrom, isSilent, isTrusted, lastRtt, probing, measured, newPeerState, noteNewAddress, pushEvent, recordOutcome, recordRtt, releaseSockets,
  noteSent, setCallMeMaybe, silenceWakeMs, syncMapCandidates,
  type Candidate, type PeerState,
} from './peer-state.ts';
import { bestAnswering, bestMeasured, closeAllExtra, peerPathStatus } from './engine-views.ts';
import { Rounds, type EngineSelf } from './rounds.ts';
import { shouldSwitch } from './scoring.ts';
import { PING_INTERVAL_MS, SEND_ERROR_HOLD_MS, TRUST_MS } from './timing.ts';
import type { DiscoMessage } from './types.ts';
import { clearWgBlock, markWgSilent, wgRelayOnly } from './wg-block.ts';

export interface DiscoEngineConfig {
  /** Our WireGuard public key (hex): pings carry it so the peer can tie our address to us. */
  nodeKey: NodeKeyHex;
}

export interface DiscoEngineDeps {
  /** Transaction ids, re-STUN jitter and birthday ports (injected: tests replay a seed). */
  randomBytes: (n: number) => Uint8Array;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class DiscoEngine implements PathEngine {
  private readonly peers = new Map<NodeKeyHex, PeerState>();
  private readonly byDisco = new Map<DiscoKeyHex, NodeKeyHex>();
  private readonly self: EngineSelf = { endpoints: [], mappingVariesByDest: undefined, udp: undefined };
  private readonly rounds: Rounds;
  /** Birthday messages and the hard side's extra sockets, shared by concurrent attempts. */
  private readonly birthday: BirthdayHardSide;
  private sourceIndex: Map<string, NodeKeyHex> | undefined;
  private ipsFinding: string | undefined;

  constructor(config: DiscoEngineConfig, deps: DiscoEngineDeps) {
    this.rounds = new Rounds(config.nodeKey, deps.randomBytes, this.self, () => (this.sourceIndex = undefined));
    this.birthday = new BirthdayHardSide(this.peers, this.rounds, this.self, () => (this.sourceIndex = undefined));
  }

  setPeers(peers: PathPeer[], nowMs: number): PathAction[] {
    const out: PathAction[] = [];
    const next = new Set(peers.map((p) => p.nodeKey));
    for (const [key, s] of this.peers) {
      if (next.has(key)) continue;
      out.push(...closeAllExtra(s));
      this.peers.delete(key);
    }
    this.byDisco.clear();
    for (const p of peers) {
      const s = this.peers.get(p.nodeKey);
      if (!s) this.peers.set(p.nodeKey, newPeerState(p));
      else {
        const relayBefore = s.peer.homeRelay;
        s.peer = p;
        syncMapCandidates(s);
        out.push(...this.mapCaughtUp(s, relayBefore, nowMs));
      }
      this.byDisco.set(p.discoKey, p.nodeKey);
    }
    this.sourceIndex = undefined;
    return this.birthday.settle(out, nowMs);
  }

  /**
   * The map brought an active, undecided peer what its first round lacked (traffic often starts the
   * moment an agent is up, before the map has the peer's endpoints or home relay): ping the new
   * candidates and send call-me-maybe through a newly known relay now, not at the next round 5 s later.
   */
  private mapCaughtUp(s: PeerState, relayBefore: string | null | undefined, nowMs: number): PathAction[] {
    if (s.best || !this.rounds.active(s, nowMs)) return [];
    const relayNew = !!s.peer.homeRelay && s.peer.homeRelay !== relayBefore;
    // pingAll without force pings only candidates not pinged in the last 5 s: the new ones.
    return [...this.rounds.pingAll(s, nowMs, false), ...(relayNew ? this.rounds.callMeMaybe(s, nowMs) : [])];
  }

  setSelf(self: EngineSelf, nowMs: number): PathAction[] {
    const changed = self.endpoints.map(formatEndpoint).sort().join() !== this.self.endpoints.map(formatEndpoint).sort().join();
    Object.assign(this.self, { endpoints: [...self.endpoints], mappingVariesByDest: self.mappingVariesByDest, udp: self.udp });
    this.rounds.stunDone(nowMs);
    if (!changed) return [];
    // New own candidates: tell every active peer at once, or it keeps pinging our old address.
    const out: PathAction[] = [];
    for (const s of this.peers.values()) if (this.rounds.active(s, nowMs)) out.push(...this.rounds.callMeMaybe(s, nowMs));
    return out;
  }

  onTraffic(peer: NodeKeyHex, nowMs: number): PathAction[] {
    const s = this.peers.get(peer);
    if (!s) return [];
    const wasActive = this.rounds.active(s, nowMs);
    s.lastTrafficMs = nowMs;
    noteSent(s, nowMs);
    if (wasActive) {
      // Sending after the last thing heard on the path arms the silence check (rounds.ts watchSilence). The
      // wake only moves earlier: a wake already due must not be pushed past by traffic arriving first.
      if (s.best) {
        // The silence check is due now (the path was already quiet when this send came): probe at once,
        // so this very packet gets its relay copy instead of waiting for the next timer tick.
        if ((silenceWakeMs(s) ?? Infinity) <= nowMs) return this.rounds.service(s, nowMs);
        const due = s.wakeMs;
        this.rounds.planWake(s, nowMs);
        if (due !== undefined && (s.wakeMs === undefined || due < s.wakeMs)) s.wakeMs = due;
      }
      return [];
    }
    if (!s.best) {
      s.discoStartMs = nowMs;
      // When the search began: `status` then tells how long the way to direct took from the first packet.
      pushEvent(s, nowMs, 'traffic to an idle peer: looking for a direct path');
    }
    return this.birthday.settle(this.rounds.service(s, nowMs), nowMs);
  }

  /** WireGuard data arrived on a direct path: the path in use is alive (no ping needed to know it). */
  onReceive(peer: NodeKeyHex, via: Via, nowMs: number): PathAction[] {
    const b = this.peers.get(peer)?.best;
    if (!b || via.kind !== 'direct' || via.socket !== b.via.socket || candidateKey(via.endpoint, via.socket) !== b.candKey) return [];
    b.heardMs = Math.max(b.heardMs, nowMs);
    // Data after an unanswered ping: the path answers, the ping was only lost (no relay copy for a lossy
    // path that carries a stream; the trust window itself still needs pongs).
    if (b.awaitingSinceMs !== undefined && nowMs > b.awaitingSinceMs) b.awaitingSinceMs = undefined;
    return [];
  }

  onDisco(from: DiscoKeyHex, m: DiscoMessage, via: Via, nowMs: number): PathAction[] {
    const key = this.byDisco.get(from);
    const s = key === undefined ? undefined : this.peers.get(key);
    if (!s) return [];
    // The peer speaks: whatever a relay said about it being gone is out of date.
    s.gone = undefined;
    const out = this.dispatch(s, m, via, nowMs);
    this.rounds.planWake(s, nowMs);
    return this.birthday.settle(out, nowMs);
  }

  private dispatch(s: PeerState, m: DiscoMessage, via: Via, nowMs: number): PathAction[] {
    switch (m.type) {
      case 'ping':
        return this.onPing(s, m, via, nowMs);
      case 'pong':
        return this.onPong(s, m.txId, via, nowMs);
      case 'call-me-maybe':
        return this.onCallMeMaybe(s, m, nowMs);
      case 'birthday':
        return this.birthday.onMessage(s, m, nowMs);
    }
  }

  /**
   * The loop opened the extra sockets an `open-sockets` action asked for (the hard side of a birthday
   * attempt): each pings the easy side's endpoint once, which opens one mapping in our NAT towards it.
   * Ids that arrive after the attempt ended are closed at once.
   */
  onSocketsOpened(peer: NodeKeyHex, ids: SocketId[], nowMs: number): PathAction[] {
    void peer; // the sockets are the node's pool: every running attempt gets them, not only the one that asked
    return this.birthday.settle(this.birthday.onOpened(ids, nowMs), nowMs);
  }

  onSendError(peer: NodeKeyHex, via: Via, nowMs: number): PathAction[] {
    const s = this.peers.get(peer);
    if (!s || via.kind !== 'direct') return [];
    const key = candidateKey(via.endpoint, via.socket);
    const c = s.cands.get(key);
    if (c) {
      c.failedUntilMs = nowMs + SEND_ERROR_HOLD_MS;
      recordOutcome(c, false);
    }
    for (const [tx, p] of s.pending) if (p.candKey === key) s.pending.delete(tx);
    if (s.best?.candKey !== key) {
      this.rounds.planWake(s, nowMs);
      return [];
    }
    // The path in use failed to send: fall through to the best other candidate that answered lately
    // (an IPv6 error lands on IPv4), else to the relay, and ping the rest in the same round.
    s.best = undefined;
    const next = bestAnswering(s, nowMs);
    const out: PathAction[] = [];
    if (next) {
      // Untrusted until its own pong: the relay carries a copy meanwhile (route returns both).
      out.push(...this.switchTo(s, next, nowMs, `send to ${formatEndpoint(via.endpoint)} failed`, false));
      out.push(this.rounds.ping(s, next, nowMs));
    } else {
      pushEvent(s, nowMs, `send to ${formatEndpoint(via.endpoint)} failed; on relay`);
      s.discoStartMs = nowMs;
    }
    out.push(...this.release(s), ...this.rounds.pingAll(s, nowMs, false));
    this.rounds.planWake(s, nowMs);
    return this.birthday.settle(out, nowMs);
  }

  onPeerGone(peer: NodeKeyHex, region: string, reason: 'disconnected' | 'not-here', nowMs: number): PathAction[] {
    const s = this.peers.get(peer);
    if (!s) return [];
    if (!s.gone) pushEvent(s, nowMs, `relay region ${region}: peer ${reason === 'not-here' ? 'not connected' : 'disconnected'}`);
    s.gone = { atMs: nowMs, region, reason };
    return [];
  }

  onWireGuardSilent(peer: NodeKeyHex, via: Via, nowMs: number): PathAction[] {
    const s = this.peers.get(peer);
    if (s && markWgSilent(s, via, nowMs)) this.rounds.planWake(s, nowMs);
    return [];
  }

  onWireGuardDirect(peer: NodeKeyHex, nowMs: number): PathAction[] {
    const s = this.peers.get(peer);
    if (s) clearWgBlock(s, nowMs);
    return [];
  }

  setIpsFinding(text: string | undefined): void {
    this.ipsFinding = text;
  }

  onLinkChange(nowMs: number): PathAction[] {
    const out: PathAction[] = [this.rounds.restun(nowMs)];
    for (const s of this.peers.values()) {
      out.push(...closeAllExtra(s));
      if (s.birthday.current) finish(s.birthday, nowMs, undefined);
      if (s.best) pushEvent(s, nowMs, 'link change: best path forgotten');
      s.best = undefined;
      s.pending.clear();
      for (const c of s.cands.values()) c.lastPingMs = undefined;
      s.lastRoundMs = undefined;
      s.discoStartMs = nowMs;
      if (this.rounds.active(s, nowMs)) out.push(...this.rounds.service(s, nowMs));
    }
    this.sourceIndex = undefined;
    return this.birthday.settle(out, nowMs);
  }

  tick(nowMs: number): PathAction[] {
    const out: PathAction[] = [];
    for (const s of this.peers.values()) {
      if (s.wakeMs !== undefined && s.wakeMs <= nowMs) out.push(...this.rounds.service(s, nowMs));
    }
    out.push(...this.rounds.restunIfDue(this.peers.values(), nowMs));
    return this.birthday.settle(out, nowMs);
  }

  nextWakeMs(): number | undefined {
    let min = this.rounds.nextRestunMs();
    for (const s of this.peers.values()) if (s.wakeMs !== undefined && (min === undefined || s.wakeMs < min)) min = s.wakeMs;
    return min;
  }

  route(peer: NodeKeyHex, nowMs: number): Via[] {
    const s = this.peers.get(peer);
    if (!s) return [];
    const relay: Via[] = s.peer.homeRelay ? [{ kind: 'tcp-relay', region: s.peer.homeRelay }] : [];
    if (!s.best) return relay;
    // WireGuard does not pass direct (wg-block.ts): relay only, then both until it is heard direct again.
    if (wgRelayOnly(s, nowMs) && relay.length) return relay;
    // A silent path being probed gets a relay copy of every packet until the probe's answer: a TCP
    // retransmission crosses the relay a second earlier than if it waited for the give-up.
    return isTrusted(s, nowMs) && !s.wgBlock && !(isSilent(s, nowMs) && probing(s)) ? [s.best.via] : [s.best.via, ...relay];
  }

  peerForSource(from: Endpoint, socket: SocketId): NodeKeyHex | undefined {
    if (!this.sourceIndex) {
      this.sourceIndex = new Map();
      for (const [key, s] of this.peers) for (const k of s.cands.keys()) this.sourceIndex.set(k, key);
    }
    return this.sourceIndex.get(candidateKey(from, socket));
  }

  status(peer: NodeKeyHex, nowMs: number): PeerPathStatus | undefined {
    const s = this.peers.get(peer);
    return s ? peerPathStatus(s, { ...this.self, ipsFinding: this.ipsFinding }, this.route(peer, nowMs), nowMs, this.birthday.status(nowMs)) : undefined;
  }

  private onPing(s: PeerState, m: Extract<DiscoMessage, { type: 'ping' }>, via: Via, nowMs: number): PathAction[] {
    // The disco key sealed it; the node key inside must be that peer's, or the address would be tied to
    // the wrong peer.
    if (m.nodeKey !== s.peer.nodeKey || via.kind !== 'direct') return [];
    const { cand, isNew } = heardFrom(s, via.endpoint, via.socket, nowMs);
    if (isNew) {
      this.sourceIndex = undefined;
      noteNewAddress(s, nowMs, `${formatEndpoint(via.endpoint)}${via.socket ? ` on socket ${via.socket}` : ''}`);
    }
    const out: PathAction[] = [{ t: 'disco', peer: s.peer.nodeKey, via, message: { type: 'pong', txId: m.txId, src: via.endpoint } }];
    // The path works inbound right now: ping back unless it is confirmed, so both sides get a pong in one
    // round trip instead of waiting for the next round. At most once per 5 s per candidate (no ping-pong).
    const confirmed = cand.lastPongMs !== undefined && nowMs - cand.lastPongMs < TRUST_MS;
    if (!confirmed && (cand.lastPingBackMs === undefined || nowMs - cand.lastPingBackMs >= PING_INTERVAL_MS)) {
      cand.lastPingBackMs = nowMs;
      out.push(this.rounds.ping(s, cand, nowMs));
    }
    return out;
  }

  private onPong(s: PeerState, txId: Uint8Array, via: Via, nowMs: number): PathAction[] {
    const tx = hex(txId);
    const p = s.pending.get(tx);
    // A pong counts only from the address and socket the ping went to (no path confusion by a NAT or an
    // on-path attacker reflecting it elsewhere).
    if (!p || via.kind !== 'direct' || via.socket !== p.socket || candidateKey(via.endpoint, via.socket) !== p.candKey) return [];
    s.pending.delete(tx);
    let c = s.cands.get(p.candKey);
    if (!c && p.birthdayAttempt !== undefined) {
      c = heardFrom(s, p.endpoint, p.socket, nowMs).cand;
      this.sourceIndex = undefined;
    }
    if (!c) return [];
    recordRtt(c, nowMs - p.sentMs);
    recordOutcome(c, true);
    c.lastPongMs = nowMs;
    c.failedUntilMs = undefined;
    const out: PathAction[] = [];
    if (s.best?.candKey === c.key) {
      s.best.trustUntilMs = nowMs + TRUST_MS;
      s.best.awaitingSinceMs = undefined;
      s.best.heardMs = Math.max(s.best.heardMs, nowMs);
      s.heartbeatsLostInRow = 0;
    } else if (!s.best || !isTrusted(s, nowMs) || shouldSwitch(measured(c)!, bestMeasured(s))) {
      out.push(...this.switchTo(s, c, nowMs, s.best ? 'better path' : 'first pong'));
    }
    out.push(...this.birthday.won(s, c, p.birthdayAttempt, nowMs));
    return out;
  }

  private onCallMeMaybe(s: PeerState, m: Extract<DiscoMessage, { type: 'call-me-maybe' }>, nowMs: number): PathAction[] {
    s.peerHardNat = m.hardNat;
    setCallMeMaybe(s, m.endpoints);
    this.sourceIndex = undefined;
    // Reset the ping timers and ping all at once: our pings must cross the peer's, which are on the way now.
    for (const c of s.cands.values()) c.lastPingMs = undefined;
    // Not a restart of the fast phase: two relayed peers would keep each other at 5 s rounds forever.
    if (!s.best) s.discoStartMs ??= nowMs;
    s.lastRoundMs = nowMs;
    const out = this.rounds.pingAll(s, nowMs, true);
    // Answer with our own candidates and NAT kind (once per 5 s), so the peer can decide on a birthday attempt.
    if (s.lastCmmSentMs === undefined || nowMs - s.lastCmmSentMs >= PING_INTERVAL_MS) out.push(...this.rounds.callMeMaybe(s, nowMs));
    this.rounds.scheduleBirthday(s, nowMs);
    out.push(...this.rounds.service(s, nowMs));
    return out;
  }

  private switchTo(s: PeerState, c: Candidate, nowMs: number, why: string, trusted = true): PathAction[] {
    // An untrusted fallback was last heard at its last pong: if we keep sending and it stays silent, it is
    // probed and given up like any path.
    const heardMs = trusted ? nowMs : (c.lastPongMs ?? nowMs);
    s.best = { candKey: c.key, via: { kind: 'direct', endpoint: c.endpoint, socket: c.socket }, sinceMs: nowMs, trustUntilMs: trusted ? nowMs + TRUST_MS : nowMs, heardMs };
    s.heartbeatsLostInRow = 0;
    s.lastHeartbeatMs = nowMs;
    s.lastFullProbeMs ??= nowMs;
    // A path over an extra socket keeps it open while it carries the peer, and lets it go when it moves.
    // Not only a win: another attempt may keep the shared sockets open after this peer's attempt ended,
    // and a late probe on one of them still makes a path.
    if (c.socket !== 0 && !s.keptSockets.includes(c.socket)) s.keptSockets.push(c.socket);
    pushEvent(s, nowMs, `${why}: direct via ${formatEndpoint(c.endpoint)}${c.socket ? ` (socket ${c.socket})` : ''}, rtt ${lastRtt(c)} ms`);
    return this.release(s);
  }

  /** Closes kept extra sockets no path uses any more (birthday sockets live only while they carry the peer). */
  private release(s: PeerState): PathAction[] {
    const ids = releaseSockets(s);
    if (ids.length === 0) return [];
    this.sourceIndex = undefined;
    return [{ t: 'close-sockets', ids }];
  }
}
