/**
 * Executes one birthday attempt over a SocketSet (the plan is in birthday-plan.ts): the hard side opens
 * its extra sockets and pings the easy endpoint from each; the easy side sends its paced probes to random
 * ports of the hard address. Both sides answer every ping of the peer with a pong from the socket it came
 * in on, and ping back once towards a new source, so each side ends with a pong of its own: the first
 * pong is the winner (socket + remote endpoint). Losers close at once; the winner stays open for the
 * tunnel until release(). Bounded: sockets, probes, answers and time (BIRTHDAY_LIMITS).
 *
 * The wire is injected (ProbeWire): in the mesh the loop seals discovery ping/pong between the two
 * discovery keys; the lab driver uses a plain stand-in. The SocketSet's receive handler belongs to
 * whoever owns the set; it passes datagrams to handle().
 */
import type { Clock, CancelTimer } from '../clock/clock.ts';
import type { Endpoint } from '../wg/ports.ts';
import { endpointEquals } from '../wg/ports.ts';
import { BIRTHDAY_LIMITS, planEasyProbes, planHardPings, validateBirthday, type BirthdayParams, type PlannedSend } from './birthday-plan.ts';
import { MESH_SOCKET, type SocketId, type SocketSet } from './types.ts';

/** Encodes and opens the attempt's ping/pong (the loop's sealed discovery messages, or a test stand-in). */
export interface ProbeWire {
  ping(txId: Uint8Array): Uint8Array;
  pong(txId: Uint8Array, src: Endpoint): Uint8Array;
  /** The message, or undefined for anything else (not ours, forged, another attempt): dropped and counted. */
  open(packet: Uint8Array, from: Endpoint): { type: 'ping' | 'pong'; txId: Uint8Array } | undefined;
}

export interface BirthdayDeps {
  sockets: SocketSet;
  clock: Clock;
  randomBytes: (n: number) => Uint8Array;
  wire: ProbeWire;
}

