/**
 * Per-peer WireGuard timers (whitepaper 6.2 - 6.5, named after wireguard-go's device/timers.go) as a
 * pure state machine: deadlines in monotonic ms, one hook per protocol event that moves deadlines, and
 * `expire(nowMs)` that fires what is due and returns the actions the device must take. No clock inside;
 * the device arms one real timer for `nextDeadlineMs()`.
 */
import {
  KEEPALIVE_TIMEOUT_MS,
  MAX_TIMER_HANDSHAKES,
  REJECT_AFTER_TIME_MS,
  REKEY_TIMEOUT_MS,
} from './constants.ts';

export type TimerName = 'retransmitHandshake' | 'sendKeepalive' | 'newHandshake' | 'zeroKeyMaterial' | 'persistentKeepalive';

export type TimerEvent =
  /** A transport packet with data (not a keepalive) was sent. */
  | 'dataSent'
  /** A transport packet with data was received. */
  | 'dataReceived'
  /** Any authenticated packet (handshake, data, keepalive) was sent. */
  | 'anyAuthenticatedPacketSent'
  /** Any authenticated packet was received. */
  | 'anyAuthenticatedPacketReceived'
  /** Any authenticated packet was sent or received (persistent keepalive resets on both). */
  | 'anyAuthenticatedPacketTraversal'
  /** We sent a handshake initiation. */
  | 'handshakeInitiated'
  /** A handshake completed (initiator: response consumed; responder: first data on the new key). */
  | 'handshakeComplete'
  /** New session keys were derived. */
  | 'sessionDerived';

export type TimerAction =
  | { kind: 'sendInitiation'; retry: boolean }
  | { kind: 'sendKeepalive' }
  | { kind: 'zeroKeyMaterial' }
  /** Handshake attempts exhausted: drop the packets waiting for a session. */
  | { kind: 'dropStaged' };

export interface PeerTimersOptions {
  /** Jitter added to REKEY_TIMEOUT for retries and to the new-handshake timer, in ms. */
  jitterMs: () => number;
  persistentKeepaliveSec?: number;
}

export class PeerTimers {
  readonly deadlines: Partial<Record<TimerName, number>> = {};
  handshakeAttempts = 0;
  needAnotherKeepalive = false;
  /** Set when the receive path asked for a handshake shortly before keys expire (whitepaper 6.2). */
  sentLastMinuteHandshake = false;
  persistentKeepaliveMs: number;
  private readonly jitterMs: () => number;

  constructor(opts: PeerTimersOptions) {
    this.jitterMs = opts.jitterMs;
    this.persistentKeepaliveMs = (opts.persistentKeepaliveSec ?? 0) * 1000;
  }

  /**
   * Applies one protocol event. Returns the deadline the event armed, if any, so the caller can arm its
   * clock earlier when needed without scanning all deadlines on the hot path.
   */
  on(event: TimerEvent, nowMs: number): number | undefined {
    const d = this.deadlines;
    switch (event) {
      case 'dataSent':
        // No reply within KEEPALIVE + REKEY_TIMEOUT: the session may be dead on their side, so rekey.
        if (d.newHandshake === undefined) return (d.newHandshake = nowMs + KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS + this.jitterMs());
        break;
      case 'dataReceived':
        // Passive keepalive: acknowledge data we got if we have nothing to send within KEEPALIVE.
        if (d.sendKeepalive === undefined) return (d.sendKeepalive = nowMs + KEEPALIVE_TIMEOUT_MS);
        this.needAnotherKeepalive = true;
        break;
      case 'anyAuthenticatedPacketSent':
        delete d.sendKeepalive;
        break;
      case 'anyAuthenticatedPacketReceived':
        delete d.newHandshake;
        break;
      case 'anyAuthenticatedPacketTraversal':
        if (this.persistentKeepaliveMs > 0) return (d.persistentKeepalive = nowMs + this.persistentKeepaliveMs);
        break;
      case 'handshakeInitiated':
        return (d.retransmitHandshake = nowMs + REKEY_TIMEOUT_MS + this.jitterMs());
      case 'handshakeComplete':
        delete d.retransmitHandshake;
        this.handshakeAttempts = 0;
        this.sentLastMinuteHandshake = false;
        break;
      case 'sessionDerived':
        return (d.zeroKeyMaterial = nowMs + REJECT_AFTER_TIME_MS * 3);
    }
    return undefined;
  }

  /** Earliest pending deadline, or undefined if nothing is armed. */
  nextDeadlineMs(): number | undefined {
    let best: number | undefined;
    for (const v of Object.values(this.deadlines)) if (v !== undefined && (best === undefined || v < best)) best = v;
    return best;
  }

  /** Fires every deadline at or before nowMs (earliest first) and returns the actions, in order. */
  expire(nowMs: number): TimerAction[] {
    const actions: TimerAction[] = [];
    for (let guard = 0; guard < 16; guard++) {
      const name = this.dueTimer(nowMs);
      if (!name) break;
      delete this.deadlines[name];
      this.fire(name, nowMs, actions);
    }
    return actions;
  }

  /** Disarms everything (peer removed, device stopped). */
  stop(): void {
    for (const k of Object.keys(this.deadlines) as TimerName[]) delete this.deadlines[k];
  }

  private dueTimer(nowMs: number): TimerName | undefined {
    let best: TimerName | undefined;
    for (const [k, v] of Object.entries(this.deadlines) as [TimerName, number | undefined][]) {
      if (v !== undefined && v <= nowMs && (best === undefined || v < this.deadlines[best]!)) best = k;
    }
    return best;
  }

  private fire(name: TimerName, nowMs: number, actions: TimerAction[]): void {
    const d = this.deadlines;
    switch (name) {
      case 'retransmitHandshake':
        if (this.handshakeAttempts > MAX_TIMER_HANDSHAKES) {
          // Gave up after REKEY_ATTEMPT_TIME: forget queued packets, and the keys soon after.
          delete d.sendKeepalive;
          actions.push({ kind: 'dropStaged' });
          if (d.zeroKeyMaterial === undefined) d.zeroKeyMaterial = nowMs + REJECT_AFTER_TIME_MS * 3;
        } else {
          this.handshakeAttempts++;
          actions.push({ kind: 'sendInitiation', retry: true });
        }
        break;
      case 'sendKeepalive':
        actions.push({ kind: 'sendKeepalive' });
        if (this.needAnotherKeepalive) {
          this.needAnotherKeepalive = false;
          d.sendKeepalive = nowMs + KEEPALIVE_TIMEOUT_MS;
        }
        break;
      case 'newHandshake':
        actions.push({ kind: 'sendInitiation', retry: false });
        break;
      case 'zeroKeyMaterial':
        actions.push({ kind: 'zeroKeyMaterial' });
        break;
      case 'persistentKeepalive':
        if (this.persistentKeepaliveMs > 0) actions.push({ kind: 'sendKeepalive' });
        break;
    }
  }
}
