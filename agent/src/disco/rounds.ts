/**
 * The engine's timed work per peer: discovery rounds (ping every candidate + call-me-maybe through the
 * relay), heartbeats on the path in use, re-probes, ping timeouts and loss, the birthday attempt's pacing
 * and deadline, and re-STUN while active. `service(peer, nowMs)` does what is due and plans the next wake.
 */
import type { NodeKeyHex, PathAction, SocketId } from '../paths/types.ts';
import { formatEndpoint, type Endpoint } from '../wg/ports.ts';
import { birthdayVerdict, BIRTHDAY_HEARD_MS, BIRTHDAY_WAIT_MS, finish, nextProbeMs, probesDue, randomPort, recordProbe, startEasySide } from './birthday.ts';
import { MAX_CMM_ENDPOINTS } from './codec.ts';
import {
  candidateKey, dropSocketCandidates, expireCandidates, isDead, isSilent, isTrusted, lastRtt, probing, pushEvent, recordOutcome, releaseSockets,
  silenceWakeMs, trustEndsMs,
  type Candidate, type PeerState,
} from './peer-state.ts';
import { classifyAddress } from './scoring.ts';
import {
  ACTIVE_MS, HEARTBEAT_MS, LOST_PINGS_TO_DROP, PEER_REFLEXIVE_TTL_MS, PING_INTERVAL_MS, PING_TIMEOUT_MS, RELAYED_FAST_PHASE_MS, RELAYED_ROUND_FAST_MS,
  RELAYED_ROUND_SLOW_MS, REPROBE_MS, REPROBE_SKIP_RTT_MS, RESTUN_JITTER_MS, RESTUN_MIN_MS, SILENCE_PROBE_PINGS, STUN_STALE_MS,
} from './timing.ts';

