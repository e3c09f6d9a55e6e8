/** `conegate up/status/down/logout` flags and failures as a user meets them (no root, no agent). */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { validateConfig } from '../../config/load.ts';
import { isConegateError } from '../../errors.ts';
import { applyUpFlags } from './up.ts';

const BIN = fileURLToPath(new URL('../../../../bin/conegate.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'up-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, CONEGATE_CONFIG: '' }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

test('up flags map onto the mesh section; the auth key never lands in the config', () => {
  const c = applyUpFlags(validateConfig({}), {
    coordinator: 'https://coord.example:8443',
    authKey: 'tskey-secret',
    hostname: 'edge-1',
    advertiseRoutes: '192.168.10.0/24, 10.20.0.0/16',
    acceptRoutes: true,
    stateDir: '/tmp/x',
    coordinatorFingerprint: 'ab'.repeat(32),
  });
  const { udpRelay, routeHealth, ...mesh } = c.mesh;
  assert.equal(udpRelay.enabled, false, 'a UDP relay is offered only when the admin enables it');
  assert.deepEqual(routeHealth.targets, [], 'no health probe unless targets are configured');
  assert.deepEqual(mesh, {
    enabled: true,
    coordinator: 'https://coord.example:8443',
    hostname: 'edge-1',
    advertiseRoutes: ['192.168.10.0/24', '10.20.0.0/16'],
    acceptRoutes: true,
    snatSubnetRoutes: true,
    stateDir: '/tmp/x',
    coordinatorFingerprint: 'ab'.repeat(32),
  });
  assert.equal(applyUpFlags(c, { acceptRoutes: false }).mesh.acceptRoutes, false, '--no-accept-routes');
  assert.equal(applyUpFlags(c, {}).mesh.acceptRoutes, true, 'no flag: the config stays');
  assert.ok(!JSON.stringify(c).includes('tskey-secret'));
  assert.throws(() => applyUpFlags(validateConfig({}), { ca: '/ca.pem', coordinatorFingerprint: 'ab'.repeat(32) }), (e) => isConegateError(e) && e.code === 'CG_USAGE');
  assert.throws(() => applyUpFlags(validateConfig({}), { coordinatorFingerprint: 'xyz' }), (e) => isConegateError(e) && e.code === 'CG_CONFIG_INVALID' && /mesh\.coordinatorFingerprint/.test(e.message));
});

test('status/down without a running agent: exit 1 naming the socket; bad up flags: exit 2', async () => {
  const st = await run(['status', '--state-dir', dir]);
  assert.equal(st.code, 1);
  assert.match(st.stderr, /not running.*conegate\.sock/);
  assert.equal((await run(['down', '--state-dir', dir])).code, 1);
  const bad = await run(['up', '--coordinator', 'http://coord.example', '--foreground', '--state-dir', dir]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /mesh\.coordinator/);
  const both = await run(['up', '--coordinator', 'https://c.example', '--ca', '/x', '--coordinator-fingerprint', 'ab'.repeat(32), '--foreground', '--state-dir', dir]);
  assert.equal(both.code, 2);
});

test('status reads the socket from a plain config without the schema; a broken config still fails with exit 2 naming the problem', async () => {
  const plain = join(dir, 'plain.json');
  writeFileSync(plain, JSON.stringify({ mesh: { stateDir: join(dir, 'node-a') } }));
  const st = await run(['status', '--config', plain]);
  assert.equal(st.code, 1);
  assert.ok(st.stderr.includes(join(dir, 'node-a', 'conegate.sock')), st.stderr);
  const notJson = join(dir, 'broken.json');
  writeFileSync(notJson, '{ "mesh": ');
  const a = await run(['status', '--config', notJson]);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /not valid JSON/);
  const badType = join(dir, 'bad-type.json');
  writeFileSync(badType, JSON.stringify({ mesh: { stateDir: 5 } }));
  const b = await run(['status', '--config', badType]);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /mesh\.stateDir/);
  assert.equal((await run(['status', '--config', join(dir, 'missing.json')])).code, 2, 'an explicit file that does not exist');
});
