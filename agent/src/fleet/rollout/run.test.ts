import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConegateError } from '../../errors.ts';
import { LocalRemoteHost } from '../ssh-twin.ts';
import type { FleetHost, RemoteConnector, RemoteHost } from '../types.ts';
import type { HostResult, PackageRef, RolloutEvent, RolloutOptions } from './contract.ts';
import { runRollout } from './run.ts';
import { hostsToResume, readRunState } from './runstate.ts';
import { LINUX_MARKERS, makeRoot, makeTarball, snapshot, twinHost, versionHealthGate } from './twin-fleet.ts';

const work = mkdtempSync(join(tmpdir(), 'cg-rollout-'));
after(() => rmSync(work, { recursive: true, force: true }));

const bin = { text: '#!/bin/sh\necho conegate\n', mode: 0o755 };
const v1 = makeTarball(work, 'conegate-1.0.0-linux-x64', '1.0.0', { 'bin/conegate': bin });
const v2 = makeTarball(work, 'conegate-2.0.0-linux-x64', '2.0.0', { 'bin/conegate': bin, 'lib/new.js': 'new\n' });
const bad = makeTarball(work, 'conegate-3.0.0-bad-linux-x64', '3.0.0-bad', { 'bin/conegate': bin });
const TXN_DIR = 'var/lib/conegate-fleet';
let fleetNo = 0;

interface Fleet { hosts: FleetHost[]; roots: Map<string, string>; connect: RemoteConnector; maxActive: () => number; dir: string }

/** n Linux twins; the service commands are stand-ins that log to the root. */
function fleet(n: number, vars: (i: number) => Record<string, unknown> = () => ({})): Fleet {
  const dir = join(work, `fleet${++fleetNo}`);
  const roots = new Map<string, string>();
  const hosts: FleetHost[] = [];
  for (let i = 0; i < n; i++) {
    const name = `r${String(i).padStart(2, '0')}`;
    roots.set(name, makeRoot(join(dir, name), LINUX_MARKERS));
    hosts.push(twinHost(name, 'auto', { conegate_root: roots.get(name), conegate_service_start: 'echo start >> svc.log', conegate_service_stop: 'echo stop >> svc.log', ...vars(i) }));
  }
  // Hosts being worked on = hosts with an open connection (the confirm opens a second one).
  const open = new Map<string, number>();
  let max = 0;
  const connect: RemoteConnector = async (h) => {
    const r = new LocalRemoteHost({ root: roots.get(h.name)! });
    open.set(h.name, (open.get(h.name) ?? 0) + 1);
    max = Math.max(max, open.size);
    const close = async () => {
      const n = open.get(h.name)! - 1;
      if (n) open.set(h.name, n);
      else open.delete(h.name);
      await r.close();
    };
    return { exec: (c, o) => r.exec(c, o), upload: (l, p, m) => r.upload(l, p, m), close };
  };
  return { hosts, roots, connect, maxActive: () => max, dir };
}

function options(f: Fleet, pkg: PackageRef, o: Partial<RolloutOptions> = {}): RolloutOptions & { events: RolloutEvent[] } {
  const events: RolloutEvent[] = [];
  return {
    hosts: f.hosts, policy: { serial: [], forks: 5 }, trust: () => ({ acceptNew: false }), connect: f.connect,
    packages: { linux: pkg }, baseConfig: { stateDir: '/var/lib/conegate' }, check: false, diff: false, revertAfterSec: 120,
    health: versionHealthGate(), onEvent: (e) => events.push(e), sleep: async () => {}, commandTimeoutMs: 20_000,
    events, ...o,
  };
}

const outcomes = (rs: HostResult[]) => rs.map((r) => r.outcome);
const snapAll = (f: Fleet, o: { mtimes?: boolean } = {}) => Object.fromEntries([...f.roots].map(([n, r]) => [n, snapshot(r, { ...o, exclude: [TXN_DIR] })]));

