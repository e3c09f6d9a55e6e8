/**
 * One logged-in connection from this node to one relay server, over any byte stream (the socket after
 * the 101, WebSocket binary messages, an in-memory pipe in tests). It speaks the frames of
 * agent/src/relay/frames.ts:
 *   server-key  -> we send client-info sealed from our node key to the server key
 *   server-info -> opens with the server key: the server holds its key; login done
 * then recv / peer-gone / ping (answered at once with pong) / keepalive / health / restarting.
 *
 * The read deadline (120 s without a byte, tailscale's derphttp value: the server sends a keepalive
 * every 60 s + jitter), the liveness ping (sending after 3 s without a byte read: a ping, 3 s for any
 * answer) and the login deadline run on the injected clock. Any protocol error closes
 * this connection only, with the reason; the region above decides about reconnecting.
 */
import type { CancelTimer, Clock } from '../../clock/clock.ts';
import { ConegateError, DecodeError } from '../../errors.ts';
import { bytesEqual } from '../../net/ip.ts';
import * as f from '../frames.ts';
import { decodeMessage } from '../frames-message.ts';
import { openServerInfo, RELAY_PROTOCOL_VERSION, sealJson, type RandomBytes, type ServerInfo } from '../frames-seal.ts';

/** The reason for a relay whose key is not the pinned one (both keys shortened: public keys, not secrets). */
export function keyMismatch(want: Uint8Array, got: Uint8Array, where: string): string {
  const hex = (k: Uint8Array) => Buffer.from(k).toString('hex').slice(0, 16);
  return `the relay's key in its ${where} (${hex(got)}...) is not the pinned key ${hex(want)}...`;
}

/** A bidirectional byte stream; write never throws (a dead stream drops and reports close). */
export interface ByteStream {
  write(bytes: Uint8Array): void;
  close(): void;
  onData(fn: (chunk: Uint8Array) => void): void;
  onClose(fn: () => void): void;
}

export const CONN_TIMING = {
  loginTimeoutMs: 10_000,
  readTimeoutMs: 120_000,
  /** Sending while nothing was read for this long: ping the relay to learn whether the path is alive. */
  pingAfterSilenceMs: 3_000,
  /** That ping unanswered (no byte at all) for this long: the connection is dead (tailscale's 3 s relay ping). */
  pingTimeoutMs: 3_000,
} as const;

export interface ConnEvents {
  recv(src: Uint8Array, data: Uint8Array): void;
  peerGone(key: Uint8Array, reason: f.PeerGoneReason): void;
  health?(problem: string): void;
  restarting?(r: f.Restarting): void;
  /** Once, whatever ended the connection. */
  closed(reason: string): void;
}

export interface ConnOptions {
  nodeSecret: Uint8Array;
  nodePublic: Uint8Array;
  clock: Clock;
  randomBytes: RandomBytes;
  loginTimeoutMs?: number;
  readTimeoutMs?: number;
  pingAfterSilenceMs?: number;
  pingTimeoutMs?: number;
  /** The relay's key as the relay map pins it (or the 101 answer announced it): any other is refused. */
  expectedServerKey?: Uint8Array;
}

type State = 'await-server-key' | 'await-server-info' | 'ready' | 'closed';

export class RelayConnection {
  private state: State = 'await-server-key';
  private readonly reader = new f.FrameReader();
  private serverKey: Uint8Array | undefined;
  private serverInfo: ServerInfo | undefined;
  private readTimer: CancelTimer | undefined;
  private loginTimer: CancelTimer | undefined;
  private loginWaiters: { resolve: (i: ServerInfo) => void; reject: (e: Error) => void } | undefined;
  private lastReadMs: number;
  private pingTimer: CancelTimer | undefined;
  /** Liveness pings sent because we sent into silence (tests, status). */
  livenessPings = 0;
  /** The last problem the server reported with a health frame ('' = healthy). */
  health = '';
  pingsAnswered = 0;

  constructor(
    private readonly stream: ByteStream,
    private readonly opts: ConnOptions,
    private readonly events: ConnEvents,
  ) {
    this.lastReadMs = opts.clock.nowMs();
    stream.onData((chunk) => this.onData(chunk));
    stream.onClose(() => this.end('the connection closed'));
    this.armRead();
  }

  /** Resolves after the server's sealed server-info opened; rejects (and closes) otherwise. */
  login(): Promise<ServerInfo> {
    return new Promise((resolve, reject) => {
      if (this.state === 'closed') return reject(new ConegateError('CG_NETWORK', 'relay connection closed before login'));
      // A stream may hand over bytes it held as soon as we listen: the login can be done already.
      if (this.serverInfo) return resolve(this.serverInfo);
      this.loginWaiters = { resolve, reject };
      this.loginTimer = this.opts.clock.setTimer(this.opts.loginTimeoutMs ?? CONN_TIMING.loginTimeoutMs, () => this.end('login timed out'));
    });
  }

  get ready(): boolean {
    return this.state === 'ready';
  }

  /** Queues one packet to dst; false when the connection is not logged in. */
  send(dst: Uint8Array, data: Uint8Array): boolean {
    if (this.state !== 'ready') return false;
    this.stream.write(f.encodeSend(dst, data));
    this.checkAlive();
    return true;
  }

