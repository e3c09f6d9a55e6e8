import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConegateError } from '../../errors.ts';
import type { HostResult, RolloutEvent } from './contract.ts';
import { countsLine, formatDuration, RunRecorder, summaryTable, textTable, versionChange, whyText, writeReport } from './report.ts';

const dir = mkdtempSync(join(tmpdir(), 'cg-report-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const R = (host: string, extra: Partial<HostResult> = {}): HostResult => ({ host, outcome: 'changed', changes: [], durationMs: 1000, ...extra });

/** A run of four hosts in three batches whose second batch stops it. */
function stoppedRun(): RolloutEvent[] {
  const a = R('a', { platform: 'opnsense', action: 'upgrade', fromVersion: '1.0.0', toVersion: '1.1.0', durationMs: 12_300 });
  const b = R('b', { platform: 'linux', action: 'upgrade', outcome: 'reverted', fromVersion: '1.0.0', toVersion: '1.1.0', durationMs: 40_100, health: { ok: false, reasons: ['mesh peers with a path fell from 5 to 3 (of 5 known); none may drop'] } });
  const c = R('c', { outcome: 'failed', durationMs: 1500, error: { code: 'CG_HOST_KEY_CHANGED', message: 'c: the host key changed' } });
  return [
    { type: 'run-start', runId: 'run1', hosts: ['a', 'b', 'c', 'd'], batches: [['a'], ['b', 'c'], ['d']], check: false },
    { type: 'batch-start', index: 0, hosts: ['a'] },
    { type: 'host-done', result: a },
    { type: 'batch-done', index: 0, failed: 0, size: 1, stop: false },
    { type: 'batch-start', index: 1, hosts: ['b', 'c'] },
    { type: 'host-done', result: c },
    { type: 'host-done', result: b },
    { type: 'batch-done', index: 1, failed: 2, size: 2, stop: true, why: '2 of 2 failed, above --max-fail-percentage 0' },
    { type: 'run-done', runId: 'run1', ok: false, results: [a, c, b], stoppedEarly: true },
  ];
}

function record(events: RolloutEvent[]) {
  const rec = new RunRecorder();
  events.forEach((e, i) => rec.onEvent(e, Date.UTC(2026, 11, 7, 12) + i * 1000));
  return rec;
}

test('the report: every selected host in inventory order, a host never reached is skipped with the reason the rollout stopped', () => {
  const rep = record(stoppedRun()).report()!;
  assert.deepEqual(rep.hosts.map((h) => [h.host, h.outcome]), [['a', 'changed'], ['b', 'reverted'], ['c', 'failed'], ['d', 'skipped']]);
  assert.equal(rep.hosts[3]!.error?.message, 'not run: the rollout stopped after batch 2 (2 of 2 failed, above --max-fail-percentage 0)');
  assert.deepEqual(rep.counts, { changed: 1, reverted: 1, failed: 1, skipped: 1 });
  assert.deepEqual([rep.ok, rep.stoppedEarly, rep.durationMs, rep.startedAt], [false, true, 8000, '2026-12-07T12:00:00.000Z']);
  assert.deepEqual(rep.batches[1], { index: 1, hosts: ['b', 'c'], failed: 2, stop: true, why: '2 of 2 failed, above --max-fail-percentage 0' });
  assert.equal(record(stoppedRun().slice(0, -1)).report(), undefined, 'no report before run-done');
});

test('the summary table: host, platform, action, outcome, from -> to, time, error (the health reasons when reverted)', () => {
  const text = summaryTable(record(stoppedRun()).report()!);
  assert.equal(
    text,
    [
      'HOST  PLATFORM  ACTION   OUTCOME   VERSION         TIME   ERROR',
      'a     opnsense  upgrade  changed   1.0.0 -> 1.1.0  12.3s',
      'b     linux     upgrade  reverted  1.0.0 -> 1.1.0  40.1s  health: mesh peers with a path fell from 5 to 3 (of 5 known); none may drop',
      'c     -         -        failed    -               1.5s   c: the host key changed (CG_HOST_KEY_CHANGED)',
      'd     -         -        skipped   -               -      not run: the rollout stopped after batch 2 (2 of 2 failed, above --max-fail-percentage 0)',
      '4 hosts: 1 changed, 1 reverted, 1 failed, 1 skipped; the rollout stopped early - NOT OK (8.0s, run run1)',
    ].join('\n'),
  );
});

test('formatting pieces', () => {
  assert.deepEqual([formatDuration(0), formatDuration(59_940), formatDuration(184_000)], ['0.0s', '59.9s', '3m04s']);
  assert.deepEqual([versionChange({}), versionChange({ toVersion: '1.1' }), versionChange({ fromVersion: '1.1', toVersion: '1.1' })], ['-', '- -> 1.1', '1.1']);
  assert.equal(whyText(R('x', { error: { code: 'CG_TIMEOUT', message: 'no answer' }, health: { ok: false, reasons: ['r1', 'r2'] } })), 'no answer (CG_TIMEOUT); health: r1; r2');
  assert.equal(whyText(R('x', { health: { ok: true, reasons: [] } })), '');
  assert.equal(textTable(['A', 'LONGER'], [['xyz', 'v'], ['', '']]), 'A    LONGER\nxyz  v\n', 'an empty row stays a line');
  assert.equal(countsLine({ hosts: [R('a', { outcome: 'checked' })], stoppedEarly: false, ok: true, check: true }), '1 host checked (nothing written): 1 checked');
  assert.equal(countsLine({ hosts: [R('a', { outcome: 'unchanged' }), R('b', { outcome: 'unchanged' })], stoppedEarly: false, ok: true, check: false }), '2 hosts: 2 unchanged');
});

test('writeReport: atomic, 0600 from the first byte, and a clear error (no temp file left) when it cannot', async () => {
  const rep = record(stoppedRun()).report()!;
  const file = join(dir, 'report.json');
  await writeReport(file, rep);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), rep);
  await writeReport(file, { ...rep, runId: 'run2' });
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).runId, 'run2');
  assert.deepEqual(readdirSync(dir), ['report.json'], 'no temp file beside it');
  await assert.rejects(writeReport(join(dir, 'no-such-dir', 'r.json'), rep), (e) => e instanceof ConegateError && e.code === 'CG_COMMAND_FAILED' && /cannot write the report/.test(e.message));
  await assert.rejects(writeReport(dir, rep), (e) => e instanceof ConegateError && e.code === 'CG_COMMAND_FAILED', 'a directory in the way');
  assert.deepEqual(readdirSync(dir), ['report.json']);
});
