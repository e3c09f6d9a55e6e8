#!/usr/bin/env node
// `npm run package -- --platform opnsense|pfsense|unifi [--arch x64|arm64] [--freebsd 14|15] [--no-build]`
//
// Builds the appliance packages into dist/packages/:
//   opnsense  conegate-<v>.pkg (the agent) + os-conegate-<v>.pkg
//   pfsense   conegate-<v>.pkg (the agent) + pfSense-pkg-conegate-<v>.pkg
//   unifi     conegate-<v>-unifi-<arch>.tar.gz (installer, units, boot hook, agent, Node runtime)
// Steps: the agent bundle (scripts/build.mjs, unless --no-build); the front-end bundle must be in
// dist/web (app.js, app.css); then the runtime pieces for the target are fetched from the npm registry
// with `npm pack` into .cache/package/ (once; nothing else is downloaded): koffi's prebuilt binary
// package @koromix/koffi-<os>-<arch> at the installed koffi's version, and for UniFi the official
// Node binary package node-linux-<arch> (NODE_VERSION below). The archives themselves are written by
// agent/src/package/ (planner + tar + pkg manifests), which the tests run with stand-in runtimes.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
// The Node LTS line UniFi packages bundle; the same pin scripts/setup.sh tests the agent on.
const NODE_VERSION = '24.22.3';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const platform = opt('platform');
if (!['opnsense', 'pfsense', 'unifi'].includes(platform)) {
  console.error('usage: npm run package -- --platform opnsense|pfsense|unifi [--arch x64|arm64] [--freebsd 14|15] [--no-build]');
  process.exit(2);
}
const arch = opt('arch', platform === 'unifi' ? 'arm64' : 'x64');
if (!['x64', 'arm64'].includes(arch)) {
  console.error('package: --arch must be x64 or arm64');
  process.exit(2);
}

if (!args.includes('--no-build')) execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { stdio: 'inherit' });
for (const f of ['app.js', 'app.css']) {
  if (!existsSync(join(ROOT, 'dist/web', f))) {
    console.error(`package: dist/web/${f} is missing: build the front-end bundle first`);
    process.exit(1);
  }
}

/** The unpacked registry package spec (name@version), from .cache/package/ or fetched with npm pack. */
function registryPackage(name, version) {
  const installed = join(ROOT, 'node_modules', name);
  if (existsSync(join(installed, 'package.json')) && JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')).version === version) return installed;
  const dir = join(ROOT, '.cache/package', `${name.replace('/', '+')}@${version}`);
  if (existsSync(join(dir, 'package', 'package.json'))) return join(dir, 'package');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  console.error(`package: fetching ${name}@${version} from the npm registry`);
  const tgz = execFileSync('npm', ['pack', `${name}@${version}`, '--pack-destination', dir, '--silent'], { encoding: 'utf8' }).trim().split('\n').pop();
  execFileSync('tar', ['-xzf', join(dir, tgz), '-C', dir]);
  return join(dir, 'package');
}

const koffiVersion = JSON.parse(readFileSync(join(ROOT, 'node_modules/koffi/package.json'), 'utf8')).version;
const os = platform === 'unifi' ? 'linux' : 'freebsd';
const pass = ['--platform', platform, '--arch', arch, '--freebsd', opt('freebsd', '14'), '--koffi-native', registryPackage(`@koromix/koffi-${os}-${arch}`, koffiVersion)];
if (platform === 'unifi') pass.push('--node', registryPackage(`node-linux-${arch}`, NODE_VERSION));
execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'agent/src/package/main.ts'), ...pass], { stdio: 'inherit', cwd: ROOT });
