/**
 * STUN Binding client over a UdpBind. The retransmission schedule is data (retransmitPlan) computed
 * before anything is sent; the client walks it with an injected Clock. A response counts only if it
 * decodes, carries the transaction id of a pending request, and comes from the endpoint the request
 * was meant to be answered from (the server, or its alternate for an RFC 5780 CHANGE-REQUEST), so a
 * spoofed or stray packet on the shared socket is ignored and counted, never believed.
 */
import type { Clock, CancelTimer } from '../clock/clock.ts';
import { DecodeError } from '../errors.ts';
import { sameEndpoint, type UdpBind, type UdpEndpoint } from './bind.ts';
import { bindingRequest, decodeStun, isComprehensionRequired, isStun, METHOD_BINDING, type StunAddress } from './codec.ts';

export interface RetransmitOptions {
  /** Initial retransmission timeout; doubles after each send (RFC 8489 section 6.2.1). */
  rtoMs: number;
  /** Total number of requests sent (Rc). */
  rc: number;
  /** After the last request, wait rm * rtoMs (the initial RTO) before giving up (Rm). */
  rm: number;
  /** Optional hard stop: no send at or after it, and give up there at the latest. */
  deadlineMs?: number;
}

/** RFC 8489 section 6.2.1 defaults: RTO 500 ms, Rc 7, Rm 16 (sends at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; give up at 39.5 s). */
export const RFC8489_RETRANSMIT: RetransmitOptions = { rtoMs: 500, rc: 7, rm: 16 };

export type PlanStep = { atMs: number; action: 'send'; attempt: number } | { atMs: number; action: 'give-up' };

/** The retransmission schedule as data: when to send (attempt 1..rc) and when to give up. */
export function retransmitPlan(o: RetransmitOptions): PlanStep[] {
  const steps: PlanStep[] = [];
  let at = 0;
  let rto = o.rtoMs;
  for (let attempt = 1; attempt <= o.rc; attempt++) {
    if (o.deadlineMs !== undefined && at >= o.deadlineMs) break;
    steps.push({ atMs: at, action: 'send', attempt });
    if (attempt < o.rc) {
      at += rto;
      rto *= 2;
    }
  }
  const last = steps.length ? steps[steps.length - 1]!.atMs : 0;
  const giveUp = last + o.rm * o.rtoMs;
  steps.push({ atMs: o.deadlineMs !== undefined ? Math.min(giveUp, o.deadlineMs) : giveUp, action: 'give-up' });
  return steps;
}

export interface BindingOptions {
  changeIp?: boolean;
  changePort?: boolean;
  /** Where the answer must come from; default the server itself. */
  expectFrom?: UdpEndpoint;
  retransmit?: RetransmitOptions;
  signal?: AbortSignal;
}

export type BindingOutcome =
  | {
      ok: true;
      /** XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from a pre-RFC 5389 server. */
      mapped: StunAddress;
      from: UdpEndpoint;
      /** From the most recent send to the answer (ambiguous under retransmission, as RFC 8489 notes). */
      rttMs: number;
      sends: number;
      responseOrigin?: StunAddress;
      otherAddress?: StunAddress;
      software?: string;
    }
  | { ok: false; reason: 'timeout' | 'aborted' | 'send-failed' | 'no-address'; sends: number }
  | { ok: false; reason: 'error-response'; error: { code: number; reason: string }; sends: number };

export interface StunClientDeps {
  bind: UdpBind;
  clock: Clock;
  /** Source of transaction ids (node:crypto randomBytes in production). */
  randomBytes: (n: number) => Uint8Array;
  software?: string;
}

/** What the client saw on its socket; tests assert these so a silent drop cannot hide. */
export interface StunClientStats {
  sent: number;
  answered: number;
  ignoredNotStun: number;
  ignoredMalformed: number;
  ignoredUnknownTransaction: number;
  ignoredWrongSource: number;
}

interface Pending {
  tidHex: string;
  expectFrom: UdpEndpoint;
  lastSendMs: number;
  sends: number;
  finish: (o: BindingOutcome) => void;
}

export class StunClient {
  readonly stats: StunClientStats = { sent: 0, answered: 0, ignoredNotStun: 0, ignoredMalformed: 0, ignoredUnknownTransaction: 0, ignoredWrongSource: 0 };
  private readonly pending = new Map<string, Pending>();
  private readonly detach: () => void;
  private closed = false;

