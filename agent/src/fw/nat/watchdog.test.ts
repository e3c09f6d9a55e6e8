/** The watchdog's loop against the fake pfctl: it rolls back at the deadline, or leaves as soon as the apply is settled. */
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NatApplier } from './applier.ts';
import { pfBackend } from './backend.ts';
import { processRunner } from './runner.ts';
import { parseWatchdogJob, runWatchdog, type WatchdogJob } from './watchdog.ts';
import { realClock } from '../../clock/clock.ts';
import { isConegateError } from '../../errors.ts';

const FAKES = fileURLToPath(new URL('../../../../pf-rules/test/fakes/', import.meta.url));
const OLD = 'nat on igb0 inet proto udp from 192.168.1.0/24 to any -> 203.0.113.2 port 1024:65535\n';
const NEW = OLD.replace('\n', ' endpoint-independent\n');
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cg-wd-'));
  mkdirSync(join(dir, 'fake/anchors'), { recursive: true });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** An applier whose apply `x` (by dead PID 31337) loaded NEW over OLD and waits until `deadlineWallMs`. */
function orphan(deadlineWallMs: number): { applier: NatApplier; job: WatchdogJob } {
  const run = processRunner({ ...process.env, PATH: `${FAKES}:${process.env.PATH}`, FAKE_PFCTL_DIR: join(dir, 'fake') });
  const applier = new NatApplier({ backend: pfBackend(run, 'conegate'), stateDir: join(dir, 'state'), clock: realClock, isAlive: () => false });
  mkdirSync(applier.dir, { recursive: true });
  writeFileSync(join(dir, 'fake/anchors/conegate'), NEW);
  writeFileSync(join(applier.dir, 'current.conf'), NEW);
  writeFileSync(join(applier.dir, 'pending.json'), JSON.stringify({ id: 'x', pid: 31337, deadlineWallMs, restore: { current: OLD, previous: null } }));
  return { applier, job: { stateDir: join(dir, 'state'), dir: applier.dir, kind: 'pf', target: 'conegate', id: 'x', deadlineWallMs } };
}

test('at the deadline the watchdog restores what was in force', async () => {
  const { applier, job } = orphan(Date.now() + 150);
  const r = await runWatchdog(applier, job, { clock: realClock, wallMs: Date.now, pollMs: 20 });
  assert.equal(r?.outcome, 'rolled-back');
  assert.equal(readFileSync(join(dir, 'fake/anchors/conegate'), 'utf8'), OLD);
  assert.equal(await applier.pending(), undefined);
});

test('a confirm before the deadline ends the watchdog without touching the rules', async () => {
  const { applier, job } = orphan(Date.now() + 60_000);
  const watching = runWatchdog(applier, job, { clock: realClock, wallMs: Date.now, pollMs: 20 });
  assert.equal(await applier.confirm(), 'x');
  assert.equal(await watching, undefined);
  assert.equal(readFileSync(join(dir, 'fake/anchors/conegate'), 'utf8'), NEW);
});

test('--job must carry every field', () => {
  assert.throws(() => parseWatchdogJob('{"id":"x"}'), (e: unknown) => isConegateError(e) && e.code === 'CG_USAGE');
  assert.throws(() => parseWatchdogJob('nope'), (e: unknown) => isConegateError(e) && e.code === 'CG_USAGE');
});