export interface EngineSelf {
  endpoints: Endpoint[];
  mappingVariesByDest: boolean | undefined;
  udp: boolean | undefined;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class Rounds {
  private lastStunMs: number | undefined;
  private stunAskedMs: number | undefined;
  private restunAtMs: number | undefined;

  constructor(
    private readonly nodeKey: NodeKeyHex,
    private readonly randomBytes: (n: number) => Uint8Array,
    private readonly self: EngineSelf,
    /** Candidates were added or removed (the engine's source index is stale). */
    private readonly candidatesChanged: () => void,
  ) {}

  active(s: PeerState, nowMs: number): boolean {
    return s.lastTrafficMs !== undefined && nowMs - s.lastTrafficMs < ACTIVE_MS;
  }

  service(s: PeerState, nowMs: number): PathAction[] {
    const out: PathAction[] = [];
    out.push(...this.expirePending(s, nowMs));
    const probes = this.watchSilence(s, nowMs);
    out.push(...probes);
    if (expireCandidates(s, nowMs)) this.candidatesChanged();
    const released = releaseSockets(s);
    if (released.length) {
      this.candidatesChanged();
      out.push({ t: 'close-sockets', ids: released });
    }
    out.push(...this.birthdayStep(s, nowMs));
    if (this.active(s, nowMs)) {
      if (isTrusted(s, nowMs)) {
        const best = s.cands.get(s.best!.candKey);
        if (best && probes.length === 0 && nowMs - (s.lastHeartbeatMs ?? -Infinity) >= HEARTBEAT_MS) {
          s.lastHeartbeatMs = nowMs;
          out.push(this.ping(s, best, nowMs));
        }
        if (this.reprobeDue(s, nowMs)) {
          s.lastFullProbeMs = nowMs;
          out.push(...this.pingAll(s, nowMs, false));
        }
      } else if (s.lastRoundMs === undefined || nowMs - s.lastRoundMs >= this.roundInterval(s, nowMs)) {
        out.push(...this.round(s, nowMs));
      }
    }
    this.planWake(s, nowMs);
    return out;
  }

  /** Pings every candidate not pinged in the last 5 s (all of them when `force`: call-me-maybe, link change). */
  pingAll(s: PeerState, nowMs: number, force: boolean): PathAction[] {
    const out: PathAction[] = [];
    for (const c of s.cands.values()) {
      if ((c.failedUntilMs ?? -Infinity) > nowMs) continue;
      if (!force && c.lastPingMs !== undefined && nowMs - c.lastPingMs < PING_INTERVAL_MS) continue;
      out.push(this.ping(s, c, nowMs));
    }
    return out;
  }

  ping(s: PeerState, c: Candidate, nowMs: number): PathAction {
    c.lastPingMs = nowMs;
    if (s.best?.candKey === c.key) {
      s.best.awaitingSinceMs ??= nowMs;
      if (!probing(s)) s.best.probeMs = nowMs;
    }
    return this.pingEndpoint(s, c.endpoint, c.socket, nowMs);
  }

  pingEndpoint(s: PeerState, endpoint: Endpoint, socket: SocketId, nowMs: number, birthdayAttempt?: number): PathAction {
    const txId = this.randomBytes(12);
    s.pending.set(hex(txId), { candKey: candidateKey(endpoint, socket), endpoint, socket, sentMs: nowMs, ...(birthdayAttempt !== undefined ? { birthdayAttempt } : {}) });
    return { t: 'disco', peer: s.peer.nodeKey, via: { kind: 'direct', endpoint, socket }, message: { type: 'ping', txId, nodeKey: this.nodeKey } };
  }

  /** Our candidates and NAT kind, through the peer's home relay (the only path known to work). */
  callMeMaybe(s: PeerState, nowMs: number): PathAction[] {
    if (!s.peer.homeRelay) return [];
    s.lastCmmSentMs = nowMs;
    const message = { type: 'call-me-maybe' as const, endpoints: this.self.endpoints.slice(0, MAX_CMM_ENDPOINTS), hardNat: this.self.mappingVariesByDest === true };
    return [{ t: 'disco', peer: s.peer.nodeKey, via: { kind: 'tcp-relay', region: s.peer.homeRelay }, message }];
  }

  /** The easy side decides on a birthday attempt shortly after the hard side's call-me-maybe. */
  scheduleBirthday(s: PeerState, nowMs: number): void {
    const st = s.birthday;
    if (this.self.mappingVariesByDest === false && s.peerHardNat === true && !s.best && !st.current && st.dueMs === undefined) {
      st.dueMs = nowMs + BIRTHDAY_WAIT_MS;
      this.planWake(s, nowMs);
    }
  }

  restun(nowMs: number): PathAction {
    this.stunAskedMs = nowMs;
    return { t: 're-stun' };
  }

  stunDone(nowMs: number): void {
    this.lastStunMs = nowMs;
  }

  /** Re-STUN every 20-26 s while any peer is active (NAT UDP timeouts are often 30 s). */
  restunIfDue(peers: Iterable<PeerState>, nowMs: number): PathAction[] {
    let anyActive = false;
    for (const s of peers) if (this.active(s, nowMs)) anyActive = true;
    if (!anyActive) {
      this.restunAtMs = undefined;
      return [];
    }
    if (this.restunAtMs === undefined) {
      this.restunAtMs = nowMs + this.restunInterval();
      return [];
    }
    if (nowMs < this.restunAtMs) return [];
    this.restunAtMs = nowMs + this.restunInterval();
    return [this.restun(nowMs)];
  }

  nextRestunMs(): number | undefined {
    return this.restunAtMs;
  }

  planWake(s: PeerState, nowMs: number): void {
    const times: number[] = [];
    for (const p of s.pending.values()) times.push(p.sentMs + PING_TIMEOUT_MS);
    const a = s.birthday.current;
    if (a) {
      times.push(a.endMs);
      const np = nextProbeMs(a);
      if (np !== undefined) times.push(np);
    }
    if (s.birthday.dueMs !== undefined) times.push(s.birthday.dueMs);
    for (const c of s.cands.values()) {
      if (c.source === 'peer-reflexive') times.push(Math.max(c.lastHeardMs ?? -Infinity, c.lastPongMs ?? -Infinity) + PEER_REFLEXIVE_TTL_MS);
    }
    if (this.active(s, nowMs)) {
      const silence = silenceWakeMs(s);
      if (silence !== undefined) times.push(probing(s) ? silence : Math.max(silence, (s.lastSilenceProbeMs ?? -Infinity) + HEARTBEAT_MS));
      if (isTrusted(s, nowMs)) {
        times.push((s.lastHeartbeatMs ?? nowMs) + HEARTBEAT_MS, trustEndsMs(s)!);
        if (this.reprobeWanted(s)) times.push((s.lastFullProbeMs ?? nowMs) + REPROBE_MS);
      } else {
        times.push(s.lastRoundMs === undefined ? nowMs : s.lastRoundMs + this.roundInterval(s, nowMs));
      }
      // Wake when the peer goes idle too, so re-STUN and heartbeats stop on time.
      times.push(s.lastTrafficMs! + ACTIVE_MS);
    }
    s.wakeMs = times.length ? Math.max(nowMs + 1, Math.min(...times)) : undefined;
    if (this.restunAtMs === undefined && this.active(s, nowMs)) this.restunAtMs = nowMs + this.restunInterval();
  }

  private round(s: PeerState, nowMs: number): PathAction[] {
    s.lastRoundMs = nowMs;
    s.lastFullProbeMs = nowMs;
    const out: PathAction[] = [];
    const stunStale = this.lastStunMs === undefined || nowMs - this.lastStunMs > STUN_STALE_MS;
    if (stunStale && (this.stunAskedMs === undefined || nowMs - this.stunAskedMs >= PING_INTERVAL_MS)) out.push(this.restun(nowMs));
    out.push(...this.pingAll(s, nowMs, false), ...this.callMeMaybe(s, nowMs));
    return out;
  }

  private roundInterval(s: PeerState, nowMs: number): number {
    if (s.best) return PING_INTERVAL_MS;
    const fast = s.discoStartMs !== undefined && nowMs - s.discoStartMs < RELAYED_FAST_PHASE_MS;
    return fast ? RELAYED_ROUND_FAST_MS : RELAYED_ROUND_SLOW_MS;
  }

  private reprobeWanted(s: PeerState): boolean {
    const best = s.best ? s.cands.get(s.best.candKey) : undefined;
    const rtt = best ? lastRtt(best) : undefined;
    return rtt === undefined || rtt > REPROBE_SKIP_RTT_MS;
  }

  private reprobeDue(s: PeerState, nowMs: number): boolean {
    return this.reprobeWanted(s) && nowMs - (s.lastFullProbeMs ?? nowMs) >= REPROBE_MS;
  }

  private restunInterval(): number {
    const b = this.randomBytes(2);
    return RESTUN_MIN_MS + Math.floor((((b[0]! << 8) | b[1]!) / 0x10000) * RESTUN_JITTER_MS);
  }

  /**
   * "Sent but nothing received" on the path in use: probe it at once (two pings, so one lost ping does not
   * move a busy peer); when the probe stays unanswered and nothing else came back, give the path up for the
   * relay (peer-state.ts `isDead`). The relayed rounds then re-probe it every 5 s, so a healed path is back
   * within seconds, and within a minute at worst.
   */
  private watchSilence(s: PeerState, nowMs: number): PathAction[] {
    const b = s.best;
    if (!b) return [];
    if (isDead(s, nowMs)) {
        pushEvent(s, nowMs, `direct via ${formatEndpoint(b.via.endpoint)} silent for ${Math.round(nowMs - b.heardMs)} ms while sending, ping unanswered; on relay`);
      s.best = undefined;
      s.discoStartMs = nowMs;
      return [];
    }
    // An untrusted path is pinged by the discovery rounds already (and given up the same way).
    if (!isSilent(s, nowMs) || probing(s) || !this.active(s, nowMs) || !isTrusted(s, nowMs)) return [];
    // A peer that answers on another path of its choosing leaves ours silent for good: then the probe
    // replaces the heartbeat (every 3 s), it does not add one a second.
    if (nowMs - (s.lastSilenceProbeMs ?? -Infinity) < HEARTBEAT_MS) return [];
    const c = s.cands.get(b.candKey);
    if (!c) return [];
    s.lastSilenceProbeMs = nowMs;
    s.lastHeartbeatMs = nowMs;
    const out: PathAction[] = [];
    for (let i = 0; i < SILENCE_PROBE_PINGS; i++) out.push(this.ping(s, c, nowMs));
    return out;
  }

  /** Ping timeouts: loss for scoring; the path in use is given up after LOST_PINGS_TO_DROP in a row. */
  private expirePending(s: PeerState, nowMs: number): PathAction[] {
    const out: PathAction[] = [];
    for (const [tx, p] of s.pending) {
      if (nowMs - p.sentMs < PING_TIMEOUT_MS) continue;
      s.pending.delete(tx);
      if (p.birthdayAttempt !== undefined) continue;
      const c = s.cands.get(p.candKey);
      if (!c) continue;
      recordOutcome(c, false);
      if (s.best?.candKey !== c.key) continue;
      // Data heard on the path since this ping went out: the path works, a lost ping is only loss (a lossy
      // path that carries a stream is not given up for three unlucky heartbeats).
      if (s.best.heardMs > p.sentMs) {
        s.heartbeatsLostInRow = 0;
        continue;
      }
      // A silence probe's pings go out together: their loss counts as one lost heartbeat, not several.
      if (p.sentMs === s.lastLostPingMs) continue;
      s.lastLostPingMs = p.sentMs;
      if (++s.heartbeatsLostInRow < LOST_PINGS_TO_DROP) continue;
      pushEvent(s, nowMs, `direct via ${formatEndpoint(c.endpoint)} stopped answering (${LOST_PINGS_TO_DROP} pings lost); on relay`);
      s.best = undefined;
      s.discoStartMs = nowMs;
    }
    return out;
  }

  private birthdayStep(s: PeerState, nowMs: number): PathAction[] {
    const st = s.birthday;
    const a = st.current;
    if (a) {
      if (nowMs >= a.endMs) {
        finish(st, nowMs, undefined);
        pushEvent(s, nowMs, `birthday attempt ${a.id} failed: ${a.role === 'easy' ? `${a.probesSent} probes` : `${a.sockets.length} sockets`}, no pong in ${nowMs - a.startMs} ms`);
        for (const [tx, p] of s.pending) if (p.birthdayAttempt === a.id) s.pending.delete(tx);
        dropSocketCandidates(s, a.sockets);
        this.candidatesChanged();
        return a.sockets.length ? [{ t: 'close-sockets', ids: [...a.sockets] }] : [];
      }
      const out: PathAction[] = [];
      for (let n = probesDue(a, nowMs); n > 0; n--) {
        recordProbe(a, nowMs);
        out.push(this.pingEndpoint(s, { address: a.hardAddress, port: randomPort(a, this.randomBytes) }, 0, nowMs, a.id));
      }
      return out;
    }
    if (st.dueMs === undefined || nowMs < st.dueMs) return [];
    st.dueMs = undefined;
    if (s.best) return [];
    // The hard side's plain pings already reach us (a full-cone or public easy side, or filtering that
    // let them in): the pong that makes the path is on its way. A birthday attempt now would only cost
    // the hard side up to 256 sockets that another peer's attempt may need; the next call-me-maybe
    // schedules one again if no path came of it.
    if ([...s.cands.values()].some((c) => c.socket === 0 && c.lastHeardMs !== undefined && nowMs - c.lastHeardMs <= BIRTHDAY_HEARD_MS)) {
      pushEvent(s, nowMs, 'birthday not needed: the peer\'s pings reach us, a direct path is being confirmed');
      return [];
    }
    return this.decideBirthday(s, nowMs);
  }

  private decideBirthday(s: PeerState, nowMs: number): PathAction[] {
    const st = s.birthday;
    const verdict = birthdayVerdict(this.self.mappingVariesByDest, s.peerHardNat, st, nowMs);
    if (verdict === 'backoff') st.blockedAtMs = nowMs;
    if (verdict !== 'go') return [];
    const hard = [...s.cands.values()].find((c) => c.source !== 'peer-reflexive' && isPublicV4(c.endpoint.address));
    const easy = this.self.endpoints.find((e) => isPublicV4(e.address));
    if (!hard || !easy || !s.peer.homeRelay) {
      pushEvent(s, nowMs, `birthday attempt not possible: ${!hard ? 'no public IPv4 of the peer' : !easy ? 'no public IPv4 endpoint of ours' : 'no relay to coordinate through'}`);
      return [];
    }
    const { attempt, message } = startEasySide(st, hard.endpoint.address, easy, nowMs);
    pushEvent(s, nowMs, `birthday attempt ${attempt.id}: easy side, ${attempt.probesPlanned} probes to ${attempt.hardAddress} at ${attempt.ratePerSec}/s, peer opens ${attempt.socketsRequested} sockets`);
    return [{ t: 'disco', peer: s.peer.nodeKey, via: { kind: 'tcp-relay', region: s.peer.homeRelay }, message }];
  }
}

function isPublicV4(address: string): boolean {
  const c = classifyAddress(address);
  return c.cls === 'public' && !c.v6;
}