/** What one attempt did; the engine keeps it for `status` (PeerPathStatus.birthday.last). */
export interface BirthdayReport {
  attempt: number;
  role: 'hard' | 'easy';
  ok: boolean;
  /** Extra sockets opened (hard side; 0 on the easy side, which probes from the mesh socket). */
  sockets: number;
  /** Pings sent: planned probes plus ping-backs. */
  probes: number;
  pingBacks: number;
  pongsSent: number;
  pingsReceived: number;
  /** Datagrams handed to handle() that were not a ping/pong of this attempt from the peer's address. */
  dropped: number;
  winner?: { socket: SocketId; localPort: number | undefined; remote: Endpoint };
  /** From start() to the first pong (ms, on the injected clock). */
  firstPongMs?: number;
  elapsedMs: number;
  /** Why an attempt ended without a winner. */
  failure?: 'deadline' | 'no-sockets' | 'stopped';
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export class BirthdayAttempt {
  private readonly sent = new Map<string, { socket: SocketId; to: Endpoint }>();
  private readonly pingedBack = new Set<string>();
  private extra: SocketId[] = [];
  private plan: PlannedSend[] = [];
  private next = 0;
  private t0 = 0;
  private cancelPump: CancelTimer | undefined;
  private cancelDeadline: CancelTimer | undefined;
  private finished = false;
  private resolve: ((r: BirthdayReport) => void) | undefined;
  private readonly report: BirthdayReport;
  private readonly peerAddress: string;
  /** Ceiling on pongs and ping-backs together: a forged flood cannot make us a reflector. */
  private readonly maxAnswers = BIRTHDAY_LIMITS.maxProbes + BIRTHDAY_LIMITS.maxSockets;

  constructor(
    readonly params: BirthdayParams,
    private readonly deps: BirthdayDeps,
  ) {
    this.report = { attempt: params.attempt, role: params.role, ok: false, sockets: 0, probes: 0, pingBacks: 0, pongsSent: 0, pingsReceived: 0, dropped: 0, elapsedMs: 0 };
    this.peerAddress = params.role === 'hard' ? params.easy.address : params.hardAddress;
  }

  /** Validates (throws CG_BIRTHDAY_REFUSED / CG_INPUT_INVALID before any socket opens), runs, resolves at the first pong or the deadline. */
  async start(): Promise<BirthdayReport> {
    validateBirthday(this.params);
    const { clock, sockets, randomBytes } = this.deps;
    this.t0 = clock.nowMs();
    const done = new Promise<BirthdayReport>((r) => (this.resolve = r));
    if (this.params.role === 'hard') {
      const opened = await sockets.openExtra(this.params.sockets);
      this.report.sockets = opened.length;
      if (this.finished) {
        sockets.closeExtra(opened);
        return done;
      }
      this.extra = opened;
      if (this.extra.length === 0) {
        this.finish('no-sockets');
        return done;
      }
      this.plan = planHardPings(this.params.easy, this.extra, this.params.deadlineMs);
    } else {
      this.plan = planEasyProbes(this.params, randomBytes);
    }
    const left = this.params.deadlineMs - (clock.nowMs() - this.t0);
    this.cancelDeadline = clock.setTimer(Math.max(0, left), () => this.finish('deadline'));
    this.pump();
    return done;
  }

  private pump(): void {
    this.cancelPump = undefined;
    if (this.finished) return;
    const elapsed = this.deps.clock.nowMs() - this.t0;
    while (this.next < this.plan.length && this.plan[this.next]!.atMs <= elapsed) {
      const s = this.plan[this.next++]!;
      this.ping(s.socket, s.to);
    }
    if (this.next < this.plan.length) this.cancelPump = this.deps.clock.setTimer(this.plan[this.next]!.atMs - elapsed, () => this.pump());
  }

  private ping(socket: SocketId, to: Endpoint): void {
    const txId = this.deps.randomBytes(12);
    this.sent.set(hex(txId), { socket, to: { ...to } });
    this.report.probes++;
    this.deps.sockets.send(socket, this.deps.wire.ping(txId), to);
  }

  /** Offers a datagram that arrived on the set; true when it was this attempt's ping or pong. */
  handle(packet: Uint8Array, from: Endpoint, socket: SocketId): boolean {
    if (from.address !== this.peerAddress || !this.owns(socket)) return false;
    const msg = this.deps.wire.open(packet, from);
    if (!msg) {
      this.report.dropped++;
      return false;
    }
    if (msg.type === 'ping') this.onPing(msg.txId, from, socket);
    else this.onPong(msg.txId, from, socket);
    return true;
  }

  private owns(socket: SocketId): boolean {
    return socket === MESH_SOCKET ? this.params.role === 'easy' : this.extra.includes(socket);
  }

  private onPing(txId: Uint8Array, from: Endpoint, socket: SocketId): void {
    this.report.pingsReceived++;
    if (this.report.pongsSent + this.report.pingBacks >= this.maxAnswers) return;
    this.report.pongsSent++;
    this.deps.sockets.send(socket, this.deps.wire.pong(txId, from), from);
    // A ping from a source we never pinged is the peer's mapping towards us: ping it back so we get a
    // pong of our own (the easy side of a full-cone pair learns the hard side's port this way).
    const key = `${socket}>${from.address}:${from.port}`;
    if (this.finished || this.pingedBack.has(key)) return;
    this.pingedBack.add(key);
    this.report.pingBacks++;
    this.ping(socket, from);
  }

  private onPong(txId: Uint8Array, from: Endpoint, socket: SocketId): void {
    const mine = this.sent.get(hex(txId));
    if (!mine || mine.socket !== socket || !endpointEquals(mine.to, from)) {
      this.report.dropped++;
      return;
    }
    if (this.finished) return;
    this.report.winner = { socket, localPort: this.deps.sockets.localPort(socket), remote: { ...from } };
    this.report.firstPongMs = this.deps.clock.nowMs() - this.t0;
    this.finish(undefined);
  }

  private finish(failure: BirthdayReport['failure']): void {
    if (this.finished) return;
    this.finished = true;
    this.cancelPump?.();
    this.cancelDeadline?.();
    this.cancelPump = this.cancelDeadline = undefined;
    const keep = this.report.winner?.socket;
    this.deps.sockets.closeExtra(this.extra.filter((id) => id !== keep));
    this.extra = keep !== undefined && keep !== MESH_SOCKET ? [keep] : [];
    this.report.ok = failure === undefined;
    if (failure) this.report.failure = failure;
    this.report.elapsedMs = this.deps.clock.nowMs() - this.t0;
    this.resolve?.({ ...this.report, winner: this.report.winner && { ...this.report.winner } });
  }

  /** The counters now (answers keep counting after the first pong, until release()). */
  snapshot(): BirthdayReport {
    return { ...this.report };
  }

  /** Ends the attempt (if running) and closes every extra socket, the winner included. Idempotent. */
  release(): void {
    this.finish('stopped');
    this.deps.sockets.closeExtra(this.extra);
    this.extra = [];
  }
}
