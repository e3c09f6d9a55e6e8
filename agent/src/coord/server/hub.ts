/**
 * The map hub: every open GET /v1/map stream of this coordinator, fed from the store's change log.
 * It wakes on store.onChange (this process, or another replica through LISTEN/NOTIFY), waits
 * LIMITS.coalesceMs so a burst becomes one message, reads changesSince(cursor), loads each changed node
 * once, builds ONE delta (views.ts) and writes it to every stream. Work per change: one read per
 * changed node plus one write per stream; bytes per change do not grow with the number of nodes.
 *
 * A stream attaches at the hub's cursor C: its first message (a full map, or on resume the changes
 * since the node's seq) reflects at least C, and deltas after C queue until that first message is out,
 * so nothing falls between the two (a change seen twice is harmless: patches are idempotent).
 *
 * Subnet routes: a peer's `routes` are the prefixes it is the primary router for (route-primaries.ts).
 * The plan is redone on every batch that can change it (routes, nodes coming, going, connecting or
 * disconnecting); nodes whose served set moved get a routes patch in that same delta. When a primary's
 * grace runs out with no change in the log, a timer appends a 'routes' change for the nodes the prefix
 * moves between (store.noteRoutesMoved), so the move is in the log and reaches resumed streams too.
 * Online means "has a stream on this replica", as for `online` in the map: with several PostgreSQL
 * replicas each plans from its own streams.
 */
import type { Clock, CancelTimer } from '../../clock/clock.ts';
import type { Logger } from '../../log/logger.ts';
import { LIMITS, type MapMessage, type RelayMap } from '../protocol.ts';
import type { ChangeRecord, CoordStore, NodeRecord, RouteRecord } from '../store/types.ts';
import { movedNodes, planPrimaries, servedRoutes } from './route-primaries.ts';
import { buildBatch, deltaFor, foldChanges, peerOf, selfOf, type Delta, type FoldedChange } from './views.ts';

/** Where one stream's lines go; the HTTP edge implements it (and cuts a client that does not read). */
export interface StreamSink {
  /** Writes one NDJSON line; false when the stream is gone or was cut for not reading. */
  write(line: string): boolean;
  end(): void;
}

export interface HubDeps {
  store: CoordStore;
  clock: Clock;
  /** Wall-clock ms for lastSeenMs. */
  wallNowMs: () => number;
  /** 0 <= x < 1, for keepalive jitter. */
  random: () => number;
  log: Logger;
  relays: RelayMap;
}

export interface HubOptions {
  coalesceMs?: number;
  keepaliveSec?: number;
  keepaliveJitterSec?: number;
  /** Changes read per store call. */
  pageSize?: number;
  /** A resume further back than this many changes gets a full map instead. */
  maxCatchUp?: number;
  /**
   * How long a primary subnet router keeps its prefixes after its stream went away. Short enough that a
   * dead router's site is reachable through another within 10 s (issue 18), long enough that a node
   * reconnecting after a cut (first retry about 1 s, backoff.ts) or a coordinator restart moves nothing.
   */
  failoverGraceMs?: number;
  /**
   * How long a primary whose health probe into a prefix fails keeps it before it moves to a healthy router
   * (the router reports only after repeated failed probes; this absorbs a report racing a recovery).
   */
  healthGraceMs?: number;
}

/** Default failover grace (see HubOptions.failoverGraceMs). */
export const FAILOVER_GRACE_MS = 6_000;
/** Default health grace (see HubOptions.healthGraceMs). */
export const HEALTH_GRACE_MS = 1_000;

interface Stream {
  nodeId: string;
  sink: StreamSink;
  /** Lines held back until the first message is written; null once live. */
  pending: string[] | null;
  cancelKeepalive: CancelTimer;
  closed: boolean;
}

export class MapHub {
  private cursor = 0;
  private readonly streams = new Map<string, Stream>();
  private unsubscribe: (() => void) | undefined;
  private coalesceTimer: CancelTimer | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** Prefix -> primary node id, and since when (monotonic ms) each node without a stream is offline. */
  private primaries = new Map<string, string>();
  private readonly offlineSince = new Map<string, number>();
  /** Node id -> prefix -> since when (monotonic ms) the node's health probe into it fails. */
  private readonly unhealthy = new Map<string, Map<string, number>>();
  private startedAtMs = 0;
  private cancelRecheck: CancelTimer | undefined;
  private readonly opts: Required<HubOptions>;
  /** Counters a test or the bench reads. */
  readonly stats = { batches: 0, linesWritten: 0, bytesWritten: 0, streamsCut: 0 };

