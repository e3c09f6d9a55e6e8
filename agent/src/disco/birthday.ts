/**
 * The birthday-paradox attempt for a pair where exactly one NAT maps per destination (mesh facts, "Hard
 * NAT by the birthday paradox"): the hard side opens n extra sockets, each pinging the easy side's one
 * endpoint (n mappings in the hard NAT, each open to exactly that endpoint); the easy side sends M probes
 * to distinct random ports of the hard side's address. P(hit) ~ 1 - e^(-nM/S), S = 64,511: n = 256 and
 * M = 1,024 give 98%. Pure: decisions, budget and pacing; the engine turns them into actions.
 *
 * Roles: only the easy side decides (it knows both NAT kinds once the hard side's call-me-maybe says
 * hardNat), after plain punching had BIRTHDAY_WAIT_MS to work; it sends `birthday` through the relay and
 * starts probing when the hard side answers "ready" (BIRTHDAY_READY_WAIT_MS at the latest). The hard side acts only on that message, clamps it to the
 * budget below, and refuses it inside the back-off window or when the easy endpoint is not one the peer
 * advertised (no spraying at third parties on a peer's word). Both sides stop at the deadline.
 */
import type { SocketId } from '../paths/types.ts';
import type { Endpoint } from '../wg/ports.ts';
import type { DiscoMessage } from './types.ts';

export const BIRTHDAY_MAX_SOCKETS = 256;
export const BIRTHDAY_MAX_PROBES = 1024;
export const BIRTHDAY_MAX_RATE_PER_SEC = 200;
export const BIRTHDAY_MAX_DURATION_MS = 10_000;
/** At least this long between attempts of one pair (both sides enforce it). */
export const BIRTHDAY_BACKOFF_MS = 5 * 60_000;
/**
 * After the hard side's call-me-maybe, plain punching gets this long. Against an endpoint-independent or
 * address-dependent filter the hard side's pings reach us within a relay crossing and a direct crossing of
 * its call-me-maybe, and a ping heard from it (BIRTHDAY_HEARD_MS) calls the attempt off: a port-dependent
 * filter on our side lets the wait run out, and now and then a hard side slow to answer. Every 100 ms here
 * is 100 ms on the time to direct of every birthday pair: the lab matrix measured p95 4.6 s with 1 s,
 * 3.5-4.7 s with 500 ms, 4.3 s with 300 ms (54 of 54 direct); 2 of 54 address-dependent filters against
 * a hard node got an attempt they did not need (it ends at their first pong, ~220 probes).
 */
export const BIRTHDAY_WAIT_MS = 300;
/** A ping from the peer heard this recently means plain punching is working: no birthday attempt. */
export const BIRTHDAY_HEARD_MS = 2_000;
/**
 * The hard side answers with "ready" (a `birthday` message with the sockets it pings from and 0 probes)
 * once its sockets have pinged us, and probing starts then. Without that answer (a peer from before it, a
 * lost message) probing starts this long after the request. Why wait: a probe that reaches a port of the
 * hard router before the mapping exists is wasted, and the router's connection tracking then holds that
 * port, so the mapping takes another one; a relay slowed down by load (the NAT matrix on a busy machine
 * took 5 to 22 s to carry `birthday`) made whole attempts miss that way.
 */
export const BIRTHDAY_READY_WAIT_MS = 2_000;
/** Ports 1025-65535: what NATs allocate from (S in the formula). */
export const PORT_MIN = 1025;
export const PORT_MAX = 65535;

export type BirthdayMessage = Extract<DiscoMessage, { type: 'birthday' }>;

export interface BirthdayAttempt {
  id: number;
  role: 'easy' | 'hard';
  startMs: number;
  endMs: number;
  hardAddress: string;
  easy: Endpoint;
  probesPlanned: number;
  probesSent: number;
  ratePerSec: number;
  probeStartMs: number;
  socketsRequested: number;
  /** Hard side: the extra sockets the loop opened (all closed but the winner at the end). */
  sockets: SocketId[];
  usedPorts: Set<number>;
  /** Easy side: send times of the last `ratePerSec` probes (never more than that in any second). */
  recent: number[];
  winner?: string;
  /** Hard side: the most attempts (this one included) that shared the node's extra sockets meanwhile. */
  concurrent: number;
}

