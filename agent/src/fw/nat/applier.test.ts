/**
 * Apply / confirm / revert against a recording fake pfctl put first on PATH
 * (pf-rules/test/fakes/pfctl), made to fail at each step.
 */
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NatApplier } from './applier.ts';
import { pfBackend } from './backend.ts';
import { processRunner } from './runner.ts';
import { realClock } from '../../clock/clock.ts';
import { isConegateError } from '../../errors.ts';

const FAKES = fileURLToPath(new URL('../../../../pf-rules/test/fakes/', import.meta.url));
const ANCHOR = 'natearly/conegate';
const OLD = '# old\nnat on igb0 inet proto udp from 192.168.1.0/24 to any -> 203.0.113.2 port 1024:65535\n';
const NEW = '# new\nnat on igb0 inet proto udp from 192.168.1.0/24 to any -> 203.0.113.2 port 1024:65535 endpoint-independent\n';

let dir: string;
let fake: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cg-apply-'));
  fake = join(dir, 'fake');
  // pfSense's main ruleset steps into natearly/* (pf-rules/test/fixtures/skeleton/pfsense.conf).
  mkdirSync(fake, { recursive: true });
  writeFileSync(join(fake, 'main.conf'), 'nat-anchor "natearly/*" all\nnat-anchor "natrules/*" all\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function applier(pid = process.pid, extraEnv: Record<string, string> = {}) {
  const run = processRunner({ ...process.env, PATH: `${FAKES}:${process.env.PATH}`, FAKE_PFCTL_DIR: fake, ...extraEnv });
  return new NatApplier({ backend: pfBackend(run, ANCHOR), stateDir: join(dir, 'state'), clock: realClock, pid, isAlive: (p) => p === process.pid || p === 4242 });
}
const inForce = () => (existsSync(join(fake, 'anchors/natearly_conegate')) ? readFileSync(join(fake, 'anchors/natearly_conegate'), 'utf8') : '');
const log = () => readFileSync(join(fake, 'log'), 'utf8');
const healthy = async () => true;

async function applyOld(a = applier()) {
  const r = await a.apply(OLD, { confirmMs: 5000, healthCheck: healthy, pollMs: 10 });
  assert.equal(r.outcome, 'confirmed');
  assert.equal(inForce(), OLD);
}

function failsWith(code: string) {
  return (e: unknown) => isConegateError(e) && e.code === code;
}

test('apply validates with pfctl -n, loads into the anchor, and a passing health check confirms', async () => {
  await applyOld();
  const a = applier();
  const r = await a.apply(NEW, { confirmMs: 5000, healthCheck: healthy, pollMs: 10 });
  assert.deepEqual(r, { outcome: 'confirmed', reason: 'health check passed' });
  assert.equal(inForce(), NEW);
  const calls = log().split('\n').filter((l) => l.startsWith('pfctl'));
  assert.match(calls.at(-3)!, /^pfctl -n -a natearly\/conegate -f .*candidate\.conf$/);
  assert.match(calls.at(-2)!, /^pfctl -a natearly\/conegate -f .*candidate\.conf$/);
  assert.equal(calls.at(-1), 'pfctl -a natearly/conegate -sn');
  assert.equal(await a.current(), NEW);
  assert.equal((await a.apply(NEW, { confirmMs: 5000, healthCheck: healthy })).outcome, 'unchanged');
  // After a reboot the anchor is empty though our record says NEW: apply loads it again.
  rmSync(join(fake, 'anchors/natearly_conegate'));
  assert.equal((await a.apply(NEW, { confirmMs: 5000, healthCheck: healthy })).outcome, 'confirmed');
  assert.equal(inForce(), NEW);
});

test('a failed validation leaves the previous rules in force and loads nothing', async () => {
  await applyOld();
  writeFileSync(join(fake, 'fail-validate'), '');
  const a = applier();
  await assert.rejects(a.apply(NEW, { confirmMs: 5000, healthCheck: healthy }), failsWith('CG_FIREWALL_REJECTED'));
  assert.equal(inForce(), OLD);
  assert.equal(await a.current(), OLD);
  assert.equal(log().split('\n').filter((l) => l.startsWith('loaded')).length, 1);
});

test('a failed load leaves the previous rules in force', async () => {
  await applyOld();
  writeFileSync(join(fake, 'fail-load'), '');
  const a = applier();
  await assert.rejects(a.apply(NEW, { confirmMs: 5000, healthCheck: healthy }), failsWith('CG_FIREWALL_REJECTED'));
  assert.equal(inForce(), OLD);
  assert.equal(await a.current(), OLD);
  assert.equal(await a.pending(), undefined);
});

