/**
 * What the engine knows per peer: candidates (map, call-me-maybe, peer-reflexive), pings in flight, the
 * path in use, timers, and a bounded event history. Plain data plus small helpers; the decisions are in
 * engine.ts, scoring.ts and birthday.ts.
 */
import type { NodeKeyHex, PathPeer, SocketId, Via } from '../paths/types.ts';
import { formatEndpoint, type Endpoint } from '../wg/ports.ts';
import type { BirthdayState } from './birthday.ts';
import type { Measured } from './scoring.ts';
import { EVENT_HISTORY, LOSS_WINDOW, PEER_REFLEXIVE_TTL_MS, RTT_SAMPLES, SILENCE_MS, SUSPECT_MIN_MS } from './timing.ts';

/** Peer-reflexive candidates kept per peer at most. */
export const MAX_PEER_REFLEXIVE = 64;

export type CandidateSource = 'map' | 'call-me-maybe' | 'peer-reflexive';

export interface Candidate {
  key: string;
  endpoint: Endpoint;
  socket: SocketId;
  source: CandidateSource;
  lastPingMs?: number;
  /** When the peer last pinged us from it (keeps a peer-reflexive candidate alive). */
  lastHeardMs?: number;
  lastPongMs?: number;
  rttSamples: number[];
  /** Recent ping outcomes, newest last: true = pong, false = lost. */
  outcomes: boolean[];
  failedUntilMs?: number;
  /** Last ping sent because the peer pinged us from here (rate-limits answering pings with pings). */
  lastPingBackMs?: number;
}

export interface PendingPing {
  candKey: string;
  endpoint: Endpoint;
  socket: SocketId;
  sentMs: number;
  /** Set for birthday probes: they are not candidates until one answers. */
  birthdayAttempt?: number;
}

export interface BestPath {
  candKey: string;
  via: Extract<Via, { kind: 'direct' }>;
  sinceMs: number;
  trustUntilMs: number;
  /** Send time of the oldest ping on this path still unanswered (a stalled path is suspect early). */
  awaitingSinceMs?: number;
  /** Last time anything came back on this path: a pong, or WireGuard data from its address and socket. */
  heardMs: number;
  /** Time of the first data for the peer after `heardMs` (undefined or not after it: none since). Silence
   * counts from here: a send after an idle spell gives the peer its time to answer before it is silence. */
  sentMs?: number;
  /** Send time of the first ping on this path after `heardMs` (undefined or older: none since). */
  probeMs?: number;
}

export interface PeerState {
  peer: PathPeer;
  cands: Map<string, Candidate>;
  pending: Map<string, PendingPing>;
  best?: BestPath;
  lastTrafficMs?: number;
  discoStartMs?: number;
  lastRoundMs?: number;
  lastCmmSentMs?: number;
  lastHeartbeatMs?: number;
  /** Last probe because the path in use went silent while we sent (at most one per heartbeat period). */
  lastSilenceProbeMs?: number;
  lastFullProbeMs?: number;
  heartbeatsLostInRow: number;
  /** Send time of the last lost ping counted in `heartbeatsLostInRow` (a probe's pings count once). */
  lastLostPingMs?: number;
  peerHardNat?: boolean;
  birthday: BirthdayState;
  events: { atMs: number; text: string }[];
  /** The last "ping from new address" event and how many addresses it stands for (noteNewAddress). */
  newAddressBurst?: { event: { atMs: number; text: string }; first: string; count: number };
  /** When the engine next needs to look at this peer (timers, pacing); undefined = only on events. */
  wakeMs?: number;
  /** Extra sockets that won a birthday attempt: kept only while the path in use runs over them. */
  keptSockets: SocketId[];
  /** WireGuard does not pass on the direct path though discovery does (wg-block.ts): relayed meanwhile. */
  wgBlock?: { sinceMs: number; endpoint: string; retryAtMs: number; checks: number };
  /** The relay said the peer is not connected (cleared by any discovery message from the peer). */
  gone?: { atMs: number; region: string; reason: 'disconnected' | 'not-here' };
}

/**
 * Whether the path in use is trusted: a pong within TRUST_MS, and no ping on it unanswered for longer than
 * SUSPECT_MIN_MS or 3 RTTs. The second rule notices a dead path after ~1 s instead of 6.5 s, so packets
 * go through the relay as well long before the path is given up.
 */
export function isTrusted(s: PeerState, nowMs: number): boolean {
  const b = s.best;
  if (!b || nowMs >= b.trustUntilMs) return false;
  if (b.awaitingSinceMs === undefined) return true;
  return nowMs - b.awaitingSinceMs <= suspectAfterMs(s);
}

/** How long a ping on the path in use may stay unanswered before the path is suspect: 1 s, or 3 RTTs on a
 * slow path (a satellite link must not look dead between its own pongs). */
export function suspectAfterMs(s: PeerState): number {
  const c = s.best ? s.cands.get(s.best.candKey) : undefined;
  const rtt = c ? (lastRtt(c) ?? 0) : 0;
  return Math.max(SUSPECT_MIN_MS, 3 * rtt);
}

