import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { LocalRemoteHost } from '../ssh-twin.ts';
import type { RolloutResult } from './contract.ts';
import { runRollout } from './run.ts';
import { prepareRollback, prepareRollout, type Prepared } from './session.ts';
import { LINUX_MARKERS, makeRoot, makeTarball, versionHealthGate } from './twin-fleet.ts';

const work = mkdtempSync(join(tmpdir(), 'cg-rollback-'));
after(() => rmSync(work, { recursive: true, force: true }));

const run = (p: Prepared): Promise<RolloutResult> => runRollout({
  ...p, connect: async (h) => new LocalRemoteHost({ root: h.vars.conegate_root as string }), health: versionHealthGate(), onEvent: () => {}, sleep: async () => {},
});

it('fleet rollback: the changed hosts go back to the very package they came from; a fresh install is left, and why', async () => {
  const v1 = makeTarball(work, 'conegate-1.0.0-linux-x64', '1.0.0', { 'bin/conegate': 'v1\n' });
  const v2 = makeTarball(work, 'conegate-2.0.0-linux-x64', '2.0.0', { 'bin/conegate': 'v2\n' });
  const roots = ['r0', 'r1', 'r2'].map((n) => makeRoot(join(work, n), LINUX_MARKERS));
  const inv = join(work, 'hosts.ini');
  writeFileSync(inv, roots.map((r, i) => `r${i} conegate_root=${r} conegate_service_start="echo start >> svc.log" conegate_service_stop="echo stop >> svc.log"\n`).join(''));
  const first = await run(await prepareRollout({ inventory: inv, limit: 'r0,r1', package: [`linux=${v1.file}`] }));
  assert.ok(first.ok);
  const state = join(work, 'run-v2.json');
  const second = await run(await prepareRollout({ inventory: inv, package: [`linux=${v2.file}`], state }));
  assert.ok(second.ok);

  const wrong = await prepareRollback(state, { package: [`linux=${v2.file}`] });
  assert.deepEqual(wrong.prepared.hosts, []);
  assert.match(wrong.left[0]!.why, /came from 1\.0\.0/);

  const back = await prepareRollback(state, { package: [`linux=${v1.file}`] });
  assert.deepEqual(back.prepared.hosts.map((h) => h.name), ['r0', 'r1']);
  assert.deepEqual(back.left, [{ host: 'r2', why: 'the run installed it fresh; rollback does not uninstall' }]);
  const res = await run(back.prepared);
  assert.deepEqual(res.results.map((r) => [r.outcome, r.fromVersion, r.toVersion]), [['changed', '2.0.0', '1.0.0'], ['changed', '2.0.0', '1.0.0']]);
  assert.equal(readlinkSync(join(roots[0]!, 'opt/conegate/current')), `releases/1.0.0-${v1.sha256.slice(0, 12)}`);
  assert.equal(JSON.parse(readFileSync(join(roots[1]!, 'var/lib/conegate/fleet-state.json'), 'utf8')).packageHash, v1.sha256);
  assert.equal(readlinkSync(join(roots[2]!, 'opt/conegate/current')), `releases/2.0.0-${v2.sha256.slice(0, 12)}`);
});
