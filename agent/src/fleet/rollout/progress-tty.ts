/**
 * The terminal view of a rollout on listr2: a task per batch (its title carries the bar), under it a
 * task per host whose title is its current step and, at the end, its outcome. listr2 runs tasks, not
 * events, so each task waits for the events of its batch or host; the run-done event releases every
 * task still waiting (hosts the rollout never reached show as skipped). All text comes from
 * progress.ts; nothing here decides anything.
 */
import { Listr, type ListrTaskWrapper } from 'listr2';
import type { HostResult, RolloutEvent } from './contract.ts';
import { batchTitle, hostTitle, ProgressModel } from './progress.ts';

interface Latch<T> {
  promise: Promise<T>;
  resolve(v: T): void;
}
function latch<T>(): Latch<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

// listr2's wrapper types carry renderer generics that do not matter here.
type Wrapper = ListrTaskWrapper<unknown, never, never>;

export class ListrView {
  private readonly model = new ProgressModel();
  private readonly batchStart: Latch<boolean>[] = [];
  private readonly hostDone = new Map<string, Latch<HostResult | undefined>>();
  private readonly batchTask = new Map<number, Wrapper>();
  private readonly hostTask = new Map<string, Wrapper>();
  private running: Promise<unknown> | undefined;

  constructor(private readonly renderer: 'default' | 'simple' | 'test') {}

  onEvent(e: RolloutEvent): void {
    this.model.apply(e);
    if (e.type === 'run-start') this.start();
    else if (e.type === 'batch-start') this.batchStart[e.index]?.resolve(true);
    else if (e.type === 'host-step') this.retitleHost(e.host);
    else if (e.type === 'host-done') {
      this.hostDone.get(e.result.host)?.resolve(e.result);
      this.retitleBatch(this.model.hosts.get(e.result.host)?.batch ?? -1);
    } else if (e.type === 'batch-done') this.retitleBatch(e.index);
    else if (e.type === 'run-done') this.release();
  }

  /**
   * Resolves once listr2 has drawn the last frame. Without a run-done (the rollout threw) every task
   * still waiting is released here, so the view never holds the process open.
   */
  async finish(): Promise<void> {
    this.release();
    await this.running?.catch(() => undefined);
  }

  private release(): void {
    for (const l of this.batchStart) l.resolve(false);
    for (const l of this.hostDone.values()) l.resolve(undefined);
  }

  private retitleHost(host: string): void {
    const t = this.hostTask.get(host);
    const h = this.model.hosts.get(host);
    if (t && h) t.title = hostTitle(h);
  }

  private retitleBatch(index: number): void {
    const t = this.batchTask.get(index);
    if (t) t.title = batchTitle(this.model, index);
  }

  private start(): void {
    const m = this.model;
    for (const b of m.batches) {
      this.batchStart[b.index] = latch();
      for (const h of b.hosts) this.hostDone.set(h, latch());
    }
    const list = new Listr(
      m.batches.map((b) => ({
        title: batchTitle(m, b.index),
        task: async (_ctx: unknown, task: Wrapper) => {
          // listr2 may start a task after its events went by (its renderer starts asynchronously).
          this.batchTask.set(b.index, task);
          this.retitleBatch(b.index);
          if (!(await this.batchStart[b.index]!.promise)) return task.skip(`batch ${b.index + 1}: not run (the rollout stopped)`);
          return task.newListr(b.hosts.map((host) => ({ title: host, task: (_c: unknown, t: Wrapper) => this.hostTaskFn(host, t) })), { concurrent: true, exitOnError: false });
        },
      })),
      { concurrent: false, exitOnError: false, registerSignalListeners: false, renderer: this.renderer, rendererOptions: { collapseSubtasks: false, collapseErrors: false } } as never,
    );
    this.running = list.run();
  }

  private async hostTaskFn(host: string, t: Wrapper): Promise<void> {
    this.hostTask.set(host, t);
    this.retitleHost(host);
    const r = await this.hostDone.get(host)!.promise;
    this.retitleHost(host);
    if (!r) return t.skip(`${host}: not run`);
    if (r.outcome === 'skipped') return t.skip(hostTitle(this.model.hosts.get(host)!));
    // listr2 marks a task failed only by a throw; the title already says why.
    if (r.outcome === 'failed' || r.outcome === 'reverted') throw new Error(r.outcome);
  }
}
