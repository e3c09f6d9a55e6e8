/**
 * Group commit of mapping requests. A firewall transaction costs about the same for one change as for
 * fifty, so requests that arrive while one is in flight wait together and are then decided and
 * applied as ONE transaction (PortMapBackend.apply). Two parts, both without I/O or clocks:
 *
 * - CommitQueue: collects items while a batch runs and hands the whole backlog to `run` at once.
 *   The first item of a quiet period starts through `schedule` (the server passes setImmediate: after
 *   the datagrams already readable have been handled, so they join it, with no timer and no delay
 *   beyond that turn of the event loop; a synchronous backend would otherwise get batches of one).
 * - decideBatch: decides the requests of a batch one after another against the table, applying each
 *   decision to the table so later ones see it (two requests in one batch never get the same port),
 *   and returns the backend changes plus an undo that puts the table back exactly as it was: a
 *   refused transaction answers every changing request of the batch with NETWORK_FAILURE and leaves
 *   table and firewall as they were.
 */
import type { PortMapChange, PortMapping } from '../fw/backend.ts';
import { decide, type Decision, type MappingRequest, type PmpPolicy } from './policy.ts';
import type { Mapping, MappingTable } from './table.ts';

interface Waiting<R, O> {
  item: R;
  resolve: (o: O) => void;
  reject: (err: unknown) => void;
}

export class CommitQueue<R, O> {
  private waiting: Waiting<R, O>[] = [];
  private running = false;
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];
  /** Batches run and their sizes, for stats and tests. */
  readonly stats = { batches: 0, items: 0, largest: 0 };

  /**
   * @param run decides and applies one batch, one outcome per item in order; a throw rejects every item.
   * @param maxBatch bound on one batch (the rest waits for the next).
   * @param schedule how a batch is started when none is running. @default at once
   */
  constructor(
    private readonly run: (items: R[]) => Promise<O[]>,
    private readonly maxBatch = 256,
    private readonly schedule: (start: () => void) => void = (start) => start(),
  ) {}

  submit(item: R): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.running || this.scheduled) return;
      this.scheduled = true;
      this.schedule(() => {
        this.scheduled = false;
        void this.drain();
      });
    });
  }

  /** Items submitted and not yet answered. */
  get size(): number {
    return this.waiting.length + (this.running ? 1 : 0);
  }

  /** Resolves when nothing is waiting or running. */
  idle(): Promise<void> {
    if (!this.running && !this.scheduled && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.maxBatch);
      this.stats.batches++;
      this.stats.items += batch.length;
      this.stats.largest = Math.max(this.stats.largest, batch.length);
      try {
        const out = await this.run(batch.map((w) => w.item));
        batch.forEach((w, i) => w.resolve(out[i]!));
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    this.running = false;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

export interface DecidedBatch {
  decisions: Decision[];
  /** What the firewall must do for the batch, in order; empty when only lifetimes changed. */
  changes: PortMapChange[];
  /** Puts the table back as it was before the batch. */
  undo(): void;
}

/** Decides every request of a batch against the table, in arrival order (see the file comment). */
export function decideBatch(reqs: MappingRequest[], table: MappingTable, policy: PmpPolicy, externalAddress: string | undefined, nowMs: number): DecidedBatch {
  const undos: (() => void)[] = [];
  const changes: PortMapChange[] = [];
  const decisions = reqs.map((req) => {
    const d = decide(req, table, policy, externalAddress, nowMs);
    if (d.kind === 'delete') {
      for (const m of d.mappings) {
        table.remove(m.transport, m.internalAddress, m.internalPort);
        undos.push(() => table.put(m));
        changes.push({ op: 'remove', id: m.id });
      }
    } else if (d.kind === 'grant') {
      const m = d.mapping;
      const old = table.get(m.transport, m.internalAddress, m.internalPort);
      if (!old || !sameRule(old, m)) changes.push({ op: 'add', mapping: { ...ruleOf(m), externalAddress: externalAddress! } });
      table.put(m);
      undos.push(() => (old ? table.put(old) : table.remove(m.transport, m.internalAddress, m.internalPort)));
    }
    return d;
  });
  return { decisions, changes, undo: () => undos.reverse().forEach((u) => u()) };
}

function ruleOf(m: Mapping): Omit<PortMapping, 'externalAddress'> {
  const r: Omit<PortMapping, 'externalAddress'> = { id: m.id, transport: m.transport, externalPort: m.externalPort, internalAddress: m.internalAddress, internalPort: m.internalPort };
  if (m.remote) r.remote = { ...m.remote };
  return r;
}

/** True if the firewall rule would be identical (a renewal that only extends the lifetime). */
function sameRule(a: Mapping, b: Mapping): boolean {
  return a.externalPort === b.externalPort && JSON.stringify(a.remote ?? null) === JSON.stringify(b.remote ?? null);
}
