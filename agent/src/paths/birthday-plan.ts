/**
 * The birthday attempt against a NAT that maps per destination, as data (mesh part 3, issue 18).
 *
 * The hard side (its NAT picks a new random external port for every destination) opens n extra sockets,
 * each sending to the easy side's one ip:port, so its NAT holds n mappings towards it on n random
 * ports. The easy side sends M probes to distinct random ports of the hard side's address. A probe that
 * lands on one of the n ports is a reply in the hard NAT's eyes and reaches that socket; the order of
 * the two sprays does not matter (a hard-side ping arriving after the easy side's probe to that port is
 * a reply in the easy NAT's eyes). With S possible ports:
 *   P(success) = 1 - prod_{i=0}^{M-1} (S - n - i) / (S - i)  ~  1 - e^(-nM/S)
 * (tailscale.com/blog/how-nat-traversal-works; danderson/nat-birthday-paradox). n = 256, M = 1,024,
 * S = 64,511 gives 98%. Both sides hard needs S^2 space: never attempted.
 *
 * Pure: no socket, no clock, randomness injected.
 */
import { ConegateError } from '../errors.ts';
import type { Endpoint } from '../wg/ports.ts';
import type { SocketId } from './types.ts';
import { MESH_SOCKET } from './types.ts';

/** Ports a NAT may hand out: 1025-65535 (below 1024 only for privileged sources). */
export const PORT_MIN = 1025;
export const PORT_MAX = 65535;
export const PORT_SPACE = PORT_MAX - PORT_MIN + 1;

/** The issue's budget per attempt: what one attempt may cost the two NATs' session tables and the wire. */
export const BIRTHDAY_LIMITS = Object.freeze({ maxSockets: 256, maxProbes: 1024, maxRatePerSec: 200, maxDeadlineMs: 10_000 });

/** Exact success probability of n sockets against M distinct probes in a space of S ports. */
export function birthdaySuccessProbability(n: number, m: number, s: number = PORT_SPACE): number {
  if (n <= 0 || m <= 0) return 0;
  if (n + m > s) return 1;
  let miss = 1;
  for (let i = 0; i < m; i++) miss *= (s - n - i) / (s - i);
  return 1 - miss;
}

/** P(the first hit comes at or before probe k): the formula's CDF of "probes until success". */
export function successByProbe(n: number, k: number, s: number = PORT_SPACE): number {
  return birthdaySuccessProbability(n, k, s);
}

/** The parameters of one attempt, as the `birthday` discovery message carries them. */
export interface BirthdayParams {
  role: 'hard' | 'easy';
  /** Ties pings and pongs to this attempt (a pong of an earlier attempt is not a winner). */
  attempt: number;
  /** The hard side's public IP (the easy side probes its ports). */
  hardAddress: string;
  /** The easy side's public ip:port (every extra socket of the hard side sends to it). */
  easy: Endpoint;
  sockets: number;
  probes: number;
  ratePerSec: number;
  deadlineMs: number;
  /** What each side knows of the two NATs; both hard is refused. */
  selfHard: boolean;
  peerHard: boolean;
}

/** Checks an attempt against the rule and the budget before any socket opens. */
export function validateBirthday(p: BirthdayParams): void {
  if (p.selfHard && p.peerHard) {
    throw new ConegateError('CG_BIRTHDAY_REFUSED', 'birthday attempt refused: both NATs map per destination (the search space is S^2, ~170,000 probes per side for 99.9%); the peer stays on the relay', { context: { reason: 'both-hard' } });
  }
  if (!p.selfHard && !p.peerHard) {
    throw new ConegateError('CG_BIRTHDAY_REFUSED', 'birthday attempt refused: neither NAT maps per destination, plain hole punching is enough', { context: { reason: 'neither-hard' } });
  }
  if ((p.role === 'hard') !== p.selfHard) {
    throw new ConegateError('CG_INPUT_INVALID', `birthday attempt: role ${p.role} does not match our NAT (${p.selfHard ? 'hard' : 'easy'})`);
  }
  const L = BIRTHDAY_LIMITS;
  const bad = (name: string, v: number, max: number) => !Number.isInteger(v) || v < 1 || v > max ? `${name} ${v} (1..${max})` : undefined;
  const errors = [bad('sockets', p.sockets, L.maxSockets), bad('probes', p.probes, L.maxProbes), bad('ratePerSec', p.ratePerSec, L.maxRatePerSec), bad('deadlineMs', p.deadlineMs, L.maxDeadlineMs)].filter(Boolean);
  if (!validPort(p.easy.port)) errors.push(`easy port ${p.easy.port}`);
  if (errors.length) throw new ConegateError('CG_INPUT_INVALID', `birthday attempt outside its budget: ${errors.join(', ')}`);
}

function validPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

/** One send of the plan: at `atMs` (relative to the attempt's start), from `socket` to `to`. */
export interface PlannedSend {
  atMs: number;
  socket: SocketId;
  to: Endpoint;
}

/**
 * M distinct ports of [PORT_MIN, PORT_MAX], uniformly at random. Two random bytes per draw with
 * rejection above the largest multiple of the space (no modulo bias); repeats are drawn again.
 */
export function randomPorts(count: number, randomBytes: (n: number) => Uint8Array): number[] {
  const want = Math.min(count, PORT_SPACE);
  const limit = Math.floor(65536 / PORT_SPACE) * PORT_SPACE;
  const seen = new Set<number>();
  const out: number[] = [];
  while (out.length < want) {
    const buf = randomBytes(2 * (want - out.length) + 8);
    for (let i = 0; i + 1 < buf.length && out.length < want; i += 2) {
      const v = (buf[i]! << 8) | buf[i + 1]!;
      if (v >= limit) continue;
      const port = PORT_MIN + (v % PORT_SPACE);
      if (seen.has(port)) continue;
      seen.add(port);
      out.push(port);
    }
  }
  return out;
}

/** The easy side's probes: distinct random ports of the hard address, paced at ratePerSec, within the deadline. */
export function planEasyProbes(p: Pick<BirthdayParams, 'hardAddress' | 'probes' | 'ratePerSec' | 'deadlineMs'>, randomBytes: (n: number) => Uint8Array): PlannedSend[] {
  const gapMs = 1000 / p.ratePerSec;
  const fit = Math.min(p.probes, Math.floor(p.deadlineMs / gapMs) + 1);
  return randomPorts(fit, randomBytes).map((port, i) => ({ atMs: Math.round(i * gapMs), socket: MESH_SOCKET, to: { address: p.hardAddress, port } }));
}

/**
 * The hard side's pings: one from every extra socket to the easy endpoint at the start (each creates
 * the mapping the easy side's probes look for), and a second round at half the deadline in case the
 * first was lost. NAT session timeouts for unanswered UDP are >= 30 s, longer than an attempt.
 */
export function planHardPings(easy: Endpoint, sockets: SocketId[], deadlineMs: number): PlannedSend[] {
  const round = (atMs: number) => sockets.map((socket) => ({ atMs, socket, to: { ...easy } }));
  return [...round(0), ...round(Math.floor(deadlineMs / 2))];
}
