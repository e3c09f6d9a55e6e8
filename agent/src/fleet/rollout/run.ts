/**
 * runRollout: the hosts in batches (batches.ts: --serial, the canary, --max-fail-percentage exceeded
 * not equalled, an all-failed batch stops), at most --forks hosts of a batch at once, one transaction
 * per host (host-txn.ts). A batch that stops the rollout leaves every later host `skipped` (each still
 * gets its one host-done). The run state file is rewritten after every host-done.
 */
import { randomBytes } from 'node:crypto';
import { batchStopsRollout, makeBatches } from '../batches.ts';
import type { FleetHost } from '../types.ts';
import type { HostResult, RolloutOptions, RolloutResult } from './contract.ts';
import { runHost, type HostRun } from './host-txn.ts';
import { RUN_STATE_FORMAT, writeRunState, type RunState } from './runstate.ts';

const FAILED = new Set(['failed', 'reverted']);

export function newRunId(nowMs: number): string {
  const t = new Date(nowMs).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${t}-${randomBytes(3).toString('hex')}`;
}

function realSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('aborted'));
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(new Error('aborted')); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `work` over items with at most `limit` at once, results in item order. */
async function pool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export async function runRollout(opts: RolloutOptions): Promise<RolloutResult> {
  const nowMs = opts.nowMs ?? Date.now;
  const runId = opts.runId ?? newRunId(nowMs());
  const run: HostRun = { opts, runId, sleep: opts.sleep ?? realSleep, nowMs, timeoutMs: opts.commandTimeoutMs ?? 60_000 };
  const batches = makeBatches(opts.hosts, opts.policy.serial);
  const all = new Map<string, HostResult>((opts.priorResults ?? []).map((r) => [r.host, r]));
  const state = stateWriter(opts, runId, all, nowMs);
  opts.onEvent({ type: 'run-start', runId, hosts: opts.hosts.map((h) => h.name), batches: batches.map((b) => b.map((h) => h.name)), check: opts.check });
  let stoppedEarly = false;
  for (const [index, batch] of batches.entries()) {
    if (stoppedEarly || opts.signal?.aborted) {
      stoppedEarly = true;
      for (const h of batch) await done(opts, all, state, skipped(h, opts.signal?.aborted ? 'the rollout was interrupted' : 'an earlier batch stopped the rollout'));
      continue;
    }
    opts.onEvent({ type: 'batch-start', index, hosts: batch.map((h) => h.name) });
    const results = await pool(batch, opts.policy.forks, async (h) => {
      const r = opts.signal?.aborted ? skipped(h, 'the rollout was interrupted') : await runHost(h, run);
      await done(opts, all, state, r);
      return r;
    });
    const failed = results.filter((r) => FAILED.has(r.outcome)).length;
    const stop = batchStopsRollout(batch.length, failed, opts.policy.maxFailPercentage);
    const why = stop ? stopReason(index, batch.length, failed, opts.policy.maxFailPercentage) : undefined;
    opts.onEvent({ type: 'batch-done', index, failed, size: batch.length, stop, ...(why ? { why } : {}) });
    if (stop) stoppedEarly = true;
  }
  const results = opts.hosts.map((h) => all.get(h.name)!);
  const ok = !stoppedEarly && results.every((r) => !FAILED.has(r.outcome) && r.outcome !== 'skipped');
  opts.onEvent({ type: 'run-done', runId, ok, results, stoppedEarly });
  return { runId, ok, results, stoppedEarly };
}

function skipped(h: FleetHost, why: string): HostResult {
  return { host: h.name, outcome: 'skipped', changes: [], durationMs: 0, error: { code: 'CG_NOTHING_PENDING', message: why } };
}

async function done(opts: RolloutOptions, all: Map<string, HostResult>, state: () => Promise<void>, r: HostResult): Promise<void> {
  all.set(r.host, r);
  await state();
  opts.onEvent({ type: 'host-done', result: r });
}

function stopReason(index: number, size: number, failed: number, maxFail?: number): string {
  if (failed >= size) return index === 0 && size === 1 ? 'the canary failed' : `every host of batch ${index + 1} failed`;
  return `${failed} of ${size} hosts failed, more than --max-fail-percentage ${maxFail}`;
}

/** Writes serialised (hosts of a batch finish concurrently): each write has every result so far. */
function stateWriter(opts: RolloutOptions, runId: string, all: Map<string, HostResult>, nowMs: () => number): () => Promise<void> {
  let chain: Promise<void> = Promise.resolve();
  return () => {
    const file = opts.runStateFile;
    if (!file) return Promise.resolve();
    const hosts = [...new Set([...(opts.priorResults ?? []).map((r) => r.host), ...opts.hosts.map((h) => h.name)])];
    const snapshot: RunState = { format: RUN_STATE_FORMAT, runId, options: opts.runStateOptions ?? {}, hosts, results: Object.fromEntries(all), updatedAtMs: nowMs() };
    chain = chain.then(() => writeRunState(file, snapshot));
    return chain;
  };
}