  constructor(private readonly deps: HubDeps, options: HubOptions = {}) {
    this.opts = {
      coalesceMs: options.coalesceMs ?? LIMITS.coalesceMs,
      keepaliveSec: options.keepaliveSec ?? LIMITS.keepaliveSec,
      keepaliveJitterSec: options.keepaliveJitterSec ?? LIMITS.keepaliveJitterSec,
      pageSize: options.pageSize ?? 1000,
      maxCatchUp: options.maxCatchUp ?? 10_000,
      failoverGraceMs: options.failoverGraceMs ?? FAILOVER_GRACE_MS,
      healthGraceMs: options.healthGraceMs ?? HEALTH_GRACE_MS,
    };
  }

  async start(): Promise<void> {
    if (this.unsubscribe) return;
    this.stopped = false;
    this.cursor = await this.deps.store.latestSeq();
    // Nodes not connected yet count as offline since now: the grace covers their reconnect after a restart.
    this.startedAtMs = this.deps.clock.nowMs();
    this.replan(await this.deps.store.listRoutes());
    this.unsubscribe = this.deps.store.onChange((seq) => this.wake(seq));
  }

  /** Ends every stream and disarms every timer (idempotent). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.coalesceTimer?.();
    this.coalesceTimer = undefined;
    this.cancelRecheck?.();
    this.cancelRecheck = undefined;
    for (const s of [...this.streams.values()]) this.close(s);
    this.streams.clear();
  }

  isOnline(nodeId: string): boolean {
    return this.streams.has(nodeId);
  }

  get streamCount(): number {
    return this.streams.size;
  }

  get seq(): number {
    return this.cursor;
  }

  /**
   * Opens a node's stream: a newer stream of the same node replaces the older one. `since` asks for a
   * resume from the log; a seq the log no longer has (or never had) gets a full map.
   */
  async attach(node: NodeRecord, sink: StreamSink, since?: number): Promise<void> {
    const old = this.streams.get(node.id);
    if (old) this.close(old);
    const atSeq = this.cursor;
    const stream: Stream = { nodeId: node.id, sink, pending: [], cancelKeepalive: () => {}, closed: false };
    this.streams.set(node.id, stream);
    this.offlineSince.delete(node.id);
    try {
      await this.touch(node.id);
      const first = (since !== undefined && (await this.catchUp(node.id, since, atSeq))) || (await this.fullMap(node.id, atSeq));
      if (stream.closed) return;
      this.send(stream, JSON.stringify(first) + '\n');
      const queued = stream.pending ?? [];
      stream.pending = null;
      for (const line of queued) this.send(stream, line);
      this.armKeepalive(stream);
    } catch (err) {
      this.deps.log.warn({ err, node: node.id }, 'coord: stream could not start');
      this.close(stream);
    }
  }

  /**
   * A router's health report (POST /v1/route-health): the prefixes its probe fails for now, replacing its
   * last report. A change plans the primaries again at once (a move goes into the log like a failover).
   */
  async setRouteHealth(nodeId: string, unhealthy: string[]): Promise<void> {
    const before = this.unhealthy.get(nodeId) ?? new Map<string, number>();
    const now = this.deps.clock.nowMs();
    const next = new Map(unhealthy.map((c) => [c, before.get(c) ?? now] as const));
    if (next.size) this.unhealthy.set(nodeId, next);
    else this.unhealthy.delete(nodeId);
    if (next.size === before.size && [...next.keys()].every((c) => before.has(c))) return;
    this.deps.log.info({ node: nodeId, unhealthy }, 'coord: subnet route health changed');
    if (!this.stopped) await this.recheck();
  }

  /** The client went away (socket closed): forget the stream and mark the node offline. */
  detach(nodeId: string, sink: StreamSink): Promise<void> {
    const s = this.streams.get(nodeId);
    if (!s || s.sink !== sink) return Promise.resolve();
    this.close(s);
    return this.stopped ? Promise.resolve() : this.touch(nodeId);
  }

  private close(s: Stream): void {
    if (s.closed) return;
    s.closed = true;
    s.cancelKeepalive();
    if (this.streams.get(s.nodeId) === s) {
      this.streams.delete(s.nodeId);
      this.offlineSince.set(s.nodeId, this.deps.clock.nowMs());
    }
    s.sink.end();
  }