/** When the path in use stops being trusted if nothing arrives (for wake planning). */
export function trustEndsMs(s: PeerState): number | undefined {
  const b = s.best;
  if (!b) return undefined;
  if (b.awaitingSinceMs === undefined) return b.trustUntilMs;
  return Math.min(b.trustUntilMs, b.awaitingSinceMs + suspectAfterMs(s) + 1);
}

/**
 * "Sent but nothing received": we sent the peer data after the last thing heard on the path in use, and
 * the first such send was SILENCE_MS or more ago. A working path answers data (TCP ACKs, WireGuard replies) or pings long
 * before; a silent one is probed at once instead of at the next heartbeat.
 */
export function isSilent(s: PeerState, nowMs: number): boolean {
  const b = s.best;
  return b !== undefined && sentSinceHeard(b) && nowMs - b.sentMs! >= SILENCE_MS;
}

/** Whether we sent the peer data after the last thing heard on the path in use. */
function sentSinceHeard(b: BestPath): boolean {
  return b.sentMs !== undefined && b.sentMs > b.heardMs;
}

/** Records data sent for the peer (the first send after the last thing heard starts the silence clock). */
export function noteSent(s: PeerState, nowMs: number): void {
  if (s.best && !sentSinceHeard(s.best)) s.best.sentMs = nowMs;
}

/** Whether a ping went out on the path in use after the last thing heard on it (the probe is in flight). */
export function probing(s: PeerState): boolean {
  const b = s.best;
  return b?.probeMs !== undefined && b.probeMs >= b.heardMs;
}

/**
 * The path in use is dead for a peer we are sending to: we sent data after the last thing heard on it, a
 * ping sent since then is overdue (1 s or 3 RTTs) and nothing (pong or data) came back meanwhile. Moving
 * to the relay now, not after 3 heartbeats of 5 s, is what keeps a TCP stream inside the tunnel alive
 * (failover within 3 s, issue acceptance); the path is re-probed and taken back when it answers.
 */
export function isDead(s: PeerState, nowMs: number): boolean {
  const b = s.best;
  if (!b || !sentSinceHeard(b) || !probing(s)) return false;
  // A path over a birthday attempt's extra socket is not given up this fast: giving it up closes the
  // socket, and a new attempt waits 5 minutes. It keeps the relay copy and the 3-heartbeat rule.
  if (b.via.socket !== 0) return false;
  return nowMs - b.probeMs! > suspectAfterMs(s);
}

/** When the silence or dead-path checks next need a look (wake planning); undefined when nothing is due. */
export function silenceWakeMs(s: PeerState): number | undefined {
  const b = s.best;
  if (!b || !sentSinceHeard(b)) return undefined;
  return probing(s) ? b.probeMs! + suspectAfterMs(s) + 1 : b.sentMs! + SILENCE_MS;
}

export function candidateKey(endpoint: Endpoint, socket: SocketId): string {
  return `${socket}|${formatEndpoint(endpoint)}`;
}

export function newPeerState(peer: PathPeer): PeerState {
  const s: PeerState = { peer, cands: new Map(), pending: new Map(), heartbeatsLostInRow: 0, birthday: { attempts: 0 }, events: [], keptSockets: [] };
  syncMapCandidates(s);
  return s;
}

function addCandidate(s: PeerState, endpoint: Endpoint, socket: SocketId, source: CandidateSource): Candidate {
  const key = candidateKey(endpoint, socket);
  let c = s.cands.get(key);
  if (!c) {
    c = { key, endpoint, socket, source, rttSamples: [], outcomes: [] };
    s.cands.set(key, c);
  } else if (source === 'map') {
    c.source = 'map';
  }
  return c;
}

/** Replaces the map candidates (a new network map); candidates from other sources stay. */
export function syncMapCandidates(s: PeerState): void {
  const keep = new Set(s.peer.endpoints.map((e) => candidateKey(e, 0)));
  for (const [k, c] of s.cands) if (c.source === 'map' && !keep.has(k) && s.best?.candKey !== k) s.cands.delete(k);
  for (const e of s.peer.endpoints) addCandidate(s, e, 0, 'map');
}

/** Call-me-maybe replaces the previous call-me-maybe list (mesh facts: coordinated punching). */
export function setCallMeMaybe(s: PeerState, endpoints: Endpoint[]): Candidate[] {
  const keep = new Set(endpoints.map((e) => candidateKey(e, 0)));
  for (const [k, c] of s.cands) if (c.source === 'call-me-maybe' && !keep.has(k) && s.best?.candKey !== k) s.cands.delete(k);
  return endpoints.map((e) => addCandidate(s, e, 0, 'call-me-maybe'));
}

/** A ping from an address we did not know becomes a candidate on the socket it arrived on. */
export function heardFrom(s: PeerState, endpoint: Endpoint, socket: SocketId, nowMs: number): { cand: Candidate; isNew: boolean } {
  const isNew = !s.cands.has(candidateKey(endpoint, socket));
  if (isNew) evictPeerReflexive(s, MAX_PEER_REFLEXIVE - 1);
  const cand = addCandidate(s, endpoint, socket, 'peer-reflexive');
  cand.lastHeardMs = nowMs;
  return { cand, isNew };
}

