/**
 * Read-only views of a peer's state for the discovery engine (engine.ts): what `status` shows, and the
 * candidates the engine falls back to. Pure functions of PeerState and `nowMs`.
 */
import type { PathAction, PeerPathStatus, SocketId, Via } from '../paths/types.ts';
import { formatEndpoint } from '../wg/ports.ts';
import { dropSocketCandidates, lastRtt, measured, type Candidate, type PeerState } from './peer-state.ts';
import type { BirthdayPoolStatus } from './birthday-hard.ts';
import { relayReason } from './reasons.ts';
import type { EngineSelf } from './rounds.ts';
import { shouldSwitch } from './scoring.ts';
import { FALLBACK_MAX_AGE_MS } from './timing.ts';

/** `route`: the Vias the engine routes the peer's packets through now (the last one is shown when not direct). */
export function peerPathStatus(s: PeerState, self: EngineSelf & { ipsFinding: string | undefined }, route: Via[], nowMs: number, pool?: BirthdayPoolStatus): PeerPathStatus {
  const best = s.best ? s.cands.get(s.best.candKey) : undefined;
  const reason = relayReason(s, self, nowMs);
  const bd = s.birthday;
  const run = bd.current;
  const running = run ? { running: { id: run.id, role: run.role, sockets: run.sockets.length, probes: run.probesSent, concurrent: run.concurrent } } : {};
  const node = pool && (pool.open > 0 || pool.peakOpen > 0) ? { node: pool } : {};
  return {
    path: s.best && !s.wgBlock ? s.best.via : route.at(-1),
    rttMs: best ? lastRtt(best) : undefined,
    sinceMs: s.best?.sinceMs,
    candidates: [...s.cands.values()].map((c) => ({
      endpoint: c.socket === 0 ? formatEndpoint(c.endpoint) : `${formatEndpoint(c.endpoint)} (socket ${c.socket})`,
      source: c.source,
      ...(lastRtt(c) !== undefined && c.lastPongMs !== undefined ? { lastPongRttMs: lastRtt(c) } : {}),
      ...(c.lastPingMs !== undefined ? { lastPingAgoMs: nowMs - c.lastPingMs } : {}),
    })),
    ...(reason ? { reason } : {}),
    ...(bd.attempts > 0 ? { birthday: { attempts: bd.attempts, ...(bd.last ? { last: { ...bd.last } } : {}), ...running, ...node } } : {}),
    events: s.events.map((e) => ({ ...e })),
  };
}

export function bestMeasured(s: PeerState) {
  const c = s.best ? s.cands.get(s.best.candKey) : undefined;
  return c ? measured(c) : undefined;
}

/**
 * The fallback when the path in use fails to send: the best other candidate whose last ping was answered
 * within two re-probe periods (other candidates are pinged only at re-probes, so "answered lately" cannot
 * mean the 6.5 s trust window).
 */
export function bestAnswering(s: PeerState, nowMs: number): Candidate | undefined {
  let best: Candidate | undefined;
  for (const c of s.cands.values()) {
    if (c.lastPongMs === undefined || nowMs - c.lastPongMs >= FALLBACK_MAX_AGE_MS || c.outcomes.at(-1) !== true || (c.failedUntilMs ?? 0) > nowMs) continue;
    if (!best || shouldSwitch(measured(c)!, measured(best))) best = c;
  }
  return best;
}

/** Closes every extra (birthday) socket of the peer: the current attempt's, the kept ones and the path's. */
export function closeAllExtra(s: PeerState): PathAction[] {
  const ids = new Set<SocketId>([...(s.birthday.current?.sockets ?? []), ...s.keptSockets]);
  if (s.best && s.best.via.socket !== 0) ids.add(s.best.via.socket);
  s.keptSockets = [];
  dropSocketCandidates(s, [...ids]);
  return ids.size ? [{ t: 'close-sockets', ids: [...ids] }] : [];
}
