import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConegateError } from '../errors.ts';
import { checkText, planHost, sha256Hex, type HostTarget } from './plan.ts';
import type { FleetHost, HostFacts } from './types.ts';

const HOST: FleetHost = { name: 'r1', address: '192.0.2.10', port: 22, user: 'root', vars: {}, groups: ['all'] };
const CONFIG = '{\n  "mesh": {\n    "enabled": true\n  }\n}\n';
const TARGET: HostTarget = { version: '0.2.0', packageFile: 'dist/packages/conegate-0.2.0.pkg', packageHash: 'a'.repeat(64), config: CONFIG };
const current = (over: Partial<HostFacts> = {}): HostFacts => ({ platform: 'opnsense', version: '0.2.0', packageHash: 'a'.repeat(64), configHash: sha256Hex(CONFIG), ...over });

test('same version, package and config: unchanged, no steps (a second rollout changes nothing)', () => {
  const p = planHost(HOST, current(), TARGET, CONFIG);
  assert.deepEqual([p.action, p.steps, p.changes, p.configDiff], ['unchanged', [], [], '']);
  assert.equal(checkText(p, true), 'r1 (opnsense): unchanged');
});

test('not installed: upload, install, write config 0600, start', () => {
  const p = planHost(HOST, { platform: 'unifi' }, TARGET);
  assert.equal(p.action, 'install');
  assert.deepEqual(p.steps.map((s) => s.kind), ['upload', 'install', 'write-config', 'restart']);
  assert.deepEqual(p.steps[0], { kind: 'upload', local: TARGET.packageFile, remotePath: '/data/conegate/incoming/conegate-0.2.0.tar.gz', mode: 0o600, sha256: TARGET.packageHash });
  assert.deepEqual(p.steps[2], { kind: 'write-config', remotePath: '/data/conegate/conegate.json', mode: 0o600, sha256: sha256Hex(CONFIG) });
  assert.match(p.configDiff, /^--- \/dev\/null\n\+\+\+ r1:\/data\/conegate\/conegate.json \(new\)\n@@ -0,0 \+1,5 @@\n/);
});

test('upgrade with the same config: no config write; a rebuilt package of the same version reinstalls', () => {
  const up = planHost(HOST, current({ version: '0.1.0' }), TARGET, CONFIG);
  assert.equal(up.action, 'upgrade');
  assert.deepEqual(up.steps.map((s) => s.kind), ['upload', 'install', 'restart']);
  assert.deepEqual(up.changes, ['upgrade conegate 0.1.0 -> 0.2.0', 'restart the agent']);
  const re = planHost(HOST, current({ packageHash: 'b'.repeat(64) }), TARGET, CONFIG);
  assert.equal(re.action, 'reinstall');
});

test('config only: write + restart, and --diff shows the real change', () => {
  const old = CONFIG.replace('true', 'false');
  const p = planHost(HOST, current({ configHash: sha256Hex(old) }), TARGET, old);
  assert.equal(p.action, 'reconfigure');
  assert.deepEqual(p.steps.map((s) => s.kind), ['write-config', 'restart']);
  assert.equal(
    p.configDiff,
    '--- r1:/usr/local/etc/conegate/conegate.json\n+++ r1:/usr/local/etc/conegate/conegate.json (new)\n@@ -1,5 +1,5 @@\n {\n   "mesh": {\n-    "enabled": false\n+    "enabled": true\n   }\n }\n',
  );
  assert.match(checkText(p, true), /^r1 \(opnsense\): would reconfigure\n  - change config .*\n  - restart the agent\n--- r1:/);
  assert.doesNotMatch(checkText(p, false), /^---/m);
});

test('platform: unknown or contradicting the inventory is refused before any step', () => {
  assert.throws(() => planHost(HOST, { platform: 'unknown' }, TARGET), (e: unknown) => e instanceof ConegateError && e.code === 'CG_PLATFORM_UNKNOWN');
  assert.throws(() => planHost({ ...HOST, platform: 'pfsense' }, current(), TARGET), (e: unknown) => e instanceof ConegateError && /says pfsense but the host looks like opnsense/.test(e.message));
  assert.equal(planHost({ ...HOST, platform: 'auto' }, current(), TARGET).platform, 'opnsense');
});
