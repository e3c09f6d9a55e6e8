/**
 * The NAT-PMP + PCP server without sockets: bytes in, bytes out, firewall changes through the
 * backend, time through the Clock. Stages follow RFC 6887 8.3: classify → decode/validate (drop or
 * answer with the RFC's error) → decide (policy) → act (backend) → answer; every decision is logged.
 * All work runs through one queue so the table and the firewall never disagree mid-change; mapping
 * requests reach it through a group commit (commit-queue.ts): one firewall transaction per batch.
 */
import type { Clock, CancelTimer } from '../clock/clock.ts';
import type { Logger } from '../log/logger.ts';
import type { PortMapBackend } from '../fw/backend.ts';
import { parseIPv4 } from '../net/ip.ts';
import { PMP_VERSION, PmpResult, encodePmpAnnouncement, encodePmpResponse } from '../pmp/codec.ts';
import { PCP_VERSION, encodePcpAnnouncement } from '../pcp/codec.ts';
import { announcementSchedule, type Announcement } from './announce.ts';
import { Epoch } from './epoch.ts';
import type { Decision, MappingRequest, PmpPolicy } from './policy.ts';
import { CommitQueue, decideBatch } from './commit-queue.ts';
import { handlePcp, handlePmp, MAX_PACKET, type RequestContext, type Source } from './requests.ts';
import { RateLimiter } from './ratelimit.ts';
import { DecisionTally } from './tally.ts';
import { MappingTable, type Mapping } from './table.ts';
import { ConegateError } from '../errors.ts';
import { recoverSaved, saveState } from './recovery.ts';

export interface CoreDeps {
  clock: Clock;
  log: Logger;
  backend: PortMapBackend;
  /** Sends one announcement packet; errors are the edge's to log. */
  announce?: (a: Announcement, packet: Uint8Array) => void;
  /** Wall-clock ms, only to carry the epoch across a clean restart. */
  wallNowMs?: () => number;
}

export interface CoreOptions {
  policy: PmpPolicy;
  /** Where the table and epoch persist; none = in memory only (a restart loses the epoch). */
  stateFile?: string;
  /** How often the backend is read back to notice a flush. */
  backendCheckMs?: number;
  /** Debounce of state writes. */
  persistDelayMs?: number;
  announceIpv6?: boolean;
  /** Requests waiting for the firewall beyond this are dropped (clients retransmit). @default 256 */
  maxPending?: number;
  /** How often the per-result counters are summarised at info (only when something happened). @default 5 min */
  summaryIntervalMs?: number;
}

export type { Source } from './requests.ts';

export class PmpCore {
  readonly table = new MappingTable();
  private epoch: Epoch;
  private externalAddress: string | undefined;
  private readonly limiter: RateLimiter;
  private queue: Promise<unknown> = Promise.resolve();
  private timers: CancelTimer[] = [];
  private expiryTimer: CancelTimer | undefined;
  private expiryAtMs = 0;
  private persistTimer: CancelTimer | undefined;
  private checkTimer: CancelTimer | undefined;
  private started = false;
  private readonly ctx: RequestContext;
  private pending = 0;
  private publicAnswer: { epochSec: number; address: string | undefined; bytes: Uint8Array } | undefined;
  /** False until the saved state is recovered: an answer before that would carry a wrong epoch. */
  private ready = false;
  /** Mapping requests wait here while a firewall transaction is in flight, then go as one batch. */
  // setImmediate, not a timer: a batch starts once the datagrams already received have joined it.
  private readonly commits = new CommitQueue<MappingRequest, Decision>((reqs) => this.serial(() => this.commitBatch(reqs)), 256, (start) => setImmediate(start));
  /** Counters for tests, logs and `pmp list`. */
  readonly stats = { received: 0, answered: 0, dropped: 0, rateLimited: 0, granted: 0, refused: 0, deleted: 0, epochResets: 0, overloaded: 0 };
  /** Outcomes by protocol and result code; decisions are logged at debug, a summary at info. */
  readonly tally: DecisionTally;

  constructor(
    private readonly options: CoreOptions,
    private readonly deps: CoreDeps,
    externalAddress?: string,
  ) {
    this.epoch = new Epoch(deps.clock.nowMs());
    this.externalAddress = externalAddress;
    this.limiter = new RateLimiter(options.policy.requestsPerClientPerSec);
    this.tally = new DecisionTally(deps, options.summaryIntervalMs);
    this.ctx = {
      log: deps.log,
      epochSec: () => this.epochSec(),
      externalAddress: () => this.externalAddress,
      publicAddress: (src) => this.publicAddress(src),
      act: (req) => this.commits.submit(req),
      logDecision: (...a) => this.logDecision(...a),
    };
  }

