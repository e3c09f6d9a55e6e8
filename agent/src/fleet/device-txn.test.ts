import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { applyScript, confirmScript, type TxnPlan } from './device-txn.ts';

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