/** A peer behind a NAT that maps per destination shows up from many ports; memory stays bounded by
 * forgetting the least recently heard peer-reflexive candidates (never the path in use). */
function evictPeerReflexive(s: PeerState, keep: number): void {
  const prflx = [...s.cands.values()].filter((c) => c.source === 'peer-reflexive' && c.key !== s.best?.candKey);
  if (prflx.length <= keep) return;
  prflx.sort((a, b) => (a.lastHeardMs ?? 0) - (b.lastHeardMs ?? 0));
  for (const c of prflx.slice(0, prflx.length - keep)) s.cands.delete(c.key);
}

/** Drops peer-reflexive candidates 45 s after they were last heard from or answered (never the path in use
 * while it answers). Returns whether anything changed. */
export function expireCandidates(s: PeerState, nowMs: number): boolean {
  let changed = false;
  for (const [k, c] of s.cands) {
    if (c.source !== 'peer-reflexive') continue;
    const last = Math.max(c.lastHeardMs ?? -Infinity, c.lastPongMs ?? -Infinity);
    if (last + PEER_REFLEXIVE_TTL_MS <= nowMs) {
      s.cands.delete(k);
      if (s.best?.candKey === k) s.best = undefined;
      changed = true;
    }
  }
  return changed;
}

/** Forgets candidates on extra sockets that were closed. */
export function dropSocketCandidates(s: PeerState, ids: SocketId[]): void {
  if (ids.length === 0) return;
  const gone = new Set(ids);
  for (const [k, c] of s.cands) if (gone.has(c.socket)) s.cands.delete(k);
  for (const [tx, p] of s.pending) if (gone.has(p.socket)) s.pending.delete(tx);
  if (s.best && gone.has(s.best.via.socket)) s.best = undefined;
}

/**
 * Kept extra sockets neither the path in use nor a live candidate runs over any more, with their candidates
 * forgotten; the caller closes them. A birthday attempt's sockets are the attempt's business. A path given
 * up (3 lost heartbeats) keeps its socket while its peer-reflexive candidate lives (45 s after the last
 * ping or pong): the relayed rounds ping it from that socket, which keeps the hard NAT's mapping, so the
 * path heals when the peer's side reaches it again; closing at once would leave the pair on the relay for
 * the 5 min until the next birthday attempt.
 */
export function releaseSockets(s: PeerState): SocketId[] {
  const attempt = s.birthday.current?.sockets ?? [];
  const live = new Set([...s.cands.values()].map((c) => c.socket));
  const gone = s.keptSockets.filter((id) => s.best?.via.socket !== id && !attempt.includes(id) && !live.has(id));
  if (gone.length === 0) return [];
  s.keptSockets = s.keptSockets.filter((id) => !gone.includes(id));
  dropSocketCandidates(s, gone);
  return gone;
}

export function recordOutcome(c: Candidate, ok: boolean): void {
  c.outcomes.push(ok);
  if (c.outcomes.length > LOSS_WINDOW) c.outcomes.shift();
}

export function recordRtt(c: Candidate, rttMs: number): void {
  c.rttSamples.push(rttMs);
  if (c.rttSamples.length > RTT_SAMPLES) c.rttSamples.shift();
}

/** The path's measurement for scoring: the minimum of recent RTTs (jitter does not make paths flap). */
export function measured(c: Candidate): Measured | undefined {
  if (c.rttSamples.length === 0) return undefined;
  const lost = c.outcomes.filter((o) => !o).length;
  return { kind: 'direct', address: c.endpoint.address, rttMs: Math.min(...c.rttSamples), loss: c.outcomes.length ? lost / c.outcomes.length : 0 };
}

export function lastRtt(c: Candidate): number | undefined {
  return c.rttSamples.at(-1);
}

export function pushEvent(s: PeerState, atMs: number, text: string): void {
  s.events.push({ atMs, text });
  if (s.events.length > EVENT_HISTORY) s.events.shift();
}

/** New addresses within this long of the last one's event count into that event. */
const NEW_ADDRESS_BURST_MS = 1_000;

/**
 * "ping from new address": a burst of them (a hard peer's birthday sockets reaching an address-dependent
 * filter, up to 256 within milliseconds) is one event that counts them, so it cannot push the path's
 * history (the "direct via" that says when the path came) out of the bounded list.
 */
export function noteNewAddress(s: PeerState, atMs: number, where: string): void {
  const b = s.newAddressBurst;
  if (b && s.events.at(-1) === b.event && atMs - b.event.atMs < NEW_ADDRESS_BURST_MS) {
    b.count++;
    b.event.text = `ping from new address ${b.first} and ${b.count - 1} more`;
    return;
  }
  pushEvent(s, atMs, `ping from new address ${where}`);
  s.newAddressBurst = { event: s.events.at(-1)!, first: where, count: 1 };
}

export function isActive(s: PeerState, nowMs: number, activeMs: number): boolean {
  return s.lastTrafficMs !== undefined && nowMs - s.lastTrafficMs < activeMs;
}

export type PeerTable = Map<NodeKeyHex, PeerState>;