  notePreferred(home: boolean): void {
    if (this.state === 'ready') this.stream.write(f.encodeNotePreferred(home));
  }

  close(reason = 'closed by us'): void {
    this.end(reason);
  }

  private onData(chunk: Uint8Array): void {
    if (this.state === 'closed') return;
    this.armRead();
    this.lastReadMs = this.opts.clock.nowMs();
    this.pingTimer?.();
    this.pingTimer = undefined;
    try {
      for (const frame of this.reader.feed(chunk)) {
        this.onFrame(frame);
        if (this.isClosed()) return;
      }
    } catch (err) {
      this.end(err instanceof DecodeError ? `protocol error: ${err.reason}` : `protocol error: ${(err as Error).message}`);
    }
  }

  private onFrame(frame: f.Frame): void {
    const msg = decodeMessage(frame);
    if (!msg) return;
    if (this.state === 'await-server-key') {
      if (msg.kind !== 'server-key') throw new DecodeError(`expected server-key, got ${msg.kind}`);
      const want = this.opts.expectedServerKey;
      // Nothing is sealed to a key that is not the pinned one: the login would prove our key to an impostor.
      if (want && !bytesEqual(want, msg.serverKey)) return this.end(keyMismatch(want, msg.serverKey, 'server-key frame'), 'CG_RELAY_KEY_MISMATCH');
      this.serverKey = msg.serverKey;
      const info = { version: RELAY_PROTOCOL_VERSION, canAckPings: true };
      // State first: the answer may arrive inside write() on an in-process stream.
      this.state = 'await-server-info';
      this.stream.write(f.encodeClientInfo(this.opts.nodePublic, sealJson(info, this.opts.nodeSecret, msg.serverKey, this.opts.randomBytes)));
      return;
    }
    if (this.state === 'await-server-info') {
      // A relay that refuses the login (admission) closes the connection; anything else first is wrong.
      if (msg.kind === 'health') return this.noteHealth(msg.problem);
      if (msg.kind !== 'server-info') throw new DecodeError(`expected server-info, got ${msg.kind}`);
      const info = openServerInfo(msg.sealed, this.opts.nodeSecret, this.serverKey!);
      this.serverInfo = info;
      this.state = 'ready';
      this.loginTimer?.();
      this.loginWaiters?.resolve(info);
      this.loginWaiters = undefined;
      return;
    }
    this.onReadyFrame(msg);
  }

  private onReadyFrame(msg: NonNullable<ReturnType<typeof decodeMessage>>): void {
    switch (msg.kind) {
      case 'recv':
        this.events.recv(msg.srcKey, msg.data);
        return;
      case 'peer-gone':
        this.events.peerGone(msg.key, msg.reason);
        return;
      case 'ping':
        this.pingsAnswered++;
        this.stream.write(f.encodePong(msg.data));
        return;
      case 'health':
        this.noteHealth(msg.problem);
        return;
      case 'restarting':
        this.events.restarting?.({ reconnectInMs: msg.reconnectInMs, tryForMs: msg.tryForMs });
        return;
      default:
        // keepalive only re-arms the read deadline (done for every byte); frames meant for relays
        // (watch-conns, forward, peer-present...) mean nothing to a client and are ignored.
        return;
    }
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private noteHealth(problem: string): void {
    this.health = problem;
    this.events.health?.(problem);
  }

  /**
   * A relay that went silent while we send (its host killed behind a NAT that drops the reset, a path
   * that black-holes) would otherwise hold our packets until the 120 s read deadline. Sending into
   * silence sends one ping; no byte back within pingTimeoutMs ends the connection, and the region
   * dials its next server at once. The relay answers pings at once, ahead of queued packets.
   */
  private checkAlive(): void {
    if (this.pingTimer) return;
    const silenceMs = this.opts.clock.nowMs() - this.lastReadMs;
    if (silenceMs < (this.opts.pingAfterSilenceMs ?? CONN_TIMING.pingAfterSilenceMs)) return;
    this.livenessPings++;
    this.stream.write(f.encodePing(this.opts.randomBytes(8)));
    const timeoutMs = this.opts.pingTimeoutMs ?? CONN_TIMING.pingTimeoutMs;
    this.pingTimer = this.opts.clock.setTimer(timeoutMs, () => this.end(`the relay did not answer a ping within ${timeoutMs} ms while we were sending`));
  }

  private armRead(): void {
    this.readTimer?.();
    this.readTimer = this.opts.clock.setTimer(this.opts.readTimeoutMs ?? CONN_TIMING.readTimeoutMs, () => this.end('nothing heard from the relay for 120 s'));
  }

  private end(reason: string, code?: 'CG_RELAY_KEY_MISMATCH'): void {
    if (this.state === 'closed') return;
    const wasReady = this.state === 'ready';
    this.state = 'closed';
    this.readTimer?.();
    this.pingTimer?.();
    this.loginTimer?.();
    this.stream.close();
    if (!wasReady && this.loginWaiters) {
      // A relay that refuses a key (admission) just closes: from here that looks like a network end.
      const c = code ?? (reason.startsWith('protocol error') ? 'CG_RELAY_REFUSED' : 'CG_NETWORK');
      this.loginWaiters.reject(new ConegateError(c, `relay login failed: ${reason}`, { context: { reason } }));
      this.loginWaiters = undefined;
    }
    this.events.closed(reason);
  }
}
