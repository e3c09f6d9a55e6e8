/**
 * The connection to one region: one logged-in connection to one of its servers, a bounded send queue
 * while there is none, and reconnecting.
 *
 * - Dial: the region's servers in order, starting with the one after the server that just failed
 *   (HA: the servers of a region forward to each other, so any of them reaches every client of the
 *   region); the next server starts 1.5 s after the previous if that one has not logged in yet, the
 *   earlier attempt keeps running (tailscale derphttp); the first to log in wins, the others are
 *   aborted. Each attempt has the 10 s dial deadline.
 * - Reconnect: at once after a working connection died (to the next server), then with back-off
 *   doubling from 250 ms to 5 s (jitter in the upper half), or after the delay a `restarting` frame gave.
 * - Queue: up to QUEUE_PACKETS while connecting; when full the oldest goes (the tunnel retransmits, and
 *   the newest packets are the ones worth sending), counted.
 */
import type { CancelTimer, Clock } from '../../clock/clock.ts';
import type { RelayNode, RelayRegion } from '../../coord/protocol.ts';
import type { Logger } from '../../log/logger.ts';
import type { RandomBytes } from '../frames-seal.ts';
import { RelayConnection } from './conn.ts';
import type { Dialed } from './dial.ts';

export const REGION_TIMING = {
  staggerMs: 1_500,
  backoffFirstMs: 250,
  backoffMaxMs: 5_000,
  queuePackets: 64,
} as const;

/** Delay before reconnect attempt `failures` (1 = after the first failed attempt); rand01 in [0, 1). */
export function reconnectDelayMs(failures: number, rand01: number): number {
  if (failures <= 0) return 0;
  const cap = Math.min(REGION_TIMING.backoffMaxMs, REGION_TIMING.backoffFirstMs * 2 ** Math.min(failures - 1, 16));
  return Math.round(cap / 2 + (cap / 2) * rand01);
}

/** Order in which to try the servers: starting at `first`, wrapping around. */
export function dialOrder(count: number, first: number): number[] {
  return Array.from({ length: count }, (_, i) => (first + i) % count);
}

export type DialFn = (node: RelayNode, signal: AbortSignal) => Promise<Dialed>;

export interface RegionDeps {
  clock: Clock;
  log: Logger;
  dial: DialFn;
  randomBytes: RandomBytes;
  random: () => number;
  nodeSecret: Uint8Array;
  nodePublic: Uint8Array;
}

export interface RegionEvents {
  recv(src: Uint8Array, data: Uint8Array): void;
  peerGone(key: Uint8Array, reason: 'disconnected' | 'not-here'): void;
}

export interface RegionStatus {
  connected: boolean;
  server?: string;
  transport?: Dialed['transport'];
  viaProxy?: boolean;
  lastError?: string;
  queued: number;
  droppedQueueFull: number;
  reconnects: number;
}

export class RegionConnection {
  private conn: RelayConnection | undefined;
  private connInfo: { server: string; dialed: Dialed } | undefined;
  private dialing: AbortController | undefined;
  private retryTimer: CancelTimer | undefined;
  private readonly queue: { dst: Uint8Array; data: Uint8Array }[] = [];
  private failures = 0;
  private nextServer = 0;
  private restartDelayMs: number | undefined;
  private closed = false;
  private home = false;
  private lastError: string | undefined;
  droppedQueueFull = 0;
  reconnects = 0;
  /** Last send or receive, for closing idle non-home regions. */
  lastActivityMs: number;

  constructor(
    private region: RelayRegion,
    private readonly deps: RegionDeps,
    private readonly events: RegionEvents,
  ) {
    this.lastActivityMs = deps.clock.nowMs();
  }

  get id(): string {
    return this.region.id;
  }

  /** A new map may change the region's servers; a connection to a server still listed stays. */
  update(region: RelayRegion): void {
    this.region = region;
    if (this.connInfo && !region.nodes.some((n) => n.url === this.connInfo!.server)) this.conn?.close('server left the relay map');
  }

  setHome(home: boolean): void {
    this.home = home;
    this.conn?.notePreferred(home);
    if (home) this.connect();
  }

  send(dst: Uint8Array, data: Uint8Array): void {
    this.lastActivityMs = this.deps.clock.nowMs();
    if (this.conn?.ready && this.conn.send(dst, data)) return;
    if (this.queue.length >= REGION_TIMING.queuePackets) {
      this.queue.shift();
      this.droppedQueueFull++;
    }
    this.queue.push({ dst: dst.slice(), data: data.slice() });
    this.connect();
  }

  /** Starts connecting unless connected, connecting or waiting for a retry. */
  connect(): void {
    if (this.closed || this.conn || this.dialing || this.retryTimer) return;
    this.dialAll();
  }

