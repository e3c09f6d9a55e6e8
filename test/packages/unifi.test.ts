/**
 * The UniFi installer against a fake UniFi OS root (--root): it installs everything under
 * /data/conegate with the units copied into /etc/systemd/system and enabled; a simulated firmware
 * update (wiped /lib/systemd/system and /etc/systemd/system) is repaired by the boot hook; upgrades keep
 * the config and the mesh identity; uninstall leaves the tree exactly as it was. The tarball is built
 * by the packager from stand-in runtimes (no download).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { packageMain } from '../../agent/src/package/main.ts';
import { requirePeers } from '../lab/require-peers.ts';
import { ROOT, runTool, standIns, tempDir, validateAgentConfig } from './helpers.ts';
import { applyScript, type TxnPlan } from '../../agent/src/fleet/device-txn.ts';
import { killTxnTimer } from '../../agent/src/fleet/rollout/twin-fleet.ts';

const UNITS = ['conegate.service', 'conegate-repair.service', 'conegate-repair.timer', 'conegate-nat.service', 'conegate-nat.path'];

/** Builds the UniFi tarball with stand-ins and unpacks it; returns the payload folder. */
async function payload(version = '0.1.0'): Promise<string> {
  const dir = await tempDir('unifi-pkg');
  const s = await standIns(dir, '@koromix/koffi-linux-arm64');
  const [tgz] = await packageMain(['--platform', 'unifi', '--arch', 'arm64', '--version', version, '--bundle', s.bundle, '--web', s.web, '--koffi', s.koffi, '--koffi-native', s.koffiNative, '--node', s.node, '--out', join(dir, 'out')]);
  assert.equal(tgz!.split('/').pop(), `conegate-${version}-unifi-arm64.tar.gz`);
  const r = await runTool('tar', ['-xzf', tgz!, '-C', dir]);
  assert.equal(r.code, 0, r.stderr);
  return join(dir, `conegate-${version}-unifi-arm64`);
}

/** A fake UniFi OS 4 root: the markers, /data, the vendor's own units, an existing on_boot.d. */
async function fakeRoot(): Promise<string> {
  const root = await tempDir('unifi-root');
  const put = async (rel: string, text: string) => {
    await mkdir(join(root, rel, '..'), { recursive: true });
    await writeFile(join(root, rel), text);
  };
  await put('usr/bin/ubnt-device-info', '#!/bin/sh\n');
  await put('usr/lib/version', 'UDMPRO.al324.v4.1.13.5acc35d.250101.1200\n');
  await put('lib/systemd/system/unifi-core.service', '[Service]\nExecStart=/bin/true\n');
  await put('etc/systemd/system/multi-user.target.wants/.keep', '');
  await put('data/unifi/data.db', 'controller data');
  await put('data/on_boot.d/05-other.sh', '#!/bin/sh\n');
  return root;
}