export interface BirthdayReport {
  sockets: number;
  probes: number;
  winner?: string;
  ms: number;
  ok: boolean;
  atMs: number;
  /** Hard side: the most attempts that shared the extra sockets during this one (1 = alone). */
  concurrent?: number;
}

export interface BirthdayState {
  attempts: number;
  lastStartMs?: number;
  current?: BirthdayAttempt;
  last?: BirthdayReport;
  /** Easy side: when to decide (set on the hard side's call-me-maybe). */
  dueMs?: number;
  /** The highest attempt id used with this peer (ids stay unique when a void attempt is not counted). */
  lastId?: number;
  /** lastStartMs before the current attempt began (restored when the peer was busy and it was void). */
  startBeforeMs?: number;
  /** The last time an attempt was wanted but the back-off forbade it. */
  blockedAtMs?: number;
}

export type BirthdayVerdict = 'go' | 'both-hard' | 'not-needed' | 'nat-unknown' | 'backoff' | 'running' | 'not-easy-side';

/** Whether this (easy) side should start an attempt now. */
export function birthdayVerdict(selfHard: boolean | undefined, peerHard: boolean | undefined, st: BirthdayState, nowMs: number): BirthdayVerdict {
  if (selfHard === true && peerHard === true) return 'both-hard';
  if (selfHard === undefined || peerHard === undefined) return 'nat-unknown';
  if (!selfHard && !peerHard) return 'not-needed';
  if (selfHard) return 'not-easy-side';
  if (st.current) return 'running';
  if (st.lastStartMs !== undefined && nowMs - st.lastStartMs < BIRTHDAY_BACKOFF_MS) return 'backoff';
  return 'go';
}

/** The easy side's attempt and the message that starts the hard side's half. */
export function startEasySide(st: BirthdayState, hardAddress: string, easy: Endpoint, nowMs: number): { attempt: BirthdayAttempt; message: BirthdayMessage } {
  const attempt: BirthdayAttempt = {
    id: (st.lastId ?? 0) + 1, role: 'easy', startMs: nowMs, endMs: nowMs + BIRTHDAY_MAX_DURATION_MS, hardAddress, easy,
    probesPlanned: BIRTHDAY_MAX_PROBES, probesSent: 0, ratePerSec: BIRTHDAY_MAX_RATE_PER_SEC,
    probeStartMs: nowMs + BIRTHDAY_READY_WAIT_MS, socketsRequested: BIRTHDAY_MAX_SOCKETS, sockets: [], usedPorts: new Set(), recent: [], concurrent: 1,
  };
  begin(st, attempt, nowMs);
  const message: BirthdayMessage = {
    type: 'birthday', attempt: attempt.id, hardAddress, easy, sockets: BIRTHDAY_MAX_SOCKETS,
    probes: BIRTHDAY_MAX_PROBES, ratePerSec: BIRTHDAY_MAX_RATE_PER_SEC, deadlineMs: BIRTHDAY_MAX_DURATION_MS,
  };
  return { attempt, message };
}

/** The hard side's attempt from the peer's message, clamped to the budget; undefined when refused. */
export function startHardSide(st: BirthdayState, m: BirthdayMessage, selfHard: boolean | undefined, easyAdvertised: boolean, nowMs: number): BirthdayAttempt | undefined {
  if (selfHard !== true || !easyAdvertised || st.current) return undefined;
  if (st.lastStartMs !== undefined && nowMs - st.lastStartMs < BIRTHDAY_BACKOFF_MS) return undefined;
  const sockets = Math.min(m.sockets, BIRTHDAY_MAX_SOCKETS);
  if (sockets === 0) return undefined;
  const attempt: BirthdayAttempt = {
    id: m.attempt, role: 'hard', startMs: nowMs, endMs: nowMs + Math.min(m.deadlineMs, BIRTHDAY_MAX_DURATION_MS), hardAddress: m.hardAddress,
    easy: m.easy, probesPlanned: 0, probesSent: 0, ratePerSec: 0, probeStartMs: nowMs, socketsRequested: sockets, sockets: [], usedPorts: new Set(), recent: [], concurrent: 1,
  };
  begin(st, attempt, nowMs);
  return attempt;
}