  status(): RegionStatus {
    const live = this.conn?.ready === true;
    return {
      connected: live,
      ...(live && this.connInfo ? { server: this.connInfo.server, transport: this.connInfo.dialed.transport, viaProxy: this.connInfo.dialed.proxy !== undefined } : {}),
      ...(this.lastError ? { lastError: this.lastError } : {}),
      queued: this.queue.length,
      droppedQueueFull: this.droppedQueueFull,
      reconnects: this.reconnects,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.retryTimer?.();
    this.retryTimer = undefined;
    this.dialing?.abort();
    this.dialing = undefined;
    this.conn?.close('region closed');
    this.conn = undefined;
    this.queue.length = 0;
  }

  private dialAll(): void {
    const nodes = this.region.nodes;
    if (nodes.length === 0) return;
    const ctl = new AbortController();
    this.dialing = ctl;
    const order = dialOrder(nodes.length, this.nextServer % nodes.length);
    const stagger: CancelTimer[] = [];
    let pending = order.length;
    let won = false;
    const errors: string[] = [];
    const attempt = (i: number) => {
      if (ctl.signal.aborted) return;
      const node = nodes[i]!;
      this.tryServer(node, ctl.signal).then(
        (conn) => {
          if (won || ctl.signal.aborted) return conn.conn.close('another server won');
          won = true;
          for (const c of stagger) c();
          ctl.abort();
          this.onConnected(i, conn.conn, conn.dialed, node.url);
        },
        (err: Error) => {
          errors.push(`${node.url}: ${err.message}`);
          // A failed server lets the next one start now rather than at its stagger time.
          const next = order[order.indexOf(i) + 1];
          if (next !== undefined && !started.has(next)) start(next);
          if (--pending > 0 || won) return;
          ctl.abort();
          if (this.dialing === ctl) this.onAllFailed(errors);
        },
      );
    };
    const started = new Set<number>();
    const start = (i: number) => {
      if (started.has(i)) return;
      started.add(i);
      attempt(i);
    };
    order.forEach((i, n) => {
      if (n === 0) start(i);
      else stagger.push(this.deps.clock.setTimer(n * REGION_TIMING.staggerMs, () => start(i)));
    });
    ctl.signal.addEventListener('abort', () => stagger.forEach((c) => c()), { once: true });
  }

  private async tryServer(node: RelayNode, signal: AbortSignal): Promise<{ conn: RelayConnection; dialed: Dialed }> {
    const dialed = await this.deps.dial(node, signal);
    let conn: RelayConnection | undefined;
    const onAbort = () => conn?.close('dial aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    // The server-key frame must carry the key the map pins (or the 101 announced): checked in conn.ts.
    const expectedServerKey = dialed.serverKey ?? (node.serverKey ? Uint8Array.from(Buffer.from(node.serverKey, 'hex')) : undefined);
    conn = new RelayConnection(dialed.stream, { clock: this.deps.clock, randomBytes: this.deps.randomBytes, nodeSecret: this.deps.nodeSecret, nodePublic: this.deps.nodePublic, ...(expectedServerKey ? { expectedServerKey } : {}) }, {
      recv: (src, data) => {
        this.lastActivityMs = this.deps.clock.nowMs();
        this.events.recv(src, data);
      },
      peerGone: (key, reason) => this.events.peerGone(key, reason),
      restarting: (r) => (this.restartDelayMs = r.reconnectInMs),
      closed: (reason) => this.onClosed(conn!, reason),
    });
    try {
      await conn.login();
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    return { conn, dialed };
  }

  private onConnected(index: number, conn: RelayConnection, dialed: Dialed, server: string): void {
    this.dialing = undefined;
    if (this.closed) return conn.close('region closed');
    this.conn = conn;
    this.connInfo = { server, dialed };
    this.nextServer = index;
    this.failures = 0;
    this.lastError = undefined;
    this.restartDelayMs = undefined;
    this.deps.log.info({ region: this.region.id, server, transport: dialed.transport, proxy: dialed.proxy }, 'relay: connected');
    if (this.home) conn.notePreferred(true);
    for (const q of this.queue.splice(0)) conn.send(q.dst, q.data);
  }

  private onClosed(conn: RelayConnection, reason: string): void {
    if (conn !== this.conn) return;
    this.conn = undefined;
    this.connInfo = undefined;
    if (this.closed) return;
    this.lastError = reason;
    this.reconnects++;
    // HA: the next server of the region, at once (or after the delay the relay said it needs).
    this.nextServer = (this.nextServer + 1) % Math.max(1, this.region.nodes.length);
    this.deps.log.warn({ region: this.region.id, reason }, 'relay: connection lost; reconnecting');
    this.scheduleRetry(this.restartDelayMs ?? 0);
  }

  private onAllFailed(errors: string[]): void {
    this.dialing = undefined;
    if (this.closed) return;
    this.failures++;
    this.lastError = errors.join('; ');
    this.deps.log.warn({ region: this.region.id, errors }, 'relay: no server of the region could be reached');
    this.scheduleRetry(this.restartDelayMs ?? reconnectDelayMs(this.failures, this.deps.random()));
  }

  private scheduleRetry(delayMs: number): void {
    this.retryTimer?.();
    this.retryTimer = this.deps.clock.setTimer(delayMs, () => {
      this.retryTimer = undefined;
      this.restartDelayMs = undefined;
      this.connect();
    });
  }
}
