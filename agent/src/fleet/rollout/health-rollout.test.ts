/**
 * The health gate, progress and report inside a real rollout (runRollout on the twin): the packages'
 * `conegate` is a stand-in that answers `status --json` with a version, so the gate samples what the
 * host really runs after the change. A package whose agent still reports the old version fails the
 * gate with that reason and is reverted; the summary and the report say so.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalRemoteHost } from '../ssh-twin.ts';
import type { FleetHost, RemoteConnector } from '../types.ts';
import type { PackageRef, RolloutOptions } from './contract.ts';
import { createHealthGate } from './health.ts';
import { createProgress } from './progress.ts';
import type { RunReport } from './report.ts';
import { runRollout } from './run.ts';
import { LINUX_MARKERS, makeRoot, makeTarball, twinHost } from './twin-fleet.ts';

const work = mkdtempSync(join(tmpdir(), 'cg-health-rollout-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A package whose agent says `says` when asked for its status. */
const pkg = (version: string, says: string): PackageRef =>
  makeTarball(work, `conegate-${version}-linux-x64`, version, {
    'bin/conegate': { text: `#!/bin/sh\n[ "$1" = status ] || exit 2\nprintf '{\\n  "pid": 1,\\n  "version": "${says}",\\n  "components": {},\\n  "mesh": null\\n}\\n'\n`, mode: 0o755 },
  });

function fleet(n: number): { hosts: FleetHost[]; connect: RemoteConnector } {
  const hosts: FleetHost[] = [];
  const roots = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const name = `gw${i}`;
    const root = makeRoot(join(work, name), LINUX_MARKERS);
    roots.set(name, root);
    // The agent runs from the switched release (platforms.ts: /opt/conegate/current).
    hosts.push(twinHost(name, 'auto', { conegate_root: root, conegate_bin: `${root}/opt/conegate/current/bin/conegate`, conegate_service_start: 'true', conegate_service_stop: 'true' }));
  }
  return { hosts, connect: async (h) => new LocalRemoteHost({ root: roots.get(h.name)! }) };
}

async function rollout(f: ReturnType<typeof fleet>, p: PackageRef, reportFile: string): Promise<{ report: RunReport; lines: string[]; summary: string }> {
  const lines: string[] = [];
  let summary = '';
  const progress = await createProgress({ tty: false, out: (s) => lines.push(s), err: (s) => (summary += s), reportFile });
  const opts: RolloutOptions = {
    hosts: f.hosts, policy: { serial: [{ count: 1 }, { percent: 100 }], forks: 3 }, trust: () => ({ acceptNew: false }), connect: f.connect,
    packages: { linux: p }, baseConfig: {}, check: false, diff: false, revertAfterSec: 120,
    health: createHealthGate({ settleMs: 1000, intervalMs: 500 }), onEvent: (e) => progress.onEvent(e), sleep: async () => {}, commandTimeoutMs: 20_000,
  };
  await runRollout(opts);
  const report = (await progress.close())!;
  return { report, lines, summary };
}

test('a rollout gated by the real health sampler: install, upgrade, and an upgrade whose agent still runs the old version is reverted with that reason', async () => {
  const f = fleet(3);
  const first = await rollout(f, pkg('1.0.0', '1.0.0'), join(work, 'r1.json'));
  assert.deepEqual(first.report.hosts.map((h) => [h.host, h.outcome, h.health?.ok]), [['gw0', 'changed', true], ['gw1', 'changed', true], ['gw2', 'changed', true]]);
  assert.equal(first.lines.length, first.lines.filter((l) => JSON.parse(l)).length, 'one JSON document per line');

  const second = await rollout(f, pkg('2.0.0', '2.0.0'), join(work, 'r2.json'));
  assert.deepEqual(second.report.hosts.map((h) => [h.outcome, h.fromVersion, h.toVersion]), Array(3).fill(['changed', '1.0.0', '2.0.0']));

  // The canary's agent is not on the new version after the change: the gate fails it, the rollout stops.
  const third = await rollout(f, pkg('3.0.0', '2.0.0'), join(work, 'r3.json'));
  const canary = third.report.hosts[0]!;
  assert.equal(canary.outcome, 'reverted');
  assert.deepEqual(canary.health?.reasons, ['the running agent says version 2.0.0, not 3.0.0: it was not restarted onto the new package']);
  assert.deepEqual(third.report.hosts.slice(1).map((h) => h.outcome), ['skipped', 'skipped']);
  assert.equal(third.report.stoppedEarly, true);
  assert.match(third.summary, /^gw0 +linux +upgrade +reverted +2\.0\.0 -> 3\.0\.0 .*health: the running agent says version 2\.0\.0, not 3\.0\.0/m);
  assert.deepEqual(JSON.parse(readFileSync(join(work, 'r3.json'), 'utf8')).counts, { reverted: 1, skipped: 2 });
  // The reverted host runs 2.0.0 again: a status sample through the gate says so.
  const remote = await f.connect(f.hosts[0]!, { acceptNew: false });
  const again = await createHealthGate().sample(remote, 'linux', f.hosts[0]);
  await remote.close();
  assert.equal(again.version, '2.0.0');
});
