import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, test } from 'node:test';
import { applyScript, confirmScript, revertNowScript, TXN_EXIT, type TxnPlan } from './device-txn.ts';
import { snapshot } from './rollout/twin-fleet.ts';

const plan: TxnPlan = {
  stateDir: '/var/db/conegate-fleet',
  files: [{ target: '/usr/local/bin/conegate', staged: '/usr/local/bin/conegate.cg-staged' }],
  stopCommand: 'service conegate stop',
  startCommand: 'service conegate start',
};

test('the scripts are valid POSIX sh (sh -n) and default to a 120 s timer', () => {
  for (const s of [applyScript(plan), confirmScript(plan.stateDir)]) execFileSync('/bin/sh', ['-n'], { input: s });
  assert.match(applyScript(plan), /sleep 120;/);
});

test('bad plans are refused before anything is sent', () => {
  assert.throws(() => applyScript({ ...plan, stopCommand: 'a\nb' }), { code: 'CG_INPUT_INVALID' });
  assert.throws(() => applyScript({ ...plan, stateDir: '/tmp/x y' }), { code: 'CG_INPUT_INVALID' });
  assert.throws(() => applyScript({ ...plan, files: [{ target: '/a/../b', staged: '/a/b' }] }), { code: 'CG_INPUT_INVALID' });
  assert.throws(() => applyScript({ ...plan, revertAfterSec: 0 }), { code: 'CG_INPUT_INVALID' });
  assert.throws(() => confirmScript('relative'), { code: 'CG_INPUT_INVALID' });
});

describe('trees, install and revert commands (local sh on a temp dir)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-dtxn-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const sh = (script: string) => spawnSync('/bin/sh', ['-s'], { input: script, encoding: 'utf8' });

  function setup(tag: string) {
    const R = join(dir, tag);
    mkdirSync(join(R, 'app/releases/1'), { recursive: true });
    writeFileSync(join(R, 'app/releases/1/bin'), 'v1\n', { mode: 0o755 });
    symlinkSync('releases/1', join(R, 'app/current'));
    const tplan: TxnPlan = {
      stateDir: join(R, 'txn'), files: [], stopCommand: '', startCommand: '', revertAfterSec: 60,
      trees: [join(R, 'app/current'), join(R, 'app/releases/2')],
      installCommands: [`mkdir ${R}/app/releases/2 && echo v2 > ${R}/app/releases/2/bin`, `ln -sfn releases/2 ${R}/app/current.new && mv -Tf ${R}/app/current.new ${R}/app/current`],
      revertCommands: [`echo reverted >> ${R}/log`],
      owner: 'run-1',
    };
    return { R, tplan };
  }

  it('a revert now puts every tree back exactly and runs the revert commands; then nothing is left to confirm', () => {
    const { R, tplan } = setup('t1');
    const before = snapshot(join(R, 'app'));
    const a = sh(applyScript(tplan));
    assert.equal(a.status, TXN_EXIT.ok, a.stderr);
    assert.equal(readlinkSync(join(R, 'app/current')), 'releases/2');
    const r = sh(revertNowScript(tplan.stateDir));
    assert.equal(r.stdout.trim(), 'ok', r.stderr);
    assert.deepEqual(snapshot(join(R, 'app')), before);
    assert.equal(readFileSync(join(R, 'log'), 'utf8'), 'reverted\n');
    assert.equal(sh(confirmScript(tplan.stateDir)).status, 3);
    assert.equal(existsSync(join(tplan.stateDir, 'timer.pid')), false);
  });

  it('after a confirm there is nothing to revert; a failing install command reverts at once (exit 2)', () => {
    const { R, tplan } = setup('t2');
    assert.equal(sh(applyScript(tplan)).status, TXN_EXIT.ok);
    assert.equal(sh(confirmScript(tplan.stateDir)).status, 0);
    assert.equal(sh(revertNowScript(tplan.stateDir)).status, 3);
    assert.equal(readlinkSync(join(R, 'app/current')), 'releases/2');
    const { R: R3, tplan: p3 } = setup('t3');
    const before = snapshot(join(R3, 'app'));
    const bad = sh(applyScript({ ...p3, installCommands: [...p3.installCommands!, 'false'] }));
    assert.equal(bad.status, TXN_EXIT.failedAfter);
    assert.deepEqual(snapshot(join(R3, 'app')), before);
    assert.equal(existsSync(join(p3.stateDir, 'lock')), false);
  });

  it('a second transaction names the lock owner; commands that could break the scripts are refused', () => {
    const { tplan } = setup('t4');
    assert.equal(sh(applyScript(tplan)).status, TXN_EXIT.ok);
    const busy = sh(applyScript({ ...tplan, owner: 'run-2' }));
    assert.equal(busy.status, TXN_EXIT.busy);
    assert.match(busy.stderr, /owner: run-1; in progress/);
    // The timer gone without a decision (a reboot inside the window): named as orphaned.
    const pid = Number(readFileSync(join(tplan.stateDir, 'timer.pid'), 'utf8'));
    writeFileSync(join(tplan.stateDir, 'timer.pid'), '999999999\n');
    assert.match(sh(applyScript({ ...tplan, owner: 'run-2' })).stderr, /owner: run-1; orphaned/);
    writeFileSync(join(tplan.stateDir, 'timer.pid'), `${pid}\n`);
    // Another run's transaction is never confirmed or reverted by this one.
    assert.equal(sh(revertNowScript(tplan.stateDir, 'run-2')).status, 3);
    assert.equal(sh(confirmScript(tplan.stateDir, 'run-2')).status, 3);
    assert.ok(existsSync(join(tplan.stateDir, 'lock')));
    assert.equal(sh(revertNowScript(tplan.stateDir, 'run-1')).stdout.trim(), 'ok');
    assert.throws(() => applyScript({ ...tplan, installCommands: ['echo CONEGATE_REVERT'] }), { code: 'CG_INPUT_INVALID' });
    assert.throws(() => applyScript({ ...tplan, revertCommands: ['a\nb'] }), { code: 'CG_INPUT_INVALID' });
    assert.throws(() => applyScript({ ...tplan, owner: 'a b' }), { code: 'CG_INPUT_INVALID' });
    assert.throws(() => applyScript({ ...tplan, trees: ['/x/../y'] }), { code: 'CG_INPUT_INVALID' });
  });
});
