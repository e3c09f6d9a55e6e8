import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostResult, RolloutEvent } from './contract.ts';
import { bar, batchTitle, createProgress, hostTitle, jsonLine, ProgressModel } from './progress.ts';

const dir = mkdtempSync(join(tmpdir(), 'cg-progress-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const R = (host: string, extra: Partial<HostResult> = {}): HostResult => ({ host, outcome: 'changed', changes: [], durationMs: 2000, ...extra });

function run(): RolloutEvent[] {
  const a = R('a', { platform: 'opnsense', action: 'upgrade', fromVersion: '1.0.0', toVersion: '1.1.0' });
  const b = R('b', { outcome: 'reverted', action: 'upgrade', fromVersion: '1.0.0', toVersion: '1.1.0', health: { ok: false, reasons: ['the agent did not answer `conegate status` in the last sample'] } });
  return [
    { type: 'run-start', runId: 'r1', hosts: ['a', 'b', 'c'], batches: [['a'], ['b', 'c']], check: false },
    { type: 'batch-start', index: 0, hosts: ['a'] },
    { type: 'host-step', host: 'a', step: 'connect' },
    { type: 'host-step', host: 'a', step: 'upload', detail: '1.1 MB' },
    { type: 'host-done', result: a },
    { type: 'batch-done', index: 0, failed: 0, size: 1, stop: false },
    { type: 'batch-start', index: 1, hosts: ['b', 'c'] },
    { type: 'host-step', host: 'b', step: 'health' },
    { type: 'host-done', result: b },
    { type: 'batch-done', index: 1, failed: 1, size: 2, stop: true, why: 'failed 1 of 2, above 0%' },
    { type: 'run-done', runId: 'r1', ok: false, results: [a, b], stoppedEarly: true },
  ];
}

test('the model follows the events: current step per host, batch counts, a repeated host-done counted once', () => {
  const m = new ProgressModel();
  const ev = run();
  ev.slice(0, 4).forEach((e) => m.apply(e));
  assert.equal(hostTitle(m.hosts.get('a')!), 'a: uploading (1.1 MB)');
  assert.equal(hostTitle(m.hosts.get('c')!), 'c: waiting');
  assert.equal(batchTitle(m, 0), 'batch 1/2 (canary) [--------------------] 0/1');
  m.apply(ev[4]!);
  m.apply(ev[4]!);
  assert.equal(batchTitle(m, 0), 'batch 1/2 (canary) [####################] 1/1');
  assert.equal(hostTitle(m.hosts.get('a')!), 'a: changed (upgrade) 1.0.0 -> 1.1.0 in 2.0s');
  ev.slice(5).forEach((e) => m.apply(e));
  assert.equal(batchTitle(m, 1), 'batch 2/2 [##########----------] 1/2, 1 failed - rollout stops: failed 1 of 2, above 0%');
  assert.equal(hostTitle(m.hosts.get('b')!), 'b: reverted (upgrade) 1.0.0 -> 1.1.0 in 2.0s - health: the agent did not answer `conegate status` in the last sample');
  assert.deepEqual([m.finished, m.ok], [true, false]);
  // A host-step without a detail clears the previous step's detail.
  m.apply({ type: 'host-step', host: 'c', step: 'upload', detail: 'x' });
  m.apply({ type: 'host-step', host: 'c', step: 'apply' });
  assert.equal(hostTitle(m.hosts.get('c')!), 'c: applying');
});

test('bar and JSON lines', () => {
  assert.deepEqual([bar(0, 4, 4), bar(1, 4, 4), bar(4, 4, 4), bar(9, 4, 4), bar(0, 0, 4)], ['[----]', '[#---]', '[####]', '[####]', '[####]']);
  const line = jsonLine({ type: 'host-step', host: 'a', step: 'probe' }, Date.UTC(2026, 11, 7, 12, 0, 1));
  assert.equal(line, '{"at":"2026-12-07T12:00:01.000Z","type":"host-step","host":"a","step":"probe"}\n');
});

test('not a terminal: one JSON line per event on stdout, the summary on stderr, the report file written', async () => {
  const out: string[] = [];
  const err: string[] = [];
  const reportFile = join(dir, 'lines.json');
  let t = 0;
  const p = await createProgress({ tty: false, out: (s) => out.push(s), err: (s) => err.push(s), reportFile, wallMs: () => (t += 100) });
  for (const e of run()) p.onEvent(e);
  const rep = await p.close();
  const lines = out.join('').trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; at: string });
  assert.deepEqual(lines.map((l) => l.type), run().map((e) => e.type));
  assert.match(err.join(''), /^HOST +PLATFORM +ACTION +OUTCOME +VERSION +TIME +ERROR\n/);
  assert.match(err.join(''), /\nc +- +- +skipped +- +- +not run: the rollout stopped after batch 2 \(failed 1 of 2, above 0%\)\n/);
  assert.equal(statSync(reportFile).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(readFileSync(reportFile, 'utf8')), rep);
});

test('on a terminal: the listr2 view runs to the end of a run that stopped early (the batch never started is released), then the summary', async () => {
  const out: string[] = [];
  const p = await createProgress({ tty: true, renderer: 'test', out: (s) => out.push(s), err: () => assert.fail('nothing on stderr') });
  for (const e of run()) p.onEvent(e);
  const rep = await p.close();
  assert.equal(rep?.hosts.length, 3);
  assert.match(out.join(''), /^HOST +PLATFORM/m);
  // And a run with no event after run-start but run-done (e.g. aborted at once) still ends.
  const q = await createProgress({ tty: true, renderer: 'test', out: () => undefined });
  q.onEvent({ type: 'run-start', runId: 'r2', hosts: ['x'], batches: [['x']], check: true });
  q.onEvent({ type: 'run-done', runId: 'r2', ok: false, results: [], stoppedEarly: true });
  assert.equal((await q.close())?.hosts[0]?.outcome, 'skipped');
});

test('on a terminal: close() after a run that threw (no run-done) releases the view and prints nothing', async () => {
  const out: string[] = [];
  const p = await createProgress({ tty: true, renderer: 'test', out: (s) => out.push(s) });
  p.onEvent({ type: 'run-start', runId: 'r3', hosts: ['x', 'y'], batches: [['x'], ['y']], check: false });
  p.onEvent({ type: 'batch-start', index: 0, hosts: ['x'] });
  p.onEvent({ type: 'host-step', host: 'x', step: 'upload' });
  assert.equal(await p.close(), undefined);
  assert.deepEqual(out, []);
});