describe('runRollout on the twin', () => {
  it('20 hosts, forks 5, serial 1,10%,100%: batches 1/2/17, every host changed, then a second run changes nothing', async () => {
    const f = fleet(20);
    const state = join(f.dir, 'run.json');
    const o = options(f, v1, { policy: { serial: [{ count: 1 }, { percent: 10 }, { percent: 100 }], forks: 5 }, runStateFile: state });
    const res = await runRollout(o);
    assert.ok(res.ok, JSON.stringify(res.results.filter((r) => r.outcome !== 'changed'), null, 1));
    assert.deepEqual(outcomes(res.results), Array(20).fill('changed'));
    const start = o.events.find((e) => e.type === 'run-start');
    assert.deepEqual(start?.type === 'run-start' && start.batches.map((b) => b.length), [1, 2, 17]);
    assert.ok(f.maxActive() <= 5 && f.maxActive() >= 2, `at most 5 hosts at once, saw ${f.maxActive()}`);
    // Per host: steps, then exactly one host-done, nothing after it.
    for (const h of f.hosts) {
      const mine = o.events.filter((e) => (e.type === 'host-step' && e.host === h.name) || (e.type === 'host-done' && e.result.host === h.name));
      assert.equal(mine.filter((e) => e.type === 'host-done').length, 1);
      assert.equal(mine.at(-1)!.type, 'host-done');
      assert.deepEqual(mine.filter((e) => e.type === 'host-step').map((e) => e.type === 'host-step' && e.step), ['connect', 'probe', 'plan', 'upload', 'apply', 'health', 'confirm']);
    }
    const root = f.roots.get('r07')!;
    assert.equal(readFileSync(join(root, 'opt/conegate/current/VERSION'), 'utf8'), '1.0.0\n');
    assert.equal(JSON.parse(readFileSync(join(root, 'var/lib/conegate/fleet-state.json'), 'utf8')).packageHash, v1.sha256);
    assert.equal(statSync(join(root, 'etc/conegate/conegate.json')).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(root, 'svc.log'), 'utf8'), 'stop\nstart\n');
    assert.equal(existsSync(join(root, TXN_DIR, 'lock')), false);
    assert.equal(statSync(state).mode & 0o777, 0o600);
    assert.equal(Object.keys(JSON.parse(readFileSync(state, 'utf8')).results).length, 20);

    const before = snapAll(f, { mtimes: true });
    const again = await runRollout(options(f, v1));
    assert.deepEqual(outcomes(again.results), Array(20).fill('unchanged'));
    assert.deepEqual(snapAll(f, { mtimes: true }), before);
  });

  it('an upgrade whose health gate fails is reverted at once: exactly the previous files', async () => {
    const f = fleet(3);
    assert.ok((await runRollout(options(f, v1))).ok);
    const before = snapAll(f);
    const res = await runRollout(options(f, bad));
    assert.deepEqual(outcomes(res.results), ['reverted', 'reverted', 'reverted']);
    assert.equal(res.results[0]!.error?.code, 'CG_HEALTH_GATE_FAILED');
    assert.match(res.results[0]!.health!.reasons[0]!, /3\.0\.0-bad/);
    const after = snapAll(f);
    for (const n of f.roots.keys()) delete after[n]!['svc.log'], delete before[n]!['svc.log'];
    assert.deepEqual(after, before);
    assert.equal(readFileSync(join(f.roots.get('r00')!, TXN_DIR, 'reverted'), 'utf8'), 'ok\n');
    // An upgrade that is healthy goes through, the old release stays for a later switch back.
    const up = await runRollout(options(f, v2));
    assert.deepEqual(outcomes(up.results), ['changed', 'changed', 'changed']);
    assert.equal(up.results[0]!.fromVersion, '1.0.0');
    assert.equal(up.results[0]!.fromPackageHash, v1.sha256);
  });

  it('a failing canary stops everything: the other hosts are skipped and untouched', async () => {
    const f = fleet(6, (i) => (i === 0 ? { conegate_service_start: 'false' } : {}));
    const before = snapAll(f, { mtimes: true });
    const o = options(f, v1, { policy: { serial: [{ count: 1 }, { percent: 100 }], forks: 5 } });
    const res = await runRollout(o);
    assert.equal(res.ok, false);
    assert.equal(res.stoppedEarly, true);
    assert.deepEqual(outcomes(res.results), ['reverted', 'skipped', 'skipped', 'skipped', 'skipped', 'skipped']);
    const done = o.events.find((e) => e.type === 'batch-done');
    assert.ok(done?.type === 'batch-done' && done.stop && done.why === 'the canary failed');
    const after = snapAll(f, { mtimes: true });
    for (const n of ['r01', 'r02', 'r03', 'r04', 'r05']) assert.deepEqual(after[n], before[n]);
    assert.equal(existsSync(join(f.roots.get('r00')!, 'opt/conegate/current')), false);
  });

  it('--max-fail-percentage must be exceeded, not equalled', async () => {
    const failing = (ks: number[]) => fleet(10, (i) => (ks.includes(i) ? { conegate_service_start: 'false' } : {}));
    const policy = { serial: [{ count: 5 }], forks: 5, maxFailPercentage: 20 };
    const equalled = await runRollout(options(failing([1]), v1, { policy }));
    assert.equal(equalled.stoppedEarly, false);
    assert.equal(equalled.results.filter((r) => r.outcome === 'changed').length, 9);
    const exceeded = await runRollout(options(failing([1, 2]), v1, { policy }));
    assert.equal(exceeded.stoppedEarly, true);
    assert.deepEqual(outcomes(exceeded.results).slice(5), Array(5).fill('skipped'));
  });

  it('--check writes nothing anywhere (hash and mtime of every entry), and --diff shows the config change', async () => {
    const f = fleet(3);
    const before = snapshot(f.dir, { mtimes: true });
    const res = await runRollout(options(f, v1, { check: true, diff: true }));
    assert.deepEqual(outcomes(res.results), ['checked', 'checked', 'checked']);
    assert.equal(res.results[0]!.action, 'install');
    assert.match(res.results[0]!.configDiff!, /\+  "stateDir": "\/var\/lib\/conegate"/);
    assert.deepEqual(snapshot(f.dir, { mtimes: true }), before);
  });

  it('a host locked by another rollout fails clearly and keeps no staged file', async () => {
    const f = fleet(1);
    const root = f.roots.get('r00')!;
    mkdirSync(join(root, TXN_DIR, 'lock'), { recursive: true });
    writeFileSync(join(root, TXN_DIR, 'lock/owner'), 'other-run\n');
    const before = snapshot(root);
    const res = await runRollout(options(f, v1));
    assert.equal(res.results[0]!.outcome, 'failed');
    assert.equal(res.results[0]!.error?.code, 'CG_BUSY');
    assert.match(res.results[0]!.error!.message, /other-run/);
    assert.deepEqual(snapshot(root), before);
  });

  it('an upload that fails midway leaves no staged or partial file and no new directory', async () => {
    const f = fleet(1);
    const root = f.roots.get('r00')!;
    const before = snapshot(root);
    let uploads = 0;
    const connect: RemoteConnector = async (h, t) => {
      const r = await f.connect(h, t);
      return { ...r, upload: async (l, p, m) => { if (++uploads === 2) throw new ConegateError('CG_COMMAND_FAILED', 'disk full'); return r.upload(l, p, m); } } as RemoteHost;
    };
    const res = await runRollout(options(f, v1, { connect }));
    assert.equal(res.results[0]!.outcome, 'failed');
    assert.match(res.results[0]!.error!.message, /disk full/);
    assert.deepEqual(snapshot(root), before);
  });

  it('an interrupted run leaves the rest skipped in the state file; resuming it does those and keeps the first results', async () => {
    const f = fleet(6);
    const file = join(f.dir, 'run.json');
    const abort = new AbortController();
    const o = options(f, v1, { policy: { serial: [{ count: 1 }, { percent: 100 }], forks: 5 }, runStateFile: file, signal: abort.signal });
    const onEvent = o.onEvent;
    o.onEvent = (e) => { onEvent(e); if (e.type === 'host-done') abort.abort(); };
    const first = await runRollout(o);
    assert.deepEqual(outcomes(first.results), ['changed', 'skipped', 'skipped', 'skipped', 'skipped', 'skipped']);
    const state = await readRunState(file);
    const todo = hostsToResume(state);
    assert.deepEqual(todo, ['r01', 'r02', 'r03', 'r04', 'r05']);
    const rest = await runRollout(options(f, v1, {
      hosts: f.hosts.filter((h) => todo.includes(h.name)), runStateFile: file, runId: state.runId,
      priorResults: state.hosts.filter((h) => !todo.includes(h)).map((h) => state.results[h]!),
    }));
    assert.ok(rest.ok);
    const end = await readRunState(file);
    assert.equal(end.runId, state.runId);
    assert.deepEqual(end.hosts.map((h) => end.results[h]!.outcome), Array(6).fill('changed'));
  });

  it('a host of a platform without a package, or an unknown platform, fails before anything is written', async () => {
    const f = fleet(2);
    rmSync(join(f.roots.get('r01')!, 'etc/os-release'));
    const before = snapshot(f.dir);
    const res = await runRollout(options(f, v1, { packages: { unifi: v1 } }));
    assert.deepEqual(res.results.map((r) => r.error?.code), ['CG_PACKAGE_MISSING', 'CG_PLATFORM_UNKNOWN']);
    assert.deepEqual(snapshot(f.dir), before);
  });
});