  /**
   * lastSeenMs moves on connect and disconnect; the change it appends tells every peer `online` flipped.
   * It always moves forward (at least 1 ms), so a connect and disconnect within one millisecond still
   * make a change.
   */
  private async touch(nodeId: string): Promise<void> {
    try {
      const n = await this.deps.store.nodeById(nodeId);
      if (!n || n.revokedAtMs !== null) return;
      const now = this.deps.wallNowMs();
      await this.deps.store.updateNode(nodeId, { lastSeenMs: Math.max(now, n.lastSeenMs + 1) }, now);
    } catch (err) {
      this.deps.log.warn({ err, node: nodeId }, 'coord: could not record last seen');
    }
  }

  private async fullMap(nodeId: string, atSeq: number): Promise<MapMessage> {
    const [nodes, routes] = await Promise.all([this.deps.store.listNodes(), this.deps.store.listRoutes()]);
    const me = nodes.find((n) => n.id === nodeId);
    if (!me) throw new Error('node left the map while its stream opened');
    return {
      t: 'full',
      seq: atSeq,
      self: selfOf(me, routes),
      peers: nodes.filter((n) => n.id !== nodeId).map((n) => peerOf(n, servedRoutes(this.primaries, n.id), this.isOnline(n.id))),
      relays: this.deps.relays,
      keepaliveSec: this.opts.keepaliveSec,
    };
  }

  /** The changes (since, atSeq] as one delta, or undefined when the log cannot serve them. */
  private async catchUp(nodeId: string, since: number, atSeq: number): Promise<Delta | undefined> {
    if (since > atSeq) return since <= (await this.deps.store.latestSeq()) ? { t: 'delta', seq: atSeq } : undefined;
    // The log holds every seq >= oldestSeq, so it can serve (since, atSeq] when since >= oldestSeq - 1.
    if ((await this.deps.store.oldestSeq()) - 1 > since) return undefined;
    const changes = (await this.deps.store.changesSince(since, this.opts.maxCatchUp + 1)).filter((c) => c.seq <= atSeq);
    if (changes.length > this.opts.maxCatchUp) return undefined;
    if (changes.length === 0) return { t: 'delta', seq: atSeq };
    const batch = await this.batchOf(changes, atSeq, false);
    return deltaFor(nodeId, batch) ?? { t: 'delta', seq: atSeq };
  }

  private wake(seq: number): void {
    if (this.stopped || seq <= this.cursor || this.coalesceTimer) return;
    this.coalesceTimer = this.deps.clock.setTimer(this.opts.coalesceMs, () => {
      this.coalesceTimer = undefined;
      void this.drain();
    });
  }

