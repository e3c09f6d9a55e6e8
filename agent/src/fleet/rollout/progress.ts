/**
 * Live progress of a rollout from its RolloutEvents. On a terminal a listr2 view (progress-tty.ts): a
 * line per batch with a bar, a line per host with its current step. Otherwise (a pipe, CI, `--json`)
 * one JSON object per event per line on stdout, for tools to follow. Either way the summary table
 * (report.ts) comes at the end, on stderr in JSON-lines mode so stdout stays one JSON line per event,
 * and `--report FILE` gets the JSON report.
 *
 * The model and every line of text are pure (ProgressModel, batchTitle, hostTitle, jsonLine); only
 * createProgress touches output and files.
 */
import type { HostOutcome, HostResult, HostStep, RolloutEvent } from './contract.ts';
import { formatDuration, RunRecorder, summaryTable, versionChange, whyText, writeReport, type RunReport } from './report.ts';

export interface HostView {
  host: string;
  batch: number;
  step?: HostStep;
  detail?: string;
  result?: HostResult;
}

export interface BatchView {
  index: number;
  hosts: string[];
  started: boolean;
  done: number;
  failed: number;
  stop?: boolean;
  why?: string;
}

const FAILED: readonly HostOutcome[] = ['failed', 'reverted'];

/** What the view shows, folded from the events. */
export class ProgressModel {
  runId = '';
  check = false;
  batches: BatchView[] = [];
  readonly hosts = new Map<string, HostView>();
  finished = false;
  ok: boolean | undefined;

  apply(e: RolloutEvent): void {
    switch (e.type) {
      case 'run-start':
        this.runId = e.runId;
        this.check = e.check;
        this.batches = e.batches.map((hosts, index) => ({ index, hosts: [...hosts], started: false, done: 0, failed: 0 }));
        e.batches.forEach((hosts, batch) => hosts.forEach((host) => this.hosts.set(host, { host, batch })));
        break;
      case 'batch-start': {
        const b = this.batch(e.index, e.hosts);
        b.started = true;
        break;
      }
      case 'host-step': {
        const h = this.host(e.host);
        h.step = e.step;
        if (e.detail !== undefined) h.detail = e.detail;
        else delete h.detail;
        break;
      }
      case 'host-done': {
        const h = this.host(e.result.host);
        if (h.result) break; // exactly one host-done per host; a repeat is not counted twice
        h.result = e.result;
        const b = this.batches[h.batch];
        if (b) {
          b.done++;
          if (FAILED.includes(e.result.outcome)) b.failed++;
        }
        break;
      }
      case 'batch-done':
        Object.assign(this.batch(e.index, []), { failed: e.failed, stop: e.stop, ...(e.why !== undefined ? { why: e.why } : {}) });
        break;
      case 'run-done':
        this.finished = true;
        this.ok = e.ok;
        break;
    }
  }

  private batch(index: number, hosts: string[]): BatchView {
    return (this.batches[index] ??= { index, hosts: [...hosts], started: false, done: 0, failed: 0 });
  }

  private host(name: string): HostView {
    let h = this.hosts.get(name);
    if (!h) this.hosts.set(name, (h = { host: name, batch: -1 }));
    return h;
  }
}

/** "[#####-----]" of `width` cells. */
export function bar(done: number, total: number, width = 20): string {
  const filled = total <= 0 ? width : Math.min(width, Math.round((done / total) * width));
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

const STEP_LABEL: Record<HostStep, string> = {
  connect: 'connecting',
  probe: 'probing',
  plan: 'planning',
  baseline: 'health baseline',
  upload: 'uploading',
  apply: 'applying',
  health: 'health gate',
  confirm: 'confirming',
  revert: 'reverting',
};

export function batchTitle(m: ProgressModel, index: number): string {
  const b = m.batches[index];
  if (!b) return `batch ${index + 1}`;
  const name = `batch ${index + 1}/${m.batches.length}${index === 0 && b.hosts.length === 1 && m.batches.length > 1 ? ' (canary)' : ''}`;
  const failed = b.failed > 0 ? `, ${b.failed} failed` : '';
  const stop = b.stop ? ` - rollout stops${b.why ? `: ${b.why}` : ''}` : '';
  return `${name} ${bar(b.done, b.hosts.length)} ${b.done}/${b.hosts.length}${failed}${stop}`;
}

/** A host's line: its current step while it runs, its outcome once done. */
export function hostTitle(h: HostView): string {
  const r = h.result;
  if (!r) return `${h.host}: ${h.step ? STEP_LABEL[h.step] : 'waiting'}${h.detail ? ` (${h.detail})` : ''}`;
  const version = versionChange(r);
  const why = whyText(r);
  return `${h.host}: ${r.outcome}${r.action ? ` (${r.action})` : ''}${version !== '-' ? ` ${version}` : ''} in ${formatDuration(r.durationMs)}${why ? ` - ${why}` : ''}`;
}

/** One event as one JSON line, with the wall time it was seen. */
export function jsonLine(e: RolloutEvent, wallMs: number): string {
  return JSON.stringify({ at: new Date(wallMs).toISOString(), ...e }) + '\n';
}

export interface ProgressOptions {
  /** A listr2 view (stdout is a terminal and no --json); else JSON lines. */
  tty: boolean;
  /** Where JSON lines (and, on a terminal, the summary) go. @default process.stdout */
  out?: (s: string) => void;
  /** Messages for people in JSON-lines mode (the summary table). @default process.stderr */
  err?: (s: string) => void;
  /** `--report FILE` */
  reportFile?: string;
  /** @default Date.now */
  wallMs?: () => number;
  /** Tests: listr2's renderer ('default' on a terminal). */
  renderer?: 'default' | 'simple' | 'test';
}

/** What the rollout CLI hands to runRollout as onEvent, then awaits close() for the summary and report. */
export interface Progress {
  onEvent(e: RolloutEvent): void;
  /**
   * Waits for the view to finish, prints the summary, writes the report; returns it. Call it also when
   * the run threw (in a finally): the view is released and nothing is printed without a run-done.
   */
  close(): Promise<RunReport | undefined>;
}

export async function createProgress(o: ProgressOptions): Promise<Progress> {
  const out = o.out ?? ((s: string) => void process.stdout.write(s));
  const err = o.err ?? ((s: string) => void process.stderr.write(s));
  const wall = o.wallMs ?? (() => Date.now());
  const recorder = new RunRecorder();
  // listr2 is loaded only on a terminal: a piped run never imports it.
  const view = o.tty ? new (await import('./progress-tty.ts')).ListrView(o.renderer ?? 'default') : undefined;
  return {
    onEvent(e) {
      recorder.onEvent(e, wall());
      if (view) view.onEvent(e);
      else out(jsonLine(e, wall()));
    },
    async close() {
      await view?.finish();
      const report = recorder.report();
      if (report) (view ? out : err)(summaryTable(report) + '\n');
      if (report && o.reportFile) await writeReport(o.reportFile, report);
      return report;
    },
  };
}
