/** `conegate fleet rollout` / `resume` as an operator runs them (the shipped bundle), without a reachable host. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConegate } from '../conegate.ts';

test('fleet rollout: usage errors exit 2 with nothing on stdout; an unreachable host fails (exit 1), is recorded, and resume retries it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-rollout-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Loopback, a port nothing listens on: the connection is refused at once.
  writeFileSync(join(dir, 'hosts.ini'), 'r1 ansible_host=127.0.0.1 ansible_port=1\n');
  writeFileSync(join(dir, 'known_hosts'), '');
  const pkg = join(dir, 'conegate-1.0.0-linux-x64.tar.gz');
  writeFileSync(pkg, 'not really a package');
  const inv = ['--inventory', join(dir, 'hosts.ini')];

  const none = await runConegate(['fleet', 'rollout', ...inv]);
  assert.equal(none.code, 2);
  assert.equal(none.stdout, '');
  assert.match(none.stderr, /no package/);
  const badPkg = await runConegate(['fleet', 'rollout', ...inv, '--package', `unifi=${pkg}`]);
  assert.equal(badPkg.code, 2);
  assert.match(badPkg.stderr, /package for linux/);

  const state = join(dir, 'run.json');
  const r = await runConegate(['fleet', 'rollout', ...inv, '--package', `linux=${pkg}`, '--known-hosts', join(dir, 'known_hosts'), '--state', state, '--json']);
  assert.equal(r.code, 1, r.stderr);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; results?: { outcome: string; error?: { code: string } }[] });
  assert.deepEqual(events.map((e) => e.type), ['run-start', 'batch-start', 'host-step', 'host-done', 'batch-done', 'run-done']);
  assert.equal(events.at(-1)!.results![0]!.outcome, 'failed');
  assert.equal(statSync(state).mode & 0o777, 0o600);
  const saved = JSON.parse(readFileSync(state, 'utf8')) as { runId: string; results: Record<string, { outcome: string }> };
  assert.equal(saved.results.r1!.outcome, 'failed');

  const again = await runConegate(['fleet', 'resume', '--state', state, '--json']);
  assert.equal(again.code, 1, again.stderr);
  const start = JSON.parse(again.stdout.split('\n')[0]!) as { runId: string; hosts: string[] };
  assert.equal(start.runId, saved.runId);
  assert.deepEqual(start.hosts, ['r1']);
});
