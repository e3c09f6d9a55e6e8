/**
 * Confirm-or-revert that outlives the applier: `conegate pf apply` is killed with SIGKILL during its
 * grace period, and the detached watchdog restores the previous rules at the deadline; `confirm`
 * against a dead applier settles it for real; too late, it refuses. Fake pfctl first on PATH.
 */
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pidAlive } from '../../fw/nat/files.ts';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const BIN = `${ROOT}bin/conegate.js`;
const FIX = `${ROOT}pf-rules/test/fixtures/`;
let dir: string;
const started: number[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cg-pfwd-'));
  mkdirSync(join(dir, 'fake'), { recursive: true });
  // The main ruleset a FreeBSD pf.conf with our hook loads (fixture freebsd-pf.conf references the anchors).
  writeFileSync(join(dir, 'fake/main.conf'), 'nat-anchor "conegate" all\nrdr-anchor "conegate/pmpd" all\n');
});
afterEach(() => {
  for (const pid of started.splice(0)) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const env = () => ({ ...process.env, CONEGATE_CONFIG: '', PATH: `${ROOT}pf-rules/test/fakes:${process.env.PATH}`, FAKE_PFCTL_DIR: join(dir, 'fake') });
const state = () => join(dir, 'state');
const common = () => ['--pf-conf', `${FIX}freebsd-pf.conf`, '--appliance-version', '15.1-RELEASE', '--state-dir', state()];
const anchor = () => readFileSync(join(dir, 'fake/anchors/conegate'), 'utf8');
const pendingFile = () => join(state(), 'nat/pf-conegate/pending.json');

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: env(), timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

async function waitFor(what: string, cond: () => boolean, limitMs = 30_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Applies OLD (all sources) for good, then starts an apply of NEW and kills it once NEW is loaded. */
async function applyThenKill(confirmSec: number): Promise<{ old: string; watchdogPid: number; deadline: number }> {
  const first = await run(['pf', 'apply', ...common(), '--confirm-sec', '0']);
  assert.equal(first.code, 0, first.stderr);
  const old = anchor();
  const child = spawn(process.execPath, [BIN, 'pf', 'apply', ...common(), '--sources', '192.168.50.10/32', '--confirm-sec', String(confirmSec)], { env: env(), stdio: 'ignore' });
  started.push(child.pid!);
  const exited = new Promise((r) => child.once('exit', r));
  await waitFor('the new rules and the watchdog', () => existsSync(pendingFile()) && JSON.parse(readFileSync(pendingFile(), 'utf8')).watchdogPid !== undefined && anchor() !== old);
  const p = JSON.parse(readFileSync(pendingFile(), 'utf8')) as { watchdogPid: number; deadlineWallMs: number };
  started.push(p.watchdogPid);
  child.kill('SIGKILL');
  await exited;
  return { old, watchdogPid: p.watchdogPid, deadline: p.deadlineWallMs };
}

test('kill -9 of the applier during the grace period: the watchdog restores the previous rules at the deadline', async () => {
  const { old, watchdogPid } = await applyThenKill(2);
  assert.match(anchor(), /192\.168\.50\.10/);
  await waitFor('the rollback', () => !existsSync(pendingFile()));
  assert.equal(anchor(), old);
  await waitFor('the watchdog to exit', () => !pidAlive(watchdogPid));
  const status = await run(['pf', 'status', '--state-dir', state(), '--backend', 'pf', '--json']);
  assert.equal(JSON.parse(status.stdout).pending, null);
});

test('confirm after the applier died (before the deadline) keeps the new rules and stops the watchdog', async () => {
  const { old, watchdogPid } = await applyThenKill(60);
  const r = await run(['pf', 'confirm', '--state-dir', state(), '--backend', 'pf']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /confirmed/);
  assert.equal(existsSync(pendingFile()), false);
  await waitFor('the watchdog to exit', () => !pidAlive(watchdogPid));
  const status = await run(['pf', 'status', '--state-dir', state(), '--backend', 'pf', '--json']);
  assert.equal(JSON.parse(status.stdout).recovered, null);
  assert.notEqual(anchor(), old);
  assert.match(anchor(), /192\.168\.50\.10/);
});

test('confirm after the deadline, with applier and watchdog gone, rolls back and exits 1', async () => {
  const { old, watchdogPid, deadline } = await applyThenKill(1);
  process.kill(watchdogPid, 'SIGKILL');
  await waitFor('the watchdog to die', () => !pidAlive(watchdogPid));
  await waitFor('the deadline', () => Date.now() > deadline);
  const r = await run(['pf', 'confirm', '--state-dir', state(), '--backend', 'pf']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not confirmed in time and has been rolled back/);
  assert.equal(anchor(), old);
});