function begin(st: BirthdayState, a: BirthdayAttempt, nowMs: number): void {
  st.current = a;
  st.attempts++;
  st.lastId = Math.max(st.lastId ?? 0, a.id);
  st.startBeforeMs = st.lastStartMs;
  st.lastStartMs = nowMs;
  st.dueMs = undefined;
}

/** Easy side: the hard side was busy, our attempt is void (no back-off from it); decide again at `retryAtMs`. */
export function cancelBusy(st: BirthdayState, retryAtMs: number): void {
  st.current = undefined;
  st.attempts--;
  st.lastStartMs = st.startBeforeMs;
  st.dueMs = retryAtMs;
}

/** Easy side: the hard side's "ready" for this attempt; probing starts now unless it has already. */
export function hardReady(a: BirthdayAttempt, nowMs: number): boolean {
  if (a.role !== 'easy' || a.probesSent > 0 || nowMs >= a.probeStartMs) return false;
  a.probeStartMs = nowMs;
  return true;
}

/** The hard side's "ready" message: its sockets towards `a.easy` have pinged (probing may start). */
export function readyMessage(a: BirthdayAttempt, nowMs: number): BirthdayMessage {
  return { type: 'birthday', attempt: a.id, hardAddress: a.hardAddress, easy: a.easy, sockets: a.sockets.length, probes: 0, ratePerSec: 0, deadlineMs: Math.max(0, Math.ceil(a.endMs - nowMs)) };
}

/**
 * Probes the easy side owes at `nowMs`: paced at the rate from the start, never past the budget or the
 * deadline, and never more than `ratePerSec` in any second: a wake that comes late (a busy event loop)
 * catches up only as far as the last second allows, not in one burst.
 */
export function probesDue(a: BirthdayAttempt, nowMs: number): number {
  if (a.role !== 'easy' || nowMs < a.probeStartMs || nowMs >= a.endMs) return 0;
  const byRate = Math.floor(((nowMs - a.probeStartMs) * a.ratePerSec) / 1000) + 1;
  const windowFree = a.ratePerSec - a.recent.filter((t) => nowMs - t < 1000).length;
  return Math.max(0, Math.min(Math.min(a.probesPlanned, byRate) - a.probesSent, windowFree));
}

/** A probe went out at `nowMs` (counted against the budget and the one-second window). */
export function recordProbe(a: BirthdayAttempt, nowMs: number): void {
  a.probesSent++;
  a.recent.push(nowMs);
  if (a.recent.length > a.ratePerSec) a.recent.shift();
}

/** When the next probe is due (undefined when the budget is spent). */
export function nextProbeMs(a: BirthdayAttempt): number | undefined {
  if (a.role !== 'easy' || a.probesSent >= a.probesPlanned) return undefined;
  let at = a.probeStartMs + Math.ceil((a.probesSent * 1000) / a.ratePerSec);
  if (a.recent.length >= a.ratePerSec) at = Math.max(at, a.recent[a.recent.length - a.ratePerSec]! + 1000);
  return at < a.endMs ? at : undefined;
}

/** A port not probed yet in this attempt, uniformly from PORT_MIN..PORT_MAX (rejection sampling). */
export function randomPort(a: BirthdayAttempt, randomBytes: (n: number) => Uint8Array): number {
  const span = PORT_MAX - PORT_MIN + 1;
  for (;;) {
    const b = randomBytes(2);
    const v = (b[0]! << 8) | b[1]!;
    if (v >= span) continue;
    const port = PORT_MIN + v;
    if (a.usedPorts.has(port)) continue;
    a.usedPorts.add(port);
    return port;
  }
}

/** Ends the attempt (won or timed out) and records the report for `status`. */
export function finish(st: BirthdayState, nowMs: number, winner: string | undefined): BirthdayAttempt | undefined {
  const a = st.current;
  if (!a) return undefined;
  a.winner = winner;
  st.current = undefined;
  st.last = {
    // Hard side: the extra sockets it pinged from (shared with other attempts) and those pings.
    sockets: a.role === 'hard' ? a.sockets.length : a.socketsRequested, probes: a.probesSent,
    ms: nowMs - a.startMs, ok: winner !== undefined, atMs: nowMs, ...(winner !== undefined ? { winner } : {}),
    ...(a.role === 'hard' ? { concurrent: a.concurrent } : {}),
  };
  return a;
}
