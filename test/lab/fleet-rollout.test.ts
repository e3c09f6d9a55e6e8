// The fleet rollout's acceptance (issue #20) against 20 real sshd routers in lab namespaces, five each
// of OPNsense, pfSense, UniFi OS and Linux trees, a third of them with a tcsh login shell. Each test
// builds on the state the one before left (v1 installed, then upgrades to v2 and v3). Trees are
// compared file by file (sha256, mode; with mtimes and directories where nothing may be written).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PLATFORM_ADAPTERS } from '../../agent/src/fleet/rollout/platforms.ts';
import { snapshotTree, startFleetLab, treeChanges, type FakeRouter, type FleetLab, type TreeEntry } from './fleet-routers.ts';
import { buildStandinPackages, HEALTHY, PLATFORMS, type StandinPackages } from './fleet-standins.ts';
import { cliRollout, spawnController, stagedFiles, type CliRollout } from './fleet-rollout-driver.ts';
import { labWaitFor } from './lab-wait.ts';

const N = 20;

/** A bounded wait (polled every 25 ms; a condition that throws, e.g. a file just renamed, is "not yet"). */
const waitFor = (cond: () => boolean, what: string, timeoutMs: number) => labWaitFor(what, async () => (cond() ? true : undefined), timeoutMs, 25);