test('a failing health check rolls back to the previous rules when the grace period ends', async () => {
  await applyOld();
  const a = applier();
  let checks = 0;
  const r = await a.apply(NEW, { confirmMs: 200, pollMs: 20, healthCheck: async () => (checks++, false) });
  assert.equal(r.outcome, 'rolled-back');
  assert.ok(checks >= 2);
  assert.equal(inForce(), OLD);
  assert.equal(await a.current(), OLD);
});

test('rules that do not show after the load roll back at once', async () => {
  await applyOld();
  writeFileSync(join(fake, 'hide-rules'), '');
  const r = await applier().apply(NEW, { confirmMs: 5000, healthCheck: healthy });
  assert.equal(r.outcome, 'rolled-back');
  assert.equal(inForce(), OLD);
});

test('conegate pf confirm from another process confirms; revert from another process rolls back', async () => {
  await applyOld();
  const a = applier();
  const waiting = a.apply(NEW, { confirmMs: 10_000, pollMs: 10 });
  const other = applier(4242);
  for (let i = 0; i < 200 && (await other.pending()) === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  await other.confirm();
  assert.equal((await waiting).outcome, 'confirmed');
  assert.equal(inForce(), NEW);

  const waiting2 = a.apply(OLD, { confirmMs: 10_000, pollMs: 10 });
  for (let i = 0; i < 200 && (await other.pending()) === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal((await other.revert()).outcome, 'rolled-back');
  assert.equal((await waiting2).outcome, 'rolled-back');
  assert.equal(inForce(), NEW);
});

test('revert with nothing pending goes one step back, then to an empty anchor', async () => {
  await applyOld();
  const a = applier();
  await a.apply(NEW, { confirmMs: 5000, healthCheck: healthy });
  assert.equal((await a.revert()).outcome, 'rolled-back');
  assert.equal(inForce(), OLD);
  await a.revert();
  assert.doesNotMatch(inForce(), /^nat /m);
});

test('concurrent applies are serialised by the lock: no interleaving of validate/load', async () => {
  await applyOld();
  const a = applier(process.pid, { FAKE_PFCTL_LOAD_DELAY: '0.2' });
  const b = applier(process.pid, { FAKE_PFCTL_LOAD_DELAY: '0.2' });
  const [ra, rb] = await Promise.all([a.apply(NEW, { confirmMs: 5000, healthCheck: healthy, pollMs: 10 }), b.apply(NEW.replace('# new', '# newer'), { confirmMs: 5000, healthCheck: healthy, pollMs: 10, lockWaitMs: 10_000 })]);
  assert.equal(ra.outcome, 'confirmed');
  assert.equal(rb.outcome, 'confirmed');
  const calls = log().split('\n').filter((l) => / -f .*candidate/.test(l));
  // validate, load, validate, load: each apply's pair together.
  assert.equal(calls.length, 6);
  assert.match(calls[2]!, /^pfctl -n /);
  assert.doesNotMatch(calls[3]!, /^pfctl -n /);
  assert.match(calls[4]!, /^pfctl -n /);
  assert.doesNotMatch(calls[5]!, /^pfctl -n /);
});

test('a stale lock (dead PID) is taken over; a live one makes the apply wait, then CG_BUSY', async () => {
  const a = applier();
  const lockDir = a.dir;
  await applyOld(a);
  writeFileSync(join(lockDir, 'lock'), '999999\n');
  assert.equal((await a.apply(NEW, { confirmMs: 5000, healthCheck: healthy })).outcome, 'confirmed');
  writeFileSync(join(lockDir, 'lock'), '4242\n');
  await assert.rejects(a.apply(OLD, { confirmMs: 5000, healthCheck: healthy, lockWaitMs: 100 }), failsWith('CG_BUSY'));
  assert.equal(inForce(), NEW);
});

test('an apply whose process died unconfirmed is rolled back by the next command', async () => {
  await applyOld();
  const a = applier();
  // Simulate: process 31337 loaded NEW and died before confirming; its deadline passed.
  writeFileSync(join(fake, 'anchors/natearly_conegate'), NEW);
  writeFileSync(join(a.dir, 'current.conf'), NEW);
  writeFileSync(join(a.dir, 'previous.conf'), OLD);
  writeFileSync(join(a.dir, 'pending.json'), JSON.stringify({ id: 'x', pid: 31337, deadlineWallMs: 0 }));
  const r = await a.recoverStale();
  assert.equal(r?.outcome, 'rolled-back');
  assert.equal(inForce(), OLD);
});

test('history moves only after a successful load: a failed load followed by revert returns to the real previous rules', async () => {
  await applyOld();
  const a = applier();
  assert.equal((await a.apply(NEW, { confirmMs: 5000, healthCheck: healthy, pollMs: 10 })).outcome, 'confirmed');
  const NEWER = NEW.replace('# new', '# newer').replace('1024:65535', '2000:3000');
  writeFileSync(join(fake, 'fail-load'), '');
  await assert.rejects(a.apply(NEWER, { confirmMs: 5000, healthCheck: healthy }), failsWith('CG_FIREWALL_REJECTED'));
  rmSync(join(fake, 'fail-load'));
  assert.equal(inForce(), NEW);
  assert.equal((await a.revert()).outcome, 'rolled-back');
  assert.equal(inForce(), OLD);
});

test('the watchdog is started before the load and its PID recorded; a failed load drops the pending record', async () => {
  await applyOld();
  const jobs: unknown[] = [];
  const run = processRunner({ ...process.env, PATH: `${FAKES}:${process.env.PATH}`, FAKE_PFCTL_DIR: fake });
  const a = new NatApplier({ backend: pfBackend(run, ANCHOR), stateDir: join(dir, 'state'), clock: realClock, startWatchdog: async (job) => (jobs.push({ job, loadsSoFar: log().split('\n').filter((l) => l.startsWith('loaded')).length }), 4242) });
  const waiting = a.apply(NEW, { confirmMs: 10_000, pollMs: 10 });
  for (let i = 0; i < 500 && (await a.pending())?.watchdogPid === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal((await a.pending())?.watchdogPid, 4242);
  assert.deepEqual((jobs[0] as { loadsSoFar: number }).loadsSoFar, 1);
  await a.requestRevert();
  assert.equal((await waiting).outcome, 'rolled-back');
  writeFileSync(join(fake, 'fail-load'), '');
  await assert.rejects(a.apply(NEW, { confirmMs: 10_000, pollMs: 10 }), failsWith('CG_FIREWALL_REJECTED'));
  assert.equal(await a.pending(), undefined);
});

test('expire (the watchdog at the deadline) rolls back a dead applier\'s apply exactly, and leaves a settled one alone', async () => {
  await applyOld();
  const dead = applier(31337);
  // Process 31337 armed, loaded NEW and died (isAlive says no) before moving the history.
  writeFileSync(join(dead.dir, 'pending.json'), JSON.stringify({ id: 'x', pid: 31337, deadlineWallMs: 0, restore: { current: OLD, previous: null } }));
  writeFileSync(join(fake, 'anchors/natearly_conegate'), NEW);
  const a = applier();
  assert.equal(await a.expire('other'), undefined);
  assert.equal(inForce(), NEW);
  assert.equal((await a.expire('x'))?.outcome, 'rolled-back');
  assert.equal(inForce(), OLD);
  assert.equal(await a.current(), OLD);
  assert.equal(existsSync(join(a.dir, 'previous.conf')), false);
  assert.equal(await a.pending(), undefined);
});

test('confirm with nothing pending is CG_NOTHING_PENDING (exit 1), not "confirmed"', async () => {
  await applyOld();
  await assert.rejects(applier().confirm(), failsWith('CG_NOTHING_PENDING'));
});

test('replace (dynamic reloads) takes the same lock, refuses while an apply waits, and revert returns to the rules before it', async () => {
  await applyOld();
  const a = applier();
  const waiting = a.apply(NEW, { confirmMs: 10_000, pollMs: 10 });
  const other = applier(4242);
  for (let i = 0; i < 200 && (await other.pending()) === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  await assert.rejects(other.replace(NEW + '# pins\n', { keepHistory: false, lockWaitMs: 50 }), failsWith('CG_BUSY'));
  await other.requestRevert();
  assert.equal((await waiting).outcome, 'rolled-back');
  await other.replace(NEW, { keepHistory: false });
  await other.replace(NEW + '# pin 1\n', { keepHistory: true });
  assert.equal(inForce(), NEW + '# pin 1\n');
  assert.equal((await other.revert()).outcome, 'rolled-back');
  assert.equal(inForce(), OLD);
});

test('apply refuses, loading nothing, when the main ruleset does not reference our anchor (names the fix)', async () => {
  writeFileSync(join(fake, 'main.conf'), 'nat-anchor "natrules/*" all\n');
  const run = processRunner({ ...process.env, PATH: `${FAKES}:${process.env.PATH}`, FAKE_PFCTL_DIR: fake });
  const a = new NatApplier({ backend: pfBackend(run, ANCHOR, 'pfctl', 'pfsense'), stateDir: join(dir, 'state'), clock: realClock });
  await assert.rejects(a.apply(NEW, { confirmMs: 5000, healthCheck: healthy }), (e: unknown) => failsWith('CG_ANCHOR_UNREFERENCED')(e) && /nat-anchor "natearly\/conegate"/.test((e as Error).message) && /Filter Reload/.test((e as Error).message));
  assert.equal(inForce(), '');
  assert.equal(await a.pending(), undefined);
});
