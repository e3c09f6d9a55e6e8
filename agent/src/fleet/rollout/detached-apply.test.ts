import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { launchScript, parsePoll, pollScript } from './detached-apply.ts';

const work = mkdtempSync(join(tmpdir(), 'cg-detached-'));
after(() => rmSync(work, { recursive: true, force: true }));
const sh = (script: string) => spawnSync('/bin/sh', ['-s'], { input: script, encoding: 'utf8' });

test('the apply runs detached, outlives the launching shell, and its status and stderr are read back', async () => {
  const S = join(work, 'state');
  const launched = sh(launchScript(S, 'run-1', 'echo working >&2\nsleep 0.3\nexit 2\n'));
  assert.equal(launched.status, 0, launched.stderr);
  assert.equal(launched.stdout.trim(), 'launched');
  // The launching shell has already exited: the apply goes on without it.
  assert.deepEqual(parsePoll(sh(pollScript(S, 'run-1')).stdout), { state: 'running' });
  const end = Date.now() + 10_000;
  let state = parsePoll(sh(pollScript(S, 'run-1')).stdout);
  while (state.state !== 'done' && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    state = parsePoll(sh(pollScript(S, 'run-1')).stdout);
  }
  assert.deepEqual(state, { state: 'done', code: 2, stderr: 'working\n' });
  assert.equal((spawnSync('stat', ['-c', '%a', join(S, 'apply-run-1.sh')], { encoding: 'utf8' }).stdout.trim()), '600', 'the script file is private');
  assert.ok(existsSync(join(S, 'apply-run-1.exit')) && readFileSync(join(S, 'apply-run-1.exit'), 'utf8') === '2\n');
  assert.deepEqual(parsePoll(sh(pollScript(S, 'other-run')).stdout), { state: 'absent' });
});

test('bad input: a run id or path a file name must not carry, a script with the end marker, a strange poll answer', () => {
  assert.throws(() => launchScript('/var/lib/x', 'a b', 'true'), /run id/);
  assert.throws(() => launchScript('/var/lib/x;rm', 'r', 'true'));
  assert.throws(() => launchScript('/var/lib/x', 'r', 'true\nCONEGATE_APPLY\n'), /end marker/);
  assert.throws(() => parsePoll('what\n'), /unexpected answer/);
  assert.deepEqual(parsePoll('done 75\nanother transaction holds the lock\n'), { state: 'done', code: 75, stderr: 'another transaction holds the lock\n' });
});