  /**
   * Reads the log from the cursor and broadcasts. One drain at a time: a call during a drain makes it
   * run once more and returns the running one, so awaiting drain() always covers every change so far.
   */
  drain(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.drainLoop().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async drainLoop(): Promise<void> {
    try {
      do {
        this.again = false;
        for (;;) {
          const changes = await this.deps.store.changesSince(this.cursor, this.opts.pageSize);
          if (changes.length === 0 || this.stopped) break;
          const seq = changes[changes.length - 1]!.seq;
          this.broadcast(await this.batchOf(changes, seq, true));
          this.cursor = seq;
          if (changes.length < this.opts.pageSize) break;
        }
      } while (this.again && !this.stopped);
    } catch (err) {
      this.deps.log.error({ err }, 'coord: reading the change log failed; retrying on the next change');
    }
  }

  /**
   * `live`: the batch goes to every stream now, so the primaries are planned again and nodes whose
   * served routes moved join it. A catch-up for one stream plans nothing; it sends the routes of every
   * node serving any (a move made without a log entry of the gaining node is covered that way).
   */
  private async batchOf(changes: ChangeRecord[], seq: number, live: boolean) {
    const folded = foldChanges(changes);
    const values = [...folded.values()];
    const replan = values.some((f) => f.routes || f.upsert || f.remove || f.fields.has('lastSeenMs'));
    const needRoutes = replan || values.some((f) => f.routes || f.upsert);
    const routes: RouteRecord[] = needRoutes ? await this.deps.store.listRoutes() : [];
    if (replan) {
      const touched = live ? this.replan(routes) : [...new Set(this.primaries.values())];
      for (const id of touched) routesChanged(folded, id);
    }
    const ids = [...folded.keys()];
    const loaded = await Promise.all(ids.map((id) => this.deps.store.nodeById(id)));
    const nodes = new Map(ids.map((id, i) => [id, loaded[i]] as const));
    return buildBatch({ seq, folded, nodes, routes, served: (id) => servedRoutes(this.primaries, id), online: (id) => this.isOnline(id) });
  }

  private planFrom(routes: RouteRecord[]) {
    return planPrimaries({
      routes,
      current: this.primaries,
      online: (id) => this.isOnline(id),
      offlineSinceMs: (id) => (this.isOnline(id) ? undefined : (this.offlineSince.get(id) ?? this.startedAtMs)),
      nowMs: this.deps.clock.nowMs(),
      graceMs: this.opts.failoverGraceMs,
      unhealthySinceMs: (id, cidr) => this.unhealthy.get(id)?.get(cidr),
      healthGraceMs: this.opts.healthGraceMs,
    });
  }

  /** Plans the primaries again; returns the nodes whose served routes moved. */
  private replan(routes: RouteRecord[]): string[] {
    const plan = this.planFrom(routes);
    const moved = movedNodes(this.primaries, plan.primaries);
    if (moved.length) this.deps.log.info({ primaries: Object.fromEntries(plan.primaries), moved }, 'coord: subnet route primaries changed');
    this.primaries = plan.primaries;
    this.armRecheck(plan.recheckAtMs);
    return moved;
  }

  private armRecheck(atMs: number | undefined): void {
    this.cancelRecheck?.();
    this.cancelRecheck = undefined;
    if (atMs === undefined || this.stopped) return;
    this.cancelRecheck = this.deps.clock.setTimer(Math.max(0, atMs - this.deps.clock.nowMs()), () => {
      this.cancelRecheck = undefined;
      void this.recheck();
    });
  }

  /** A grace ran out: if a prefix moves now, put the move in the log (the drain then plans and sends it). */
  private async recheck(): Promise<void> {
    try {
      const plan = this.planFrom(await this.deps.store.listRoutes());
      if (this.stopped) return;
      const moved = movedNodes(this.primaries, plan.primaries);
      if (moved.length) await this.deps.store.noteRoutesMoved(moved, this.deps.wallNowMs());
      else this.armRecheck(plan.recheckAtMs);
    } catch (err) {
      this.deps.log.error({ err }, 'coord: subnet route failover check failed; retrying on the next change');
    }
  }

  private broadcast(batch: ReturnType<typeof buildBatch>): void {
    this.stats.batches++;
    const removed = new Set(batch.removed);
    const shared = deltaFor('', batch);
    const sharedLine = shared ? JSON.stringify(shared) + '\n' : undefined;
    for (const s of [...this.streams.values()]) {
      if (removed.has(s.nodeId)) {
        // Revoked or logged out: its stream ends now, whatever it was about to receive.
        this.close(s);
        continue;
      }
      const touches = batch.selfPatches.has(s.nodeId) || batch.delta.upsert?.some((p) => p.id === s.nodeId) || batch.delta.patch?.some((p) => p.id === s.nodeId);
      const line = touches ? lineOf(deltaFor(s.nodeId, batch)) : sharedLine;
      if (line) this.send(s, line);
    }
  }

  private send(s: Stream, line: string): void {
    if (s.closed) return;
    if (s.pending) {
      s.pending.push(line);
      return;
    }
    if (!s.sink.write(line)) {
      this.stats.streamsCut++;
      void this.detach(s.nodeId, s.sink);
      return;
    }
    this.stats.linesWritten++;
    this.stats.bytesWritten += Buffer.byteLength(line);
  }

  private armKeepalive(s: Stream): void {
    const delayMs = (this.opts.keepaliveSec + this.deps.random() * this.opts.keepaliveJitterSec) * 1000;
    s.cancelKeepalive = this.deps.clock.setTimer(delayMs, () => {
      this.send(s, KEEPALIVE_LINE);
      if (!s.closed) this.armKeepalive(s);
    });
  }
}

function routesChanged(folded: Map<string, FoldedChange>, nodeId: string): void {
  const f = folded.get(nodeId);
  if (f) f.routes = true;
  else folded.set(nodeId, { nodeId, upsert: false, remove: false, routes: true, fields: new Set() });
}

const KEEPALIVE_LINE = JSON.stringify({ t: 'keepalive' } satisfies MapMessage) + '\n';

function lineOf(d: Delta | undefined): string | undefined {
  return d ? JSON.stringify(d) + '\n' : undefined;
}