  constructor(private readonly deps: StunClientDeps) {
    this.detach = deps.bind.onMessage((bytes, from) => this.receive(bytes, from));
  }

  /** One Binding transaction to server. Never rejects: the outcome says what happened. */
  binding(server: UdpEndpoint, opts: BindingOptions = {}): Promise<BindingOutcome> {
    const plan = retransmitPlan(opts.retransmit ?? RFC8489_RETRANSMIT);
    const tid = this.deps.randomBytes(12);
    const request = bindingRequest(tid, {
      ...(opts.changeIp ? { changeIp: true } : {}),
      ...(opts.changePort ? { changePort: true } : {}),
      ...(this.deps.software !== undefined ? { software: this.deps.software } : {}),
      fingerprint: true,
    });
    const { clock } = this.deps;
    const startMs = clock.nowMs();
    return new Promise((resolve) => {
      if (this.closed || opts.signal?.aborted) return resolve({ ok: false, reason: 'aborted', sends: 0 });
      const timers: CancelTimer[] = [];
      let done = false;
      const p: Pending = {
        tidHex: hexOf(tid),
        expectFrom: opts.expectFrom ?? server,
        lastSendMs: startMs,
        sends: 0,
        finish: (o) => {
          if (done) return;
          done = true;
          for (const t of timers) t();
          opts.signal?.removeEventListener('abort', onAbort);
          this.pending.delete(p.tidHex);
          resolve(o);
        },
      };
      const onAbort = (): void => p.finish({ ok: false, reason: 'aborted', sends: p.sends });
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(p.tidHex, p);
      for (const step of plan) {
        timers.push(
          clock.setTimer(step.atMs, () => {
            if (step.action === 'give-up') return p.finish({ ok: false, reason: 'timeout', sends: p.sends });
            p.sends++;
            p.lastSendMs = clock.nowMs();
            this.stats.sent++;
            this.deps.bind.send(request, server.address, server.port).catch(() => p.finish({ ok: false, reason: 'send-failed', sends: p.sends }));
          }),
        );
      }
    });
  }

  /** Ends every pending transaction as aborted and stops listening; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach();
    for (const p of [...this.pending.values()]) p.finish({ ok: false, reason: 'aborted', sends: p.sends });
  }

  private receive(bytes: Uint8Array, from: UdpEndpoint): void {
    if (!isStun(bytes)) {
      this.stats.ignoredNotStun++;
      return;
    }
    let msg;
    try {
      msg = decodeStun(bytes);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.stats.ignoredMalformed++;
      return;
    }
    if (msg.method !== METHOD_BINDING || (msg.kind !== 'success' && msg.kind !== 'error')) {
      this.stats.ignoredUnknownTransaction++;
      return;
    }
    const p = this.pending.get(hexOf(msg.transactionId));
    if (!p) {
      this.stats.ignoredUnknownTransaction++;
      return;
    }
    if (!sameEndpoint(from, p.expectFrom)) {
      this.stats.ignoredWrongSource++;
      return;
    }
    // RFC 8489 section 6.3.3: a success response with unknown comprehension-required attributes is discarded.
    if (msg.kind === 'success' && (msg.unknown ?? []).some((a) => isComprehensionRequired(a.type))) {
      this.stats.ignoredMalformed++;
      return;
    }
    this.stats.answered++;
    if (msg.kind === 'error') {
      return p.finish({ ok: false, reason: 'error-response', error: msg.errorCode ?? { code: 0, reason: 'no ERROR-CODE' }, sends: p.sends });
    }
    const mapped = msg.xorMappedAddress ?? msg.mappedAddress;
    if (!mapped) return p.finish({ ok: false, reason: 'no-address', sends: p.sends });
    p.finish({
      ok: true,
      mapped,
      from,
      rttMs: this.deps.clock.nowMs() - p.lastSendMs,
      sends: p.sends,
      ...(msg.responseOrigin ? { responseOrigin: msg.responseOrigin } : {}),
      ...(msg.otherAddress ? { otherAddress: msg.otherAddress } : {}),
      ...(msg.software !== undefined ? { software: msg.software } : {}),
    });
  }
}

function hexOf(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
