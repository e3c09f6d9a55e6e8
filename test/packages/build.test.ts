/**
 * `npm run package` without the network: the planner and archive writer run on stand-in runtimes;
 * the archives are read back with the system's tar (an independent reader). Each .pkg starts with
 * +COMPACT_MANIFEST and +MANIFEST, whose file list is exactly the archive's files with their sha256;
 * the agent package declares www/node22; pfSense's package ships exactly its pkg-plist.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConegateError } from '../../agent/src/errors.ts';
import { packageMain } from '../../agent/src/package/main.ts';
import { expandPlist } from '../../agent/src/package/port-files.ts';
import { tarArchive } from '../../agent/src/package/tar.ts';
import { listFiles, ROOT, runTool, standIns, tempDir } from './helpers.ts';

interface Manifest {
  name: string;
  origin: string;
  version: string;
  abi: string;
  deps: Record<string, { origin: string; version: string }>;
  files: Record<string, string>;
  scripts: Record<string, string>;
}

async function build(platform: string, extra: string[] = [], root = ROOT): Promise<string[]> {
  const dir = await tempDir(`pkg-${platform}`);
  const s = await standIns(dir, platform === 'unifi' ? '@koromix/koffi-linux-arm64' : '@koromix/koffi-freebsd-x64');
  return packageMain(['--platform', platform, '--root', root, '--bundle', s.bundle, '--web', s.web, '--koffi', s.koffi, '--koffi-native', s.koffiNative, '--node', s.node, '--out', join(dir, 'out'), ...extra]);
}

/** Lists and unpacks a .pkg with tar; returns the member order, the manifests and the unpacked dir. */
async function openPkg(path: string): Promise<{ members: string[]; manifest: Manifest; compact: Record<string, unknown>; dir: string }> {
  const list = await runTool('tar', ['-tzf', path]);
  assert.equal(list.code, 0, list.stderr);
  const dir = await tempDir('pkg-open');
  const x = await runTool('tar', ['-xzf', path, '-C', dir]);
  assert.equal(x.code, 0, x.stderr);
  return {
    members: list.stdout.trim().split('\n'),
    manifest: JSON.parse(await readFile(join(dir, '+MANIFEST'), 'utf8')) as Manifest,
    compact: JSON.parse(await readFile(join(dir, '+COMPACT_MANIFEST'), 'utf8')) as Record<string, unknown>,
    dir,
  };
}

async function checkManifestMatchesFiles(path: string): Promise<Manifest> {
  const { members, manifest, compact, dir } = await openPkg(path);
  assert.deepEqual(members.slice(0, 2), ['+COMPACT_MANIFEST', '+MANIFEST'], 'pkg reads the manifests first');
  const unpacked = (await listFiles(dir)).filter((f) => !f.startsWith('+')).map((f) => `/${f}`);
  assert.deepEqual(Object.keys(manifest.files).sort(), unpacked, 'manifest lists exactly the archive\'s files');
  for (const f of unpacked) {
    const sum = createHash('sha256').update(await readFile(join(dir, f))).digest('hex');
    assert.equal(manifest.files[f], `1$${sum}`, f);
  }
  assert.equal(compact.files, undefined);
  for (const key of ['name', 'origin', 'version', 'abi', 'deps', 'prefix', 'comment', 'desc']) assert.deepEqual(compact[key], (manifest as unknown as Record<string, unknown>)[key], key);
  return manifest;
}