describe('fleet rollout acceptance: 20 routers behind real sshd', () => {
  let fl: FleetLab;
  let inventory: string;
  const pkgs: Record<string, StandinPackages> = {};
  const snap = () => new Map(fl.routers.map((r) => [r.name, snapshotTree(r.root)]));
  /** Paths of the device-side transaction (backups, manifest, timer): expected to change. */
  const txnDir = (r: FakeRouter) => PLATFORM_ADAPTERS[r.platform].stateDir.slice(1);
  const running = (r: FakeRouter) => (existsSync(join(r.root, 'lab/running')) ? readFileSync(join(r.root, 'lab/running'), 'utf8').trim() : '(stopped)');
  const args = (o: Omit<CliRollout, 'inventory' | 'packageDir'> & { version: string }): CliRollout => ({ inventory, packageDir: pkgs[o.version]!.dir, ...o });
  const rollout = (o: Parameters<typeof args>[0]) => cliRollout(fl, args(o));
  const outcomes = (res: { results: { host: string; outcome: string }[] }) => Object.fromEntries(res.results.map((r) => [r.host, r.outcome]));
  const untouched = (a: Map<string, Map<string, TreeEntry>>, b: Map<string, Map<string, TreeEntry>>, names: string[]) => {
    for (const n of names) assert.deepEqual(treeChanges(a.get(n)!, b.get(n)!, { mtime: true, dirs: true }), [], `${n} was touched`);
  };

  before(async () => {
    fl = await startFleetLab({ routers: Array.from({ length: N }, (_, i) => ({ platform: PLATFORMS[i % 4]!, shell: i % 3 === 1 ? 'tcsh' : 'sh' })) });
    inventory = fl.writeInventory(join(fl.lab.workDir, 'inventory.yml'));
    for (const v of ['1.0.0', '2.0.0', '3.0.0']) pkgs[v] = buildStandinPackages(join(fl.lab.workDir, 'pkgs'), v, fl.rootAt);
  });
  after(async () => {
    await fl?.destroy();
  });

  it('--check on fresh routers reports an install for each and touches nothing (hashes, modes, mtimes)', async () => {
    const t0 = snap();
    const res = await rollout({ version: '1.0.0', check: true, forks: 10 });
    untouched(t0, snap(), fl.routers.map((r) => r.name));
    assert.deepEqual(Object.values(outcomes(res)), Array(N).fill('checked'));
    assert.deepEqual(res.results.map((r) => r.action), Array(N).fill('install'));
    assert.deepEqual(Object.fromEntries(res.results.map((r) => [r.host, r.platform])), Object.fromEntries(fl.routers.map((r) => [r.name, r.platform])));
  });

  it('rolls v1 out to 20 routers, at most 10 at once, tcsh login shells included', async () => {
    const res = await rollout({ version: '1.0.0', forks: 10 });
    assert.deepEqual(Object.values(outcomes(res)), Array(N).fill('changed'), JSON.stringify(res.results.filter((r) => r.outcome !== 'changed')));
    assert.ok(res.peakConcurrent <= 10 && res.peakConcurrent >= 2, `peak ${res.peakConcurrent} hosts at once`);
    assert.deepEqual(fl.routers.map(running), Array(N).fill('1.0.0'));
    assert.ok(fl.routers.filter((r) => r.shell === 'tcsh').length >= 6);
    assert.deepEqual(fl.routers.flatMap((r) => stagedFiles(r.root)), []);
  });

  it('a second rollout of the same version changes nothing and says so', async () => {
    const t0 = snap();
    const res = await rollout({ version: '1.0.0', forks: 10 });
    assert.deepEqual(Object.values(outcomes(res)), Array(N).fill('unchanged'));
    assert.equal(res.ok, true);
    assert.equal(res.code, 0);
    // ...and the run's report counts every host as unchanged.
    const report = join(fl.lab.workDir, 'report-again.json');
    assert.equal((await cliRollout(fl, args({ version: '1.0.0', forks: 10, report }))).code, 0);
    const rep = JSON.parse(readFileSync(report, 'utf8')) as { ok: boolean; counts: Record<string, number> };
    assert.deepEqual([rep.ok, rep.counts], [true, { unchanged: N }]);
    untouched(t0, snap(), fl.routers.map((r) => r.name));
  });

  it('--check of an upgrade reports it and touches nothing', async () => {
    const t0 = snap();
    const res = await rollout({ version: '2.0.0', check: true, forks: 10 });
    untouched(t0, snap(), fl.routers.map((r) => r.name));
    assert.deepEqual(res.results.map((r) => `${r.outcome} ${r.action} ${r.fromVersion}->${r.toVersion}`), Array(N).fill('checked upgrade 1.0.0->2.0.0'));
  });

  it('a canary that fails its health gate stops the rollout: it is reverted, no other host is touched', async () => {
    const canary = fl.routers[0]!;
    fl.setBroken(canary, ['2.0.0']);
    const t0 = snap();
    const res = await rollout({ version: '2.0.0', serial: '1,100%', forks: 10 });
    assert.equal(res.stoppedEarly, true);
    assert.equal(res.ok, false);
    assert.equal(res.code, 1);
    const o = outcomes(res);
    assert.equal(o[canary.name], 'reverted');
    assert.deepEqual(fl.routers.slice(1).map((r) => o[r.name]), Array(N - 1).fill('skipped'));
    untouched(t0, snap(), fl.routers.slice(1).map((r) => r.name));
    assert.deepEqual(treeChanges(t0.get(canary.name)!, snapshotTree(canary.root), { skip: [txnDir(canary)] }), []);
    assert.equal(running(canary), '1.0.0');
    fl.setBroken(canary, []);
  });

  it('a host whose health gate fails against its own baseline is back on exactly its previous files; the others upgrade', async () => {
    const bad = fl.routers[5]!; // pfSense
    // v2 answers, but two of its three mesh peers lose their path on this host.
    fl.setHealth(bad, { ...HEALTHY, up: 1, direct: 1 }, '2.0.0');
    const t0 = snapshotTree(bad.root);
    const res = await rollout({ version: '2.0.0', forks: 10 });
    const o = outcomes(res);
    assert.equal(o[bad.name], 'reverted');
    const r = res.results.find((x) => x.host === bad.name)!;
    assert.equal(r.error?.code, 'CG_HEALTH_GATE_FAILED');
    assert.equal(r.health?.ok, false);
    assert.match(r.health!.reasons.join('\n'), /mesh peers with a path fell from 3 to 1/);
    assert.deepEqual(treeChanges(t0, snapshotTree(bad.root), { skip: [txnDir(bad)] }), []);
    assert.equal(running(bad), '1.0.0');
    assert.deepEqual(fl.routers.filter((x) => x !== bad).map((x) => `${o[x.name]} ${running(x)}`), Array(N - 1).fill('changed 2.0.0'));
    fl.setHealth(bad, null, '2.0.0');
  });

  it('a changed host key is refused on that host only', async () => {
    const [a, moved, c] = [fl.routers[7]!, fl.routers[8]!, fl.routers[9]!];
    await moved.sshd.restart({ newKeys: true });
    const t0 = snapshotTree(moved.root);
    const res = await rollout({ version: '3.0.0', limit: `${a.name}:${moved.name}:${c.name}`, forks: 10 });
    const o = outcomes(res);
    assert.deepEqual([o[a.name], o[moved.name], o[c.name]], ['changed', 'failed', 'changed']);
    assert.equal(res.results.find((x) => x.host === moved.name)!.error?.code, 'CG_HOST_KEY_CHANGED');
    assert.deepEqual(treeChanges(t0, snapshotTree(moved.root), { mtime: true, dirs: true }), []);
  });

  it('a host that drops the connection mid-upload is left clean, on its previous version', async () => {
    const r = fl.routers[10]!; // UniFi OS, on 2.0.0
    const t0 = snapshotTree(r.root);
    // Slow the uploads into this router so the drop lands in the middle of one.
    await fl.lab.nftApply(r.sshd.node, 'table inet flabslow {\n chain input {\n  type filter hook input priority -10; policy accept;\n  tcp dport 22 limit rate over 128 kbytes/second drop\n }\n}\n');
    try {
      const run = rollout({ version: '3.0.0', limit: r.name, forks: 1 });
      await waitFor(() => stagedFiles(r.root).some((f) => f.endsWith('.tmp') && statSync(join(r.root, f)).size > 64 * 1024), 'an upload under way', 30_000);
      for (const pid of r.sshd.sessionPids()) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
      const res = await run;
      const one = res.results[0]!;
      assert.equal(one.outcome, 'failed');
      assert.equal(one.error?.code, 'CG_CONNECTION_LOST', one.error?.message);
    } finally {
      await fl.lab.exec(r.sshd.node, ['nft', 'delete', 'table', 'inet', 'flabslow']);
    }
    assert.deepEqual(stagedFiles(r.root), []);
    assert.deepEqual(treeChanges(t0, snapshotTree(r.root)), []);
    assert.equal(running(r), '2.0.0');
  });

  it('an auth failure and a full disk are reported on their host only, each left on its previous version', async () => {
    const [locked, full, fine] = [fl.routers[13]!, fl.routers[15]!, fl.routers[16]!]; // UniFi, Linux, OPNsense; all on 2.0.0
    const keys = join(locked.sshd.dir, 'authorized_keys');
    const authorized = readFileSync(keys, 'utf8');
    writeFileSync(keys, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGlbPnQv2lP0nW7B2ZfG9xZ0y2lHr8Zb8mJ6sHkq0d8x someone-else\n', { mode: 0o600 });
    // The package's directory is a 256 KiB tmpfs; sshd starts again so its mount namespace has it.
    const incoming = join(full.root, 'var/lib/conegate/incoming');
    mkdirSync(incoming, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0755', 'tmpfs', incoming]);
    try {
      await full.sshd.restart();
      const t0 = new Map([locked, full].map((r) => [r.name, snapshotTree(r.root)]));
      const res = await rollout({ version: '3.0.0', limit: `${locked.name}:${full.name}:${fine.name}`, forks: 10 });
      const by = Object.fromEntries(res.results.map((r) => [r.host, r]));
      assert.deepEqual([by[locked.name]!.outcome, by[full.name]!.outcome, by[fine.name]!.outcome], ['failed', 'failed', 'changed']);
      assert.equal(by[locked.name]!.error?.code, 'CG_AUTH_FAILED');
      assert.match(by[full.name]!.error?.message ?? '', /No space left/);
      assert.deepEqual(treeChanges(t0.get(locked.name)!, snapshotTree(locked.root), { mtime: true, dirs: true }), []);
      assert.deepEqual(treeChanges(t0.get(full.name)!, snapshotTree(full.root)), []);
      assert.deepEqual(stagedFiles(full.root), []);
      assert.deepEqual([running(locked), running(full), running(fine)], ['2.0.0', '2.0.0', '3.0.0']);
    } finally {
      writeFileSync(keys, authorized, { mode: 0o600 });
      execFileSync('umount', [incoming]);
    }
  });

  it('every SSH session cut while the apply runs (an admin reaching the router over the mesh it upgrades): the apply goes on, the controller reconnects and confirms', async () => {
    const r = fl.routers[19]!; // Linux, tcsh login shell, on 2.0.0
    const timerPid = join(r.root, txnDir(r), 'timer.pid');
    assert.equal(existsSync(timerPid), false, 'no change armed on the host yet');
    const run = rollout({ version: '3.0.0', limit: r.name, forks: 1 });
    // The detached apply arms its timer first thing: from then on the host is being changed.
    await waitFor(() => existsSync(timerPid), 'the apply to arm its timer on the host', 60_000);
    const cut = r.sshd.sessionPids();
    for (const pid of cut) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    const res = await run;
    const one = res.results[0]!;
    assert.ok(cut.length >= 1, 'a session was cut');
    assert.equal(one.outcome, 'changed', JSON.stringify(one));
    assert.equal(running(r), '3.0.0');
    assert.deepEqual(stagedFiles(r.root), []);
    assert.equal(existsSync(join(r.root, txnDir(r), 'reverted')), false);
  });

  it('the controller killed after apply: the host is back on its previous version within the timer + 10 s', async () => {
    const r = fl.routers[11]!; // Linux, tcsh login shell, on 2.0.0
    const REVERT_SEC = 10; // the CLI's shortest timer
    const t0 = snapshotTree(r.root);
    // A settle time far longer than the timer: the controller cannot confirm before it is killed.
    const ctl = spawnController(fl, args({ version: '3.0.0', limit: r.name, forks: 1, revertAfterSec: REVERT_SEC, settleSec: 300 }));
    await ctl.waitForOutput(new RegExp(`"host":"${r.name}","step":"health"`), 60_000);
    const appliedAt = Date.now();
    assert.equal(running(r), '3.0.0');
    process.kill(ctl.pid, 'SIGKILL');
    await ctl.done;
    const reverted = join(r.root, PLATFORM_ADAPTERS.linux.stateDir.slice(1), 'reverted');
    await waitFor(() => existsSync(reverted), 'the host to revert by itself', (REVERT_SEC + 10) * 1000);
    assert.ok(Date.now() - appliedAt <= (REVERT_SEC + 10) * 1000);
    assert.equal(readFileSync(reverted, 'utf8'), 'ok\n');
    assert.equal(running(r), '2.0.0');
    assert.deepEqual(treeChanges(t0, snapshotTree(r.root), { skip: [txnDir(r)] }), []);
  });
});
