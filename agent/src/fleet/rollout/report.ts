/**
 * The end of a rollout for people and for tools: the summary table (host, platform, action, outcome,
 * from -> to, time, error) and the JSON report (`--report FILE`). A RunRecorder follows the events and
 * keeps what the run-done event alone does not say (batches, when each started, which hosts never
 * ran because the rollout stopped). Pure but for writeReport.
 */
import { ConegateError } from '../../errors.ts';
import { writeSecretFile } from '../../secrets/file.ts';
import type { HostOutcome, HostResult, RolloutEvent } from './contract.ts';

export const OUTCOME_ORDER: readonly HostOutcome[] = ['changed', 'unchanged', 'checked', 'reverted', 'failed', 'skipped'];

export interface BatchReport {
  index: number;
  hosts: string[];
  failed?: number;
  stop?: boolean;
  why?: string;
}

export interface RunReport {
  runId: string;
  ok: boolean;
  check: boolean;
  stoppedEarly: boolean;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  counts: Partial<Record<HostOutcome, number>>;
  batches: BatchReport[];
  /** Every selected host, inventory order; one the rollout never reached is `skipped` with a reason. */
  hosts: HostResult[];
}

/** Follows the events of one run; `report()` once run-done has been seen. */
export class RunRecorder {
  private runId = '';
  private check = false;
  private hosts: string[] = [];
  private startedWallMs = 0;
  private readonly batches: BatchReport[] = [];
  private readonly results = new Map<string, HostResult>();
  private done: Extract<RolloutEvent, { type: 'run-done' }> | undefined;
  private doneWallMs = 0;

  onEvent(e: RolloutEvent, wallMs: number): void {
    if (e.type === 'run-start') {
      this.runId = e.runId;
      this.check = e.check;
      this.hosts = [...e.hosts];
      this.startedWallMs = wallMs;
      e.batches.forEach((hosts, index) => this.batches.push({ index, hosts: [...hosts] }));
    } else if (e.type === 'batch-done') {
      const b = this.batches[e.index] ?? (this.batches[e.index] = { index: e.index, hosts: [] });
      Object.assign(b, { failed: e.failed, stop: e.stop, ...(e.why !== undefined ? { why: e.why } : {}) });
    } else if (e.type === 'host-done') this.results.set(e.result.host, e.result);
    else if (e.type === 'run-done') {
      this.done = e;
      this.doneWallMs = wallMs;
      for (const r of e.results) this.results.set(r.host, r);
    }
  }

  report(): RunReport | undefined {
    const d = this.done;
    if (!d) return undefined;
    const stopper = this.batches.find((b) => b.stop);
    const notRun = (host: string): HostResult => ({
      host,
      outcome: 'skipped',
      changes: [],
      error: { code: 'not-run', message: stopper ? `not run: the rollout stopped after batch ${stopper.index + 1}${stopper.why ? ` (${stopper.why})` : ''}` : 'not run: the rollout ended before this host' },
      durationMs: 0,
    });
    const names = this.hosts.length > 0 ? this.hosts : d.results.map((r) => r.host);
    const hosts = [...names.map((h) => this.results.get(h) ?? notRun(h)), ...[...this.results.values()].filter((r) => !names.includes(r.host))];
    return {
      runId: d.runId || this.runId,
      ok: d.ok,
      check: this.check,
      stoppedEarly: d.stoppedEarly,
      startedAt: new Date(this.startedWallMs || this.doneWallMs).toISOString(),
      finishedAt: new Date(this.doneWallMs).toISOString(),
      durationMs: Math.max(0, this.doneWallMs - (this.startedWallMs || this.doneWallMs)),
      counts: countOutcomes(hosts),
      batches: this.batches,
      hosts,
    };
  }
}

export function countOutcomes(results: readonly HostResult[]): Partial<Record<HostOutcome, number>> {
  const counts: Partial<Record<HostOutcome, number>> = {};
  for (const o of OUTCOME_ORDER) {
    const n = results.filter((r) => r.outcome === o).length;
    if (n > 0) counts[o] = n;
  }
  return counts;
}

/** "1.2s", "3m04s": short and stable. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export function versionChange(r: Pick<HostResult, 'fromVersion' | 'toVersion'>): string {
  if (r.fromVersion === undefined && r.toVersion === undefined) return '-';
  if (r.fromVersion === r.toVersion) return r.toVersion!;
  return `${r.fromVersion ?? '-'} -> ${r.toVersion ?? '-'}`;
}

/** The last column: the error, or the health gate's reasons when it sent the host back. */
export function whyText(r: HostResult): string {
  const health = r.health && !r.health.ok ? `health: ${r.health.reasons.join('; ')}` : '';
  const err = r.error ? `${r.error.message}${r.error.code.startsWith('CG_') ? ` (${r.error.code})` : ''}` : '';
  return [err, health].filter((s) => s !== '').join('; ');
}

/** Columns padded to their widest cell; the last column is never padded (it may be long). */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function summaryRows(results: readonly HostResult[]): string[][] {
  return results.map((r) => [r.host, r.platform ?? '-', r.action ?? '-', r.outcome, versionChange(r), r.error?.code === 'not-run' ? '-' : formatDuration(r.durationMs), whyText(r)]);
}

/** One line: "20 hosts: 17 changed, 1 reverted, 2 skipped; stopped early". */
export function countsLine(report: Pick<RunReport, 'hosts' | 'stoppedEarly' | 'ok' | 'check'>): string {
  const counts = countOutcomes(report.hosts);
  const parts = OUTCOME_ORDER.filter((o) => counts[o]).map((o) => `${counts[o]} ${o}`);
  const tail = report.stoppedEarly ? '; the rollout stopped early' : '';
  return `${report.hosts.length} host${report.hosts.length === 1 ? '' : 's'}${report.check ? ' checked (nothing written)' : ''}: ${parts.join(', ') || 'none'}${tail}${report.ok ? '' : ' - NOT OK'}`;
}

export function summaryTable(report: RunReport): string {
  const table = textTable(['HOST', 'PLATFORM', 'ACTION', 'OUTCOME', 'VERSION', 'TIME', 'ERROR'], summaryRows(report.hosts));
  return `${table}\n${countsLine(report)} (${formatDuration(report.durationMs)}, run ${report.runId})`;
}

/**
 * Writes the report atomically (temp name beside it, then rename) and 0600 from the first byte: a
 * host's config diff may hold a proxy password.
 */
export async function writeReport(file: string, report: RunReport): Promise<void> {
  try {
    await writeSecretFile(file, JSON.stringify(report, null, 2) + '\n');
  } catch (err) {
    throw new ConegateError('CG_COMMAND_FAILED', `cannot write the report ${file}: ${(err as Error).message}`, { cause: err });
  }
}