  /** The WAN address answers are built with (undefined while there is none). */
  wanAddress(): string | undefined {
    return this.externalAddress;
  }

  epochSec(): number {
    return this.epoch.sec(this.deps.clock.nowMs());
  }

  /** Restores state (or detects its loss), arms timers and announces. Idempotent. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.serial(() => this.recover());
    this.ready = true;
    this.tally.start();
    this.scheduleBackendCheck();
    this.announce();
  }

  /** Cancels every timer and writes the state as clean. Idempotent; leaves the firewall rules in place. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.ready = false;
    for (const c of [...this.timers, this.expiryTimer, this.persistTimer, this.checkTimer]) c?.();
    this.timers = [];
    this.expiryTimer = this.persistTimer = this.checkTimer = undefined;
    this.tally.stop();
    await this.serial(() => this.persist(true));
  }

  /** Handles one datagram from a LAN source; resolves to the answer, or undefined to send nothing. */
  handle(packet: Uint8Array, src: Source): Promise<Uint8Array | undefined> {
    // A public-address request only reads; answer it at once so a queue of firewall changes
    // never delays the cheap, frequent question.
    const fast = this.answerNow(packet, src);
    if (fast !== false) return Promise.resolve(fast);
    this.stats.received++;
    if (this.pending >= (this.options.maxPending ?? 256)) {
      this.stats.overloaded++;
      this.tally.count('dropped:overloaded');
      return Promise.resolve(undefined);
    }
    this.pending++;
    // Decoding and answering need no queue; a mapping change joins the group commit (act). Before the
    // saved state is recovered, wait for it: an answer would carry a wrong epoch.
    const run = async (): Promise<Uint8Array | undefined> => {
      try {
        const out = await this.dispatch(packet, src);
        if (out) this.stats.answered++;
        else {
          this.stats.dropped++;
          this.tally.count('dropped');
        }
        return out;
      } finally {
        this.pending--;
      }
    };
    return this.ready ? run() : this.serial(async () => undefined).then(run);
  }

  /**
   * The synchronous path for a public-address request (only reads state): the answer, undefined when
   * rate limited, or false when the packet needs the queued path (handle()).
   */
  answerNow(packet: Uint8Array, src: Source): Uint8Array | undefined | false {
    if (packet.length !== 2 || packet[0] !== PMP_VERSION || packet[1] !== 0) return false;
    this.stats.received++;
    if (!this.ready) return undefined;
    if (!this.limiter.take(src.address, this.deps.clock.nowMs())) {
      this.stats.rateLimited++;
      this.tally.count('dropped:rateLimited');
      return undefined;
    }
    this.stats.answered++;
    this.tally.count('pmp:publicAddress');
    return this.publicAddress(src);
  }

  /** Resolves once everything queued so far (requests, expiries, checks) is done. */
  async idle(): Promise<void> {
    do {
      await this.commits.idle();
      await this.serial(async () => undefined);
    } while (this.commits.size > 0);
  }

  /** Tells the core the WAN address; a change loses every mapping (they point at the old address). */
  setExternalAddress(addr: string | undefined): Promise<void> {
    return this.serial(async () => {
      if (addr === this.externalAddress) return;
      const had = this.externalAddress;
      this.externalAddress = addr;
      this.deps.log.warn({ from: had ?? null, to: addr ?? null }, 'pmpd: WAN address changed');
      if (had !== undefined) await this.resetTable('wan address changed');
      else this.announce();
    });
  }

  /**
   * Deletes one mapping (the page's delete button): its firewall rule first, then the table entry, so a
   * refused firewall change leaves both as they were. The other mappings and the epoch stay: losing
   * one mapping on purpose is not losing the table (RFC 6886 3.6 resets the epoch only for that).
   */
  deleteMapping(client: string, transport: Mapping['transport'], internalPort: number): Promise<Mapping> {
    return this.serial(async () => {
      const m = this.table.ofClient(client, transport).find((x) => x.internalPort === internalPort);
      if (!m) throw new ConegateError('CG_NOT_FOUND', `no ${transport} mapping of ${client} for internal port ${internalPort}`);
      await this.deps.backend.apply([{ op: 'remove', id: m.id }]);
      this.table.remove(m.transport, m.internalAddress, m.internalPort);
      this.stats.deleted++;
      this.deps.log.info({ id: m.id, client: m.client }, 'pmpd: mapping deleted by the admin');
      this.armExpiry();
      this.schedulePersist();
      return m;
    });
  }