test('opnsense: the agent package (node22) and os-conegate (depends on it), manifests match their files', async () => {
  const paths = await build('opnsense');
  assert.deepEqual(paths.map((p) => p.split('/').pop()), ['conegate-0.1.0.pkg', 'os-conegate-0.1.0.pkg']);
  const agent = await checkManifestMatchesFiles(paths[0]!);
  assert.deepEqual(agent.deps, { node22: { origin: 'www/node22', version: '22' } });
  assert.equal(agent.abi, 'FreeBSD:14:amd64');
  assert.equal((agent as unknown as { arch: string }).arch, 'freebsd:14:x86:64');
  assert.ok(agent.files['/usr/local/lib/conegate/conegate.js']);
  assert.ok(agent.files['/usr/local/lib/conegate/node_modules/@koromix/koffi-freebsd-x64/build/koffi.node']);
  assert.ok(agent.files['/usr/local/etc/rc.d/conegate'] && agent.files['/usr/local/bin/conegate']);
  // The fleet boot check the rc.d script runs before the agent starts.
  assert.equal(agent.files['/usr/local/libexec/conegate-fleet-boot-check'], `1$${createHash('sha256').update(await readFile(join(ROOT, 'agent/init/conegate-fleet-boot-check'))).digest('hex')}`);
  assert.equal(Object.keys(agent.files).some((f) => /better-sqlite3|meta\.json|\/web\//.test(f)), false, 'coordinator-only and build files stay out');
  const plugin = await checkManifestMatchesFiles(paths[1]!);
  assert.deepEqual(plugin.deps, { conegate: { origin: 'net/conegate', version: '0.1.0' } });
  assert.equal(plugin.abi, 'FreeBSD:14:*');
  const src = (await listFiles(join(ROOT, 'opnsense-plugin/src'))).map((f) => `/usr/local/${f}`);
  assert.deepEqual(Object.keys(plugin.files).sort(), [...src, '/usr/local/opnsense/www/css/conegate/app.css', '/usr/local/opnsense/www/js/conegate/app.js'].sort());
  assert.match(plugin.scripts['post-install']!, /configd/);
  // configd runs the control script directly (its #! line): it must stay executable in the package.
  const listing = (await runTool('tar', ['-tvzf', paths[1]!])).stdout.split('\n');
  assert.match(listing.find((l) => l.endsWith('/scripts/OPNsense/Conegate/control.php')) ?? '', /^-rwxr-xr-x /);
  assert.match((await runTool('tar', ['-tvzf', paths[0]!])).stdout.split('\n').find((l) => l.endsWith('/usr/local/bin/conegate')) ?? '', /^-rwxr-xr-x /);
});

test('pfsense: pfSense-pkg-conegate ships exactly its pkg-plist, with its install scripts', async () => {
  const paths = await build('pfsense', ['--freebsd', '15']);
  assert.deepEqual(paths.map((p) => p.split('/').pop()), ['conegate-0.1.0.pkg', 'pfSense-pkg-conegate-0.1.0.pkg']);
  assert.equal((await checkManifestMatchesFiles(paths[0]!)).abi, 'FreeBSD:15:amd64');
  const m = await checkManifestMatchesFiles(paths[1]!);
  const plist = expandPlist(await readFile(join(ROOT, 'pfsense-plugin/pkg-plist'), 'utf8'), '/usr/local', 'pfSense-pkg-conegate');
  assert.deepEqual(Object.keys(m.files).sort(), [...plist.files].sort());
  assert.deepEqual(m.deps, { conegate: { origin: 'net/conegate', version: '0' } });
  assert.match(m.scripts.install!, /rc\.packages pfSense-pkg-conegate \$\{2\}/);
  const { dir } = await openPkg(paths[1]!);
  assert.match(await readFile(join(dir, 'usr/local/share/pfSense-pkg-conegate/info.xml'), 'utf8'), /<version>0\.1\.0<\/version>/);
});

test('pkg-plist out of step with the files stops the build, naming the file', async () => {
  const root = await tempDir('pkg-root');
  for (const d of ['pfsense-plugin', 'agent/init']) await cp(join(ROOT, d), join(root, d), { recursive: true });
  await writeFile(join(root, 'package.json'), '{"version":"0.1.0"}');
  await writeFile(join(root, 'pfsense-plugin/files/usr/local/www/conegate/extra.php'), '<?php\n');
  await assert.rejects(build('pfsense', [], root), (e: unknown) => e instanceof ConegateError && e.code === 'CG_INPUT_INVALID' && /shipped, not listed: \/usr\/local\/www\/conegate\/extra\.php/.test(e.message));
  await runTool('rm', [join(root, 'pfsense-plugin/files/usr/local/www/conegate/extra.php')]);
  await writeFile(join(root, 'pfsense-plugin/pkg-plist'), (await readFile(join(root, 'pfsense-plugin/pkg-plist'), 'utf8')) + 'www/conegate/gone.js\n');
  await assert.rejects(build('pfsense', [], root), (e: unknown) => e instanceof ConegateError && /listed, not shipped: \/usr\/local\/www\/conegate\/gone\.js/.test(e.message));
});

test('only the agent of the bundle folder is shipped, not earlier output written inside it', async () => {
  const dir = await tempDir('pkg-inside');
  const s = await standIns(dir, '@koromix/koffi-freebsd-x64');
  const args = ['--platform', 'opnsense', '--bundle', s.bundle, '--web', s.web, '--koffi', s.koffi, '--koffi-native', s.koffiNative, '--out', join(s.bundle, 'packages')];
  await packageMain(args);
  await writeFile(join(s.bundle, 'notes.md'), 'not the agent');
  const [agent] = await packageMain(args);
  const { manifest } = await openPkg(agent!);
  assert.deepEqual(Object.keys(manifest.files).filter((f) => f.startsWith('/usr/local/lib/conegate/') && !f.includes('/node_modules/')).sort(), ['/usr/local/lib/conegate/chunks/main-AB12.js', '/usr/local/lib/conegate/conegate.js']);
});

test('the same inputs give the same bytes; bad options are refused with the reason', async () => {
  const a = await build('opnsense');
  const b = await build('opnsense');
  for (let i = 0; i < a.length; i++) assert.deepEqual(await readFile(a[i]!), await readFile(b[i]!));
  await assert.rejects(packageMain(['--platform', 'windows']), (e: unknown) => e instanceof ConegateError && e.code === 'CG_USAGE');
  await assert.rejects(packageMain(['--platform', 'unifi', '--koffi-native', '/nonexistent']), (e: unknown) => e instanceof ConegateError && /--node/.test(e.message));
  await assert.rejects(build('opnsense', ['--version', '1.0; rm -rf /']), (e: unknown) => e instanceof ConegateError && e.code === 'CG_INPUT_INVALID');
});

test('tar writer: long paths (pax), modes and contents read back by the system tar', async () => {
  const long = `/usr/local/lib/conegate/node_modules/${'deep/'.repeat(40)}file.js`;
  const enc = new TextEncoder();
  const bytes = tarArchive([
    { path: long, type: 'file', mode: 0o644, data: enc.encode('long\n') },
    { path: `/usr/local/${'x'.repeat(120)}/short`, type: 'file', mode: 0o755, data: enc.encode('#!/bin/sh\n') },
    { path: 'rel/dir', type: 'dir', mode: 0o755 },
    { path: 'rel/link', type: 'symlink', mode: 0o777, target: '../target' },
  ], 1767225600);
  const dir = await tempDir('tar');
  await writeFile(join(dir, 'a.tar'), bytes);
  const r = await runTool('tar', ['-tvf', join(dir, 'a.tar')]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 4);
  assert.ok(lines[0]!.endsWith(long), lines[0]);
  assert.match(lines[1]!, /^-rwxr-xr-x root\/wheel/);
  assert.match(lines[3]!, /rel\/link -> \.\.\/target$/);
  const out = await runTool('tar', ['-xOf', join(dir, 'a.tar'), long]);
  assert.equal(out.stdout, 'long\n');
});

test('the shipped layout runs: the unpacked UniFi lib starts the real bundle and loads koffi\'s binary', async () => {
  // The real bundle (scripts/run-tests.mjs builds dist/ first) and the installed koffi for this host;
  // only the Node runtime is a stand-in (this test runs the lib with the Node running the test).
  const dir = await tempDir('pkg-real');
  const s = await standIns(dir, '@koromix/koffi-linux-x64');
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
  const [tgz] = await packageMain(['--platform', 'unifi', '--arch', arch, '--bundle', join(ROOT, 'dist'), '--web', s.web, '--koffi', join(ROOT, 'node_modules/koffi'), '--koffi-native', join(ROOT, `node_modules/@koromix/koffi-linux-${arch}`), '--node', s.node, '--out', join(dir, 'out')]);
  assert.equal((await runTool('tar', ['-xzf', tgz!, '-C', dir])).code, 0);
  const lib = join(dir, `conegate-0.1.0-unifi-${arch}`, 'lib');
  const version = await runTool(process.execPath, [join(lib, 'conegate.js'), '--version']);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), '0.1.0');
  const koffi = await runTool(process.execPath, ['-e', `const k = require(${JSON.stringify(join(lib, 'node_modules/koffi'))}); process.stdout.write(typeof k.load)`]);
  assert.equal(koffi.stdout, 'function', koffi.stderr);
  const files = await listFiles(lib);
  assert.equal(files.some((f) => /better-sqlite3|koffi\/(src\/koffi\/src\/.*\.cc|vendor|doc)\//.test(f)), false, 'no coordinator addon, no koffi sources');
});

test('pkg manifests escape what pkg url-decodes: % and non-ASCII in desc, scripts and paths', async () => {
  const { pkgManifests } = await import('../../agent/src/package/pkg-manifest.ts');
  const meta = { name: 'x', origin: 'net/x', version: '1.0.0', comment: 'c', desc: '100% café', maintainer: 'm', www: 'w', abi: 'FreeBSD:14:*', prefix: '/usr/local', licenses: [], categories: ['net'], deps: {}, scripts: { 'post-install': 'printf "%s\\n" ok\n' } };
  const { manifest } = pkgManifests(meta, [{ path: '/usr/local/share/x/50%.txt', mode: 0o644, data: new Uint8Array([1]) }]);
  const m = JSON.parse(manifest) as { desc: string; scripts: Record<string, string>; files: Record<string, string> };
  assert.equal(decodeURIComponent(m.desc), '100% café');
  assert.equal(m.desc, '100%25 caf%c3%a9');
  assert.equal(decodeURIComponent(m.scripts['post-install']!), 'printf "%s\\n" ok\n');
  assert.deepEqual(Object.keys(m.files), ['/usr/local/share/x/50%25.txt']);
});
