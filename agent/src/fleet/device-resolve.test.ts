/**
 * The boot check (agent/init/conegate-fleet-boot-check -> STATE/resolve.sh) and the next rollout's
 * orphan resolution, on fake roots with the local sh: a killed timer stands for a reboot inside the
 * confirm window (same boot), a rewritten lock/boot for a real reboot (boot id changed).
 */
import { pidAlive } from '../fw/nat/files.ts';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, test } from 'node:test';
import { applyScript, confirmScript, TXN_EXIT, type TxnPlan } from './device-txn.ts';
import { resolveScript } from './device-resolve.ts';
import { killTxnTimer, snapshot } from './rollout/twin-fleet.ts';

const BOOT_CHECK = join(import.meta.dirname, '../../init/conegate-fleet-boot-check');

test('the resolve script and the boot check are valid POSIX sh', () => {
  execFileSync('/bin/sh', ['-n'], { input: resolveScript('/var/db/conegate-fleet') });
  execFileSync('/bin/sh', ['-n', BOOT_CHECK]);
  const bad = spawnSync('/bin/sh', [BOOT_CHECK, 'relative/dir'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /usage/);
});

describe('a change armed when the host went down', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-boot-'));
  const timers: number[] = [];
  after(() => {
    for (const p of timers) if (pidAlive(p)) try { process.kill(-p, 'SIGKILL'); } catch { /* not a group leader yet, or gone */ }
    rmSync(dir, { recursive: true, force: true });
  });
  const sh = (script: string) => spawnSync('/bin/sh', ['-s'], { input: script, encoding: 'utf8' });
  const bootCheck = (S: string, live = false) => spawnSync('/bin/sh', [BOOT_CHECK, ...(live ? ['--live'] : []), S], { encoding: 'utf8' });

  /** A fake root with a release tree, a config file, and a transaction that switches both (stand-in service commands log to R/svc). */
  function armed(tag: string, owner = 'run-1') {
    const R = join(dir, tag);
    mkdirSync(join(R, 'app/releases/1'), { recursive: true });
    writeFileSync(join(R, 'app/releases/1/bin'), 'v1\n', { mode: 0o755 });
    symlinkSync('releases/1', join(R, 'app/current'));
    writeFileSync(join(R, 'app/conegate.json'), '{"v":1}\n', { mode: 0o600 });
    const plan: TxnPlan = {
      stateDir: join(R, 'txn'), files: [{ target: join(R, 'app/conegate.json'), staged: join(R, 'app/conegate.json.cg-staged') }],
      stopCommand: `echo stop >> ${R}/svc`, startCommand: `echo start >> ${R}/svc`, revertAfterSec: 600,
      trees: [join(R, 'app/current'), join(R, 'app/releases/2')],
      installCommands: [`mkdir ${R}/app/releases/2 && echo v2 > ${R}/app/releases/2/bin`, `ln -sfn releases/2 ${R}/app/current.new && mv -Tf ${R}/app/current.new ${R}/app/current`],
      revertCommands: [`echo revert-cmd >> ${R}/svc`],
      owner,
    };
    const before = snapshot(join(R, 'app'));
    writeFileSync(join(R, 'app/conegate.json.cg-staged'), '{"v":2}\n', { mode: 0o600 });
    const a = sh(applyScript(plan));
    assert.equal(a.status, TXN_EXIT.ok, a.stderr);
    timers.push(Number(readFileSync(join(plan.stateDir, 'timer.pid'), 'utf8')));
    assert.notDeepEqual(snapshot(join(R, 'app')), before);
    writeFileSync(join(R, 'svc'), '');
    return { R, plan, before };
  }

  it('timer killed: the boot check restores exactly the previous files (sha256) and releases the lock, without touching the service; a second boot does nothing', async () => {
    const { R, plan, before } = armed('killed');
    await killTxnTimer(plan.stateDir);
    const r = bootCheck(plan.stateDir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /reverted the change of run-1 \(its revert timer is gone, never confirmed\): ok/);
    assert.deepEqual(snapshot(join(R, 'app')), before);
    assert.equal(existsSync(join(plan.stateDir, 'lock')), false);
    assert.equal(readFileSync(join(R, 'svc'), 'utf8'), 'revert-cmd\n', 'boot mode: revert commands only, the boot path starts the agent');
    const again = bootCheck(plan.stateDir);
    assert.equal(again.status, 0);
    assert.equal(again.stdout, '');
    assert.deepEqual(snapshot(join(R, 'app')), before);
  });

  it('armed in an earlier boot (boot id changed): reverted; --live restarts the service. A live timer is left alone even if the boot id moved (a clock step)', async () => {
    const { R, plan, before } = armed('rebooted');
    writeFileSync(join(plan.stateDir, 'lock/boot'), 'an-earlier-boot\n');
    assert.match(bootCheck(plan.stateDir, true).stdout, /left alone: the change of run-1 is armed, its revert timer \(pid \d+\) runs/);
    await killTxnTimer(plan.stateDir);
    const r = bootCheck(plan.stateDir, true);
    assert.match(r.stdout, /reverted the change of run-1 \(armed before a reboot, never confirmed\): ok/);
    assert.deepEqual(snapshot(join(R, 'app')), before);
    assert.equal(readFileSync(join(R, 'svc'), 'utf8'), 'stop\nrevert-cmd\nstart\n');
    assert.equal(existsSync(join(plan.stateDir, 'lock')), false);
  });

  it('a timer pid now held by another process (pid reuse) does not count as the timer: reverted, and that process is not signalled', async () => {
    const { R, plan, before } = armed('reused');
    await killTxnTimer(plan.stateDir);
    writeFileSync(join(plan.stateDir, 'timer.pid'), `${process.pid}\n`);
    const r = bootCheck(plan.stateDir);
    assert.match(r.stdout, /reverted the change of run-1 \(its revert timer is gone, never confirmed\): ok/);
    assert.deepEqual(snapshot(join(R, 'app')), before);
  });

  it('a revert cut short by a reboot is run again; one still running is left alone', async () => {
    const { R, plan, before } = armed('cut');
    // The timer fired and began its revert (decided, its pid), then the host went down.
    const T = timers.at(-1)!;
    mkdirSync(join(plan.stateDir, 'decided'));
    writeFileSync(join(plan.stateDir, 'decided/pid'), `${T}\n`);
    writeFileSync(join(plan.stateDir, 'timer.pid'), `${process.pid}\n`);
    assert.match(bootCheck(plan.stateDir).stdout, /left alone: the change of run-1 is being reverted \(pid \d+\)/);
    writeFileSync(join(plan.stateDir, 'timer.pid'), `${T}\n`);
    await killTxnTimer(plan.stateDir);
    writeFileSync(join(plan.stateDir, 'lock/boot'), 'an-earlier-boot\n');
    assert.match(bootCheck(plan.stateDir).stdout, /reverted the change of run-1 \(a revert cut short by a reboot\): ok/);
    assert.deepEqual(snapshot(join(R, 'app')), before);
    assert.equal(existsSync(join(plan.stateDir, 'lock')), false);
  });

  it('a confirmed change and a running timer are left alone; a lock never armed before a reboot is released', () => {
    const c = armed('confirmed');
    assert.equal(sh(confirmScript(c.plan.stateDir)).status, 0);
    const after1 = snapshot(join(c.R, 'app'));
    assert.equal(bootCheck(c.plan.stateDir).stdout, '');
    assert.deepEqual(snapshot(join(c.R, 'app')), after1);

    const l = armed('live');
    const r = bootCheck(l.plan.stateDir);
    assert.match(r.stdout, /left alone: the change of run-1 is armed, its revert timer \(pid \d+\) runs/);
    assert.ok(existsSync(join(l.plan.stateDir, 'lock/armed')));
    assert.equal(readFileSync(join(l.R, 'svc'), 'utf8'), '');

    // Lock taken, then the host went down before the timer was armed: nothing was changed.
    const S = join(dir, 'unarmed/txn');
    mkdirSync(join(S, 'lock'), { recursive: true });
    writeFileSync(join(S, 'lock/owner'), 'run-9\n');
    writeFileSync(join(S, 'lock/boot'), 'an-earlier-boot\n');
    writeFileSync(join(S, 'resolve.sh'), resolveScript(S));
    assert.match(bootCheck(S).stdout, /released the lock of run-9 \(a reboot before its change was armed/);
    assert.equal(existsSync(join(S, 'lock')), false);
  });

  it('an orphaned lock is resolved by the next rollout: the old change is reverted, then the new one is applied', async () => {
    const { R, plan, before } = armed('orphan');
    await killTxnTimer(plan.stateDir);
    writeFileSync(join(R, 'app/conegate.json.cg-staged'), '{"v":3}\n', { mode: 0o600 });
    const next = sh(applyScript({ ...plan, owner: 'run-2' }));
    assert.equal(next.status, TXN_EXIT.ok, next.stderr);
    assert.match(next.stderr, /reverted the change of run-1 \(its revert timer is gone, never confirmed\): ok/);
    timers.push(Number(readFileSync(join(plan.stateDir, 'timer.pid'), 'utf8')));
    assert.equal(readFileSync(join(plan.stateDir, 'lock/owner'), 'utf8').trim(), 'run-2');
    assert.equal(readFileSync(join(R, 'app/conegate.json'), 'utf8'), '{"v":3}\n');
    // run-2's own backup holds run-1's previous files (the orphan was reverted first), so its revert goes back to them.
    const r = sh(`sh ${join(plan.stateDir, 'revert.sh')}`);
    assert.equal(r.status, 0);
    assert.deepEqual(snapshot(join(R, 'app')), before);
  });
});