/** Every path under root with type, mode, link target and content hash: what a tree diff compares. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(d: string): Promise<void> {
    for (const name of (await readdir(d)).sort()) {
      const full = join(d, name);
      const st = await lstat(full);
      const rel = relative(root, full);
      if (st.isSymbolicLink()) out.set(rel, `link ${await readlink(full)}`);
      else if (st.isDirectory()) {
        out.set(rel, `dir ${(st.mode & 0o7777).toString(8)}`);
        await walk(full);
      } else out.set(rel, `file ${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(await readFile(full)).digest('hex')}`);
    }
  }
  await walk(root);
  return out;
}

async function sh(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stderr: string }> {
  requirePeers({ systemctl: 'systemd' });
  return runTool('sh', args, { env });
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(() => true, () => false);
}

async function assertInstalled(root: string): Promise<void> {
  for (const u of UNITS) {
    // A copy, not a link, identical to the shipped unit.
    const st = await lstat(join(root, 'etc/systemd/system', u));
    assert.ok(st.isFile(), `${u} is a regular file`);
    assert.deepEqual(await readFile(join(root, 'etc/systemd/system', u)), await readFile(join(ROOT, 'unifi/systemd', u)), u);
  }
  assert.equal(await readlink(join(root, 'etc/systemd/system/multi-user.target.wants/conegate.service')), '/etc/systemd/system/conegate.service');
  assert.ok(await exists(join(root, 'etc/systemd/system/multi-user.target.wants/conegate-nat.path')));
  assert.ok(await exists(join(root, 'etc/systemd/system/timers.target.wants/conegate-repair.timer')));
  assert.deepEqual(await readFile(join(root, 'data/on_boot.d/10-conegate.sh')), await readFile(join(ROOT, 'unifi/on-boot.sh')));
}

test('install into a fake UniFi OS root: everything under /data/conegate, units copied and enabled, boot hook', async () => {
  const src = await payload();
  const root = await fakeRoot();
  const r = await sh([join(src, 'install.sh'), '--root', root]);
  assert.equal(r.code, 0, r.stderr);
  await assertInstalled(root);
  const data = join(root, 'data/conegate');
  assert.equal(await readFile(join(data, 'lib/conegate.js'), 'utf8'), 'import "./chunks/main-AB12.js";\n');
  assert.ok(await exists(join(data, 'lib/node_modules/@koromix/koffi-linux-arm64/build/koffi.node')));
  assert.equal((await lstat(join(data, 'node/bin/node'))).mode & 0o777, 0o755);
  assert.match(await readFile(join(data, 'bin/conegate'), 'utf8'), /exec \/data\/conegate\/node\/bin\/node \/data\/conegate\/lib\/conegate\.js "\$@"/);
  assert.equal((await lstat(join(data, 'conegate.json'))).mode & 0o777, 0o600);
  assert.equal((await lstat(join(data, 'state'))).mode & 0o777, 0o700);
  await validateAgentConfig(JSON.parse(await readFile(join(data, 'conegate.json'), 'utf8')) as Record<string, unknown>);
  assert.match(await readFile(join(root, 'etc/systemd/system/conegate.service'), 'utf8'), /^ExecStart=\/data\/conegate\/bin\/conegate up --foreground --config \/data\/conegate\/conegate\.json$/m);
});

test('a firmware update wipes the units; the boot hook puts them back; uninstall then leaves nothing behind', async () => {
  const src = await payload();
  const root = await fakeRoot();
  const before = await snapshot(root);
  assert.equal((await sh([join(src, 'install.sh'), '--root', root])).code, 0);
  // The update: the root file system's unit folders come back empty (only /data persists).
  for (const d of ['lib/systemd/system', 'etc/systemd/system']) {
    await rm(join(root, d), { recursive: true, force: true });
    await mkdir(join(root, d), { recursive: true });
  }
  assert.equal(await exists(join(root, 'etc/systemd/system/conegate.service')), false);
  const hook = await sh([join(root, 'data/on_boot.d/10-conegate.sh')], { ...process.env, CONEGATE_ROOT: root });
  assert.equal(hook.code, 0, hook.stderr);
  await assertInstalled(root);
  // The daily repair finds nothing to do and changes nothing.
  const repaired = await snapshot(root);
  assert.equal((await sh([join(root, 'data/conegate/install.sh'), '--repair', '--root', root])).code, 0);
  assert.deepEqual(await snapshot(root), repaired);

  assert.equal((await sh([join(root, 'data/conegate/install.sh'), '--uninstall', '--root', root])).code, 0);
  const expected = new Map([...before].filter(([p]) => !/^(lib|etc)\/systemd\/system\/./.test(p)));
  assert.deepEqual(await snapshot(root), expected);
});

test('the boot hook first reverts a fleet change armed when the gateway went down, then repairs', async () => {
  const src = await payload();
  const root = await fakeRoot();
  assert.equal((await sh([join(src, 'install.sh'), '--root', root])).code, 0);
  const data = join(root, 'data/conegate');
  assert.equal((await lstat(join(data, 'conegate-fleet-boot-check'))).mode & 0o777, 0o755);
  const config = join(data, 'conegate.json');
  const previous = await readFile(config);
  await writeFile(`${config}.cg-staged`, '{"stateDir":"/data/conegate/state","pmp":{"enabled":true}}\n', { mode: 0o600 });
  const stateDir = join(root, 'data/conegate-fleet');
  const plan: TxnPlan = {
    stateDir, files: [{ target: config, staged: `${config}.cg-staged` }], revertAfterSec: 600, owner: 'run-1',
    stopCommand: `echo stop >> ${root}/svc`, startCommand: `echo start >> ${root}/svc`,
  };
  const a = spawnSync('/bin/sh', ['-s'], { input: applyScript(plan), encoding: 'utf8' });
  assert.equal(a.status, 0, a.stderr);
  assert.notDeepEqual(await readFile(config), previous);
  await killTxnTimer(stateDir); // the reboot
  const hook = await runTool('sh', [join(root, 'data/on_boot.d/10-conegate.sh')], { env: { ...process.env, CONEGATE_ROOT: root } });
  assert.equal(hook.code, 0, hook.stderr);
  assert.match(hook.stdout, /reverted the change of run-1 \(its revert timer is gone, never confirmed\): ok/);
  assert.deepEqual(await readFile(config), previous);
  assert.equal(await exists(join(stateDir, 'lock')), false);
  assert.equal(await readFile(join(root, 'svc'), 'utf8'), 'stop\nstart\nstop\nstart\n', 'the apply (stop, start), then --live: stop and start around the revert');
  await assertInstalled(root);
  // A second boot finds nothing to do.
  const again = await runTool('sh', [join(root, 'data/on_boot.d/10-conegate.sh')], { env: { ...process.env, CONEGATE_ROOT: root } });
  assert.doesNotMatch(again.stdout, /conegate-fleet/);
});

test('install then uninstall restores the exact tree, also when /data/on_boot.d did not exist', async () => {
  const src = await payload();
  for (const withHookDir of [true, false]) {
    const root = await fakeRoot();
    if (!withHookDir) await rm(join(root, 'data/on_boot.d'), { recursive: true });
    const before = await snapshot(root);
    assert.equal((await sh([join(src, 'install.sh'), '--root', root])).code, 0);
    assert.notDeepEqual(await snapshot(root), before);
    const r = await sh([join(root, 'data/conegate/install.sh'), '--uninstall', '--root', root]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await snapshot(root), before, `on_boot.d existed: ${withHookDir}`);
  }
});

test('an upgrade replaces the agent and keeps the config and the mesh identity', async () => {
  const root = await fakeRoot();
  assert.equal((await sh([join(await payload('0.1.0'), 'install.sh'), '--root', root])).code, 0);
  const data = join(root, 'data/conegate');
  await writeFile(join(data, 'conegate.json'), '{"stateDir":"/data/conegate/state","pmp":{"enabled":true}}\n');
  await writeFile(join(data, 'state/machine.key'), 'secret');
  await writeFile(join(data, 'lib/stale-chunk.js'), 'old');
  assert.equal((await sh([join(await payload('0.2.0'), 'install.sh'), '--root', root])).code, 0);
  assert.equal(await readFile(join(data, 'VERSION'), 'utf8'), '0.2.0\n');
  assert.equal(await readFile(join(data, 'conegate.json'), 'utf8'), '{"stateDir":"/data/conegate/state","pmp":{"enabled":true}}\n');
  assert.equal(await readFile(join(data, 'state/machine.key'), 'utf8'), 'secret');
  assert.equal(await exists(join(data, 'lib/stale-chunk.js')), false, 'the old bundle is replaced, not merged');
});

test('a root that is not UniFi OS is refused (exit 2) and left untouched', async () => {
  const src = await payload();
  const root = await tempDir('not-unifi');
  await mkdir(join(root, 'data'));
  await writeFile(join(root, 'os-release'), 'ID=debian\n');
  const before = await snapshot(root);
  const r = await sh([join(src, 'install.sh'), '--root', root]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no UniFi OS markers/);
  assert.deepEqual(await snapshot(root), before);
  assert.equal((await sh([join(src, 'install.sh'), '--bogus'])).code, 2);
});

test('the UniFi units verify (systemd-analyze verify)', async () => {
  requirePeers({ 'systemd-analyze': 'systemd' });
  const dir = await tempDir('unifi-units');
  for (const u of UNITS) {
    const text = (await readFile(join(ROOT, 'unifi/systemd', u), 'utf8')).replace('/data/conegate/bin/conegate', join(ROOT, 'bin/conegate.js'));
    await writeFile(join(dir, u), text);
  }
  for (const u of UNITS) {
    const r = await runTool('systemd-analyze', ['verify', '--man=no', join(dir, u)]);
    // verify also reports unrelated units of the host; only ours must be clean.
    const ours = r.stderr.split('\n').filter((l) => UNITS.some((name) => l.includes(name)));
    assert.deepEqual(ours, [], r.stderr);
  }
});