  /** Reads the firewall back; if our rules are gone (someone flushed it), the table is lost. */
  checkBackend(): Promise<void> {
    return this.serial(async () => {
      if (this.table.size === 0) return;
      const installed = new Set((await this.deps.backend.list()).map((m) => m.id));
      const missing = this.table.all().filter((m) => !installed.has(m.id));
      if (missing.length > 0) await this.resetTable(`firewall lost ${missing.length} mapping(s)`);
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  // ---- state ----

  private async recover(): Promise<void> {
    const log = this.deps.log;
    const now = this.deps.clock.nowMs();
    const r = await recoverSaved({ stateFile: this.options.stateFile, backend: this.deps.backend, externalAddress: this.externalAddress, nowMs: now, wallNowMs: this.wallNowMs() });
    if (r.kind === 'restored') {
      for (const m of r.mappings) this.table.put(m);
      this.epoch = new Epoch(now, r.epochSec);
      log.info({ mappings: r.mappings.length, epochSec: r.epochSec }, 'pmpd: state restored, epoch continues');
    } else {
      await this.deps.backend.flush();
      this.epoch = new Epoch(now);
      this.stats.epochResets++;
      log.warn({ reason: r.reason }, 'pmpd: starting a new epoch');
    }
    await this.persist(false);
    this.armExpiry();
  }

  private async resetTable(reason: string): Promise<void> {
    this.deps.log.warn({ reason, mappings: this.table.size }, 'pmpd: mapping table lost, new epoch');
    try {
      await this.deps.backend.flush();
    } catch (err) {
      this.deps.log.error({ err }, 'pmpd: flushing the firewall failed');
    }
    this.table.clear();
    this.epoch.reset(this.deps.clock.nowMs());
    this.stats.epochResets++;
    this.armExpiry();
    this.schedulePersist();
    this.announce();
  }

  private wallNowMs(): number {
    return (this.deps.wallNowMs ?? Date.now)();
  }

  private async persist(clean: boolean): Promise<void> {
    const stateFile = this.options.stateFile;
    if (!stateFile) return;
    const { table, externalAddress } = this;
    const err = await saveState({ stateFile, mappings: table.all(), epochSec: this.epochSec(), nowMs: this.deps.clock.nowMs(), wallNowMs: this.wallNowMs(), clean, externalAddress, backend: this.deps.backend.name });
    if (err) this.deps.log.error({ err, file: stateFile }, 'pmpd: cannot write state');
  }

  private schedulePersist(): void {
    if (!this.options.stateFile || this.persistTimer || !this.started) return;
    this.persistTimer = this.deps.clock.setTimer(this.options.persistDelayMs ?? 1000, () => {
      this.persistTimer = undefined;
      void this.serial(() => this.persist(false));
    });
  }

  // ---- timers ----

  /**
   * Keeps one timer at the earliest expiry. A renewal pushes expiries later, so the armed timer is
   * kept (it re-arms itself when it fires early); only an earlier expiry re-arms it. That keeps
   * timer churn off the renewal path, which is most of the traffic.
   */
  private armExpiry(): void {
    const next = this.table.nextExpiryMs();
    if (next === undefined || !this.started) {
      this.expiryTimer?.();
      this.expiryTimer = undefined;
      return;
    }
    if (this.expiryTimer && this.expiryAtMs <= next) return;
    this.expiryTimer?.();
    this.expiryAtMs = next;
    this.expiryTimer = this.deps.clock.setTimer(next - this.deps.clock.nowMs(), () => {
      this.expiryTimer = undefined;
      void this.serial(async () => {
        const gone = this.table.expire(this.deps.clock.nowMs());
        for (const m of gone) {
          this.deps.log.debug({ id: m.id, client: m.client }, 'pmpd: mapping expired');
          this.tally.count('expired');
        }
        if (gone.length > 0) {
          await this.deps.backend.apply(gone.map((m) => ({ op: 'remove' as const, id: m.id }))).catch((err: unknown) => this.deps.log.error({ err, ids: gone.map((m) => m.id) }, 'pmpd: removing expired rules failed'));
        }
        this.armExpiry();
        this.schedulePersist();
      });
    });
  }

  private scheduleBackendCheck(): void {
    const every = this.options.backendCheckMs ?? 30_000;
    if (!this.started || every <= 0) return;
    this.checkTimer = this.deps.clock.setTimer(every, () => {
      this.checkTimer = undefined;
      void this.checkBackend()
        .catch((err: unknown) => this.deps.log.error({ err }, 'pmpd: reading the firewall failed'))
        .finally(() => this.scheduleBackendCheck());
    });
  }

  /** Arms the announcement schedule; each packet is encoded when sent so its epoch is current. */
  private announce(): void {
    const send = this.deps.announce;
    if (!send || !this.started) return;
    const now = this.deps.clock.nowMs();
    for (const a of announcementSchedule(now, { ipv6: this.options.announceIpv6 === true })) {
      const cancel = this.deps.clock.setTimer(a.atMs - now, () => {
        this.timers = this.timers.filter((t) => t !== cancel);
        const ext = this.externalAddress === undefined ? undefined : parseIPv4(this.externalAddress);
        if (a.protocol === 'pmp' && !ext) return;
        send(a, a.protocol === 'pmp' ? encodePmpAnnouncement(this.epochSec(), ext!) : encodePcpAnnouncement(this.epochSec()));
      });
      this.timers.push(cancel);
    }
  }

  // ---- requests ----

  private async dispatch(b: Uint8Array, src: Source): Promise<Uint8Array | undefined> {
    const log = this.deps.log;
    if (b.length < 2) return undefined;
    if (!this.limiter.take(src.address, this.deps.clock.nowMs())) {
      this.stats.rateLimited++;
      this.tally.count('dropped:rateLimited');
      log.debug({ client: src.address }, 'pmpd: rate limited, dropped');
      return undefined;
    }
    if (b[0] === PMP_VERSION) return handlePmp(this.ctx, b, src);
    if (b.length > MAX_PACKET && b[0] !== PCP_VERSION) return undefined;
    // Version 2, and every other version (RFC 6887 9: a server speaking both answers unknown versions
    // with PCP UNSUPP_VERSION carrying the version it does speak).
    return handlePcp(this.ctx, b, src);
  }

  /**
   * The public-address answer. It changes only with the epoch second and the WAN address, so it is
   * built once per second (the hot path of every NAT-PMP client); Node sends a copy-free view of it.
   */
  private publicAddress(_src: Source): Uint8Array {
    const epochSec = this.epochSec();
    const cached = this.publicAnswer;
    if (cached && cached.epochSec === epochSec && cached.address === this.externalAddress) return cached.bytes;
    const ext = this.externalAddress === undefined ? undefined : parseIPv4(this.externalAddress);
    const bytes = encodePmpResponse({ kind: 'publicAddress', result: ext ? PmpResult.SUCCESS : PmpResult.NETWORK_FAILURE, epochSec, externalAddress: ext ?? new Uint8Array(4) });
    this.publicAnswer = { epochSec, address: this.externalAddress, bytes };
    return bytes;
  }

  /**
   * One group commit: decide every request against the table (each seeing the ones before it), apply
   * the firewall changes as one transaction, and on failure put the table back and answer every
   * changing request NETWORK_FAILURE (RFC 6886 3.5 result 3, RFC 6887 7.4 result 7).
   */
  private async commitBatch(reqs: MappingRequest[]): Promise<Decision[]> {
    const batch = decideBatch(reqs, this.table, this.options.policy, this.externalAddress, this.deps.clock.nowMs());
    if (batch.changes.length > 0) {
      try {
        await this.deps.backend.apply(batch.changes);
      } catch (err) {
        batch.undo();
        this.stats.refused += reqs.length;
        this.deps.log.error({ err, requests: reqs.length, changes: batch.changes.length }, 'pmpd: firewall refused the batch; table unchanged');
        return batch.decisions.map((d) => (d.kind === 'refuse' ? d : { kind: 'refuse', refusal: 'firewallFailed', detail: (err as Error).message }));
      }
    }
    for (const d of batch.decisions) {
      if (d.kind === 'refuse') this.stats.refused++;
      else if (d.kind === 'delete') this.stats.deleted += d.mappings.length;
      else this.stats.granted++;
    }
    this.armExpiry();
    this.schedulePersist();
    return batch.decisions;
  }

  private logDecision(src: Source, via: 'pmp' | 'pcp', what: string, result: string, detail: string): void {
    // One line per request only at debug: a LAN host can send thousands a second, and routers log to flash.
    this.deps.log.debug({ client: `${src.address}:${src.port}`, via, request: what, result, detail }, 'pmpd: decision');
    this.tally.count(`${via}:${result}`);
  }
}
