import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { applyScript, TXN_EXIT } from '../device-txn.ts';
import { LocalRemoteHost } from '../ssh-twin.ts';
import { runRollout } from './run.ts';
import { prepareRollout } from './session.ts';
import { killTxnTimer, LINUX_MARKERS, makeRoot, makeTarball, versionHealthGate } from './twin-fleet.ts';

const work = mkdtempSync(join(tmpdir(), 'cg-orphan-'));
after(() => rmSync(work, { recursive: true, force: true }));

it('a rollout that finds an orphaned change (timer gone, never confirmed) reverts it first, says so, then rolls out', async () => {
  const v1 = makeTarball(work, 'conegate-1.0.0-linux-x64', '1.0.0', { 'bin/conegate': 'v1\n' });
  const v2 = makeTarball(work, 'conegate-2.0.0-linux-x64', '2.0.0', { 'bin/conegate': 'v2\n' });
  const root = makeRoot(join(work, 'o0'), LINUX_MARKERS);
  const inv = join(work, 'hosts.ini');
  writeFileSync(inv, `o0 conegate_root=${root} conegate_service_start="echo start >> svc.log" conegate_service_stop="echo stop >> svc.log"\n`);
  const run = async (pkg: string) => runRollout({
    ...(await prepareRollout({ inventory: inv, package: [`linux=${pkg}`] })),
    connect: async (h) => new LocalRemoteHost({ root: h.vars.conegate_root as string }), health: versionHealthGate(), onEvent: () => {}, sleep: async () => {},
  });
  assert.ok((await run(v1.file)).ok);
  // Another run armed a change, then the host lost its timer (a reboot inside that run's window).
  const stray = join(root, 'etc/conegate/stray.json');
  writeFileSync(`${stray}.cg-staged`, '{}\n');
  const stateDir = join(root, 'var/lib/conegate-fleet');
  const a = spawnSync('/bin/sh', ['-s'], { input: applyScript({ stateDir, files: [{ target: stray, staged: `${stray}.cg-staged` }], stopCommand: '', startCommand: '', owner: 'run-x', revertAfterSec: 600 }), encoding: 'utf8' });
  assert.equal(a.status, TXN_EXIT.ok, a.stderr);
  await killTxnTimer(stateDir);

  const res = await run(v2.file);
  assert.equal(res.results[0]!.outcome, 'changed', JSON.stringify(res.results[0]!.error));
  assert.ok(res.results[0]!.changes.some((c) => /^first reverted the change of run-x \(its revert timer is gone, never confirmed\): ok$/.test(c)), res.results[0]!.changes.join('; '));
  assert.equal(existsSync(stray), false, 'the orphaned change is undone');
  assert.equal(readlinkSync(join(root, 'opt/conegate/current')), `releases/2.0.0-${v2.sha256.slice(0, 12)}`);
});
