/**
 * Fake routers for the fleet rollout's acceptance tests and `bench fleet` (issue #20): N real OpenSSH
 * servers in lab namespaces (sshd.ts), each with its own host key, login shell (sh, or tcsh like
 * OPNsense's root) and root tree laid out like OPNsense, pfSense, UniFi OS or Linux: the marker files
 * detect.ts reads, and once installed, a stand-in `conegate`.
 *
 * Every host's tree lives in its own directory on this machine, and sshd bind-mounts it at one shared
 * path (`rootAt`) inside its private mount namespace, so the rollout's single fake-root prefix works
 * for every host while each host still sees only its own files. Every process of a session (the
 * device-side revert timer included) inherits that namespace.
 *
 * The stand-in agent is a POSIX sh script (the device runs no Node here): `status --json` answers
 * while the stand-in service is "running" (started by its own `service-start`, the host's service
 * command given through host vars) with the version that was started and the health the test set in
 * the host's `lab/status.json` (or `lab/status-VERSION.json`); a version named in `lab/broken` does not
 * answer, so the health gate really fails on that host. Packages are stand-ins of the real layout: a tar of the files at their
 * platform paths (the real ones take minutes to build, the UniFi one is 47 MB), padded to a realistic
 * size with incompressible bytes.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import type { PackageRef } from '../../agent/src/fleet/rollout/contract.ts';
import type { FleetPlatform } from '../../agent/src/fleet/types.ts';
import { createLab, type Lab } from './lab.ts';
import { knownHostsFor, makeClientKey, requireSshPeers, SshdHost } from './sshd.ts';

export const PLATFORMS: FleetPlatform[] = ['opnsense', 'pfsense', 'unifi', 'linux'];

/**
 * Where the agent is run from per platform (health.ts CONEGATE_BIN, the real packages' paths). On
 * Linux the release is unpacked under /opt/conegate/releases and `current` points at it
 * (rollout/platforms.ts); the fixture's /usr/bin/conegate is a link to it, as a distribution's would be.
 */
export const AGENT_BIN: Record<FleetPlatform, string> = {
  opnsense: '/usr/local/bin/conegate',
  pfsense: '/usr/local/bin/conegate',
  unifi: '/data/conegate/bin/conegate',
  linux: '/usr/bin/conegate',
};

/** The marker files each platform's root carries (appliance-facts.md), relative to the root. */
export function markerFiles(platform: FleetPlatform): Record<string, string> {
  const freebsd = 'USERLAND_VERSION="14.2-RELEASE-p1"\n';
  switch (platform) {
    case 'opnsense':
      return {
        'usr/local/opnsense/version/core': JSON.stringify({ product_name: 'OPNsense', product_version: '25.7.6_2', product_series: '25.7', product_id: 'opnsense', product_arch: 'amd64' }) + '\n',
        'bin/freebsd-version': `#!/bin/sh\n${freebsd}`,
        'conf/config.xml': '<?xml version="1.0"?>\n<opnsense><system><hostname>OPNsense</hostname></system></opnsense>\n',
      };
    case 'pfsense':
      return {
        'etc/version': '2.7.2-RELEASE\n',
        'etc/version.patch': '0\n',
        'etc/pfSense-rc': '#!/bin/sh\n',
        'bin/freebsd-version': `#!/bin/sh\n${freebsd}`,
        'cf/conf/config.xml': '<?xml version="1.0"?>\n<pfsense><system><hostname>pfSense</hostname></system></pfsense>\n',
      };
    case 'unifi':
      return {
        'usr/bin/ubnt-device-info': '#!/bin/sh\necho UDMPRO\n',
        'usr/lib/version': 'UDMPRO.al324.v4.1.13.5acc35d.240819.1714\n',
        'etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nID=debian\nVERSION_ID="11"\n',
      };
    case 'linux':
      return { 'etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n' };
  }
}

/**
 * The stand-in agent. The lab's root path is written into it (every host's tree is mounted there).
 * `service-start` / `service-stop` are the host's service commands (stand-ins for rc.d and systemd,
 * given as host variables); they record the started version in lab/running.
 */
export function standinAgent(platform: FleetPlatform, version: string, rootAt: string): string {
  return [
    '#!/bin/sh',
    `# stand-in conegate ${version} (${platform}) for the fleet lab`,
    `V='${version}'`,
    `R='${rootAt}'`,
    'case "$1" in',
    '  --version|version) echo "$V" ;;',
    '  service-start) mkdir -p "$R/lab" && echo "$V" > "$R/lab/running" ;;',
    '  service-stop) rm -f "$R/lab/running" ;;',
    '  status)',
    '    if [ ! -f "$R/lab/running" ]; then echo "conegate: the agent is not running" >&2; exit 1; fi',
    '    run=$(cat "$R/lab/running")',
    '    if [ -f "$R/lab/broken" ] && grep -qx "$run" "$R/lab/broken"; then echo "conegate: no answer on the control socket" >&2; exit 1; fi',
    '    f="$R/lab/status.json"; if [ -f "$R/lab/status-$run.json" ]; then f="$R/lab/status-$run.json"; fi',
    '    sed "s/@VERSION@/$run/" "$f" ;;',
    '  *) echo "stand-in conegate: $1 is not supported here" >&2; exit 2 ;;',
    'esac',
    '',
  ].join('\n');
}

/**
 * A stand-in pkg(8) for the FreeBSD hosts (the host variable `conegate_pkg` names it): `add -f FILE`
 * unpacks a stand-in package into the root and records its files, `create -o DIR conegate` packs the
 * installed files again, `delete -y conegate` removes them, `info -e conegate` says whether it is there.
 */
export function standinPkgTool(rootAt: string): string {
  return [
    '#!/bin/sh',
    `R='${rootAt}'`,
    'DB="$R/var/db/pkg-standin"',
    'case "$1" in',
    '  info) [ -f "$DB/conegate.files" ] ;;',
    '  add) mkdir -p "$DB" && tar -tzf "$3" | grep -v "/$" > "$DB/files.new" && tar -xzf "$3" -C "$R" && mv "$DB/files.new" "$DB/conegate.files" && cp "$R/usr/local/share/conegate/VERSION" "$DB/conegate.version" ;;',
    '  create) tar -czf "$3/conegate-$(cat "$DB/conegate.version").pkg" -C "$R" -T "$DB/conegate.files" ;;',
    '  delete) while read -r p; do rm -f "$R/$p"; done < "$DB/conegate.files"; rm -rf "$DB" ;;',
    '  *) echo "stand-in pkg: $1 is not supported" >&2; exit 64 ;;',
    'esac',
    '',
  ].join('\n');
}

/** The stand-in of unifi/install.sh: `install.sh --root R` puts the agent under R/data/conegate. */
const UNIFI_INSTALL = [
  '#!/bin/sh',
  'set -e',
  'R=; [ "${1:-}" = --root ] && R="$2"',
  'here=$(dirname "$0")',
  'mkdir -p "$R/data/conegate/bin"',
  'cp "$here/bin/conegate" "$R/data/conegate/bin/conegate.new" && mv -f "$R/data/conegate/bin/conegate.new" "$R/data/conegate/bin/conegate"',
  'cp "$here/VERSION" "$R/data/conegate/VERSION"',
  '',
].join('\n');

/** Health a stand-in agent reports: `peers` peers known, `up` of them up, `direct` of those direct. */
export interface StandinHealth { peers: number; up: number; direct: number; mappingServer: boolean | null; rssMB: number }

export const HEALTHY: StandinHealth = { peers: 3, up: 3, direct: 2, mappingServer: true, rssMB: 70 };

/**
 * The status document in the shape of the agent's (`conegate status --json`: pretty-printed, `pid` at
 * the top, peers with `path.kind` direct / udp-relay / tcp-relay / none, the trim component's rssMb,
 * pmp's `serving`), plus the version; the script fills the version in.
 */
export function statusJson(h: StandinHealth): string {
  const peers = Array.from({ length: h.peers }, (_, i) => ({
    name: `peer${i + 1}`,
    addresses: [`100.100.0.${i + 2}/32`],
    online: true,
    currentEndpoint: i < h.up ? `203.0.113.${50 + i}:41641` : null,
    path: i >= h.up ? { kind: 'none', events: [] } : i < h.direct ? { kind: 'direct', endpoint: `203.0.113.${50 + i}:41641`, rttMs: 4, events: [] } : { kind: 'tcp-relay', region: 'lab', rttMs: 9, events: [] },
  }));
  const components: Record<string, unknown> = { trim: { rssMb: h.rssMB } };
  if (h.mappingServer !== null) components.pmp = { serving: h.mappingServer };
  return JSON.stringify({
    pid: 4242,
    version: '@VERSION@',
    uptimeSec: 60,
    components,
    mesh: { self: { name: 'router', addresses: ['100.100.0.1/32'] }, coordinator: { phase: 'streaming', lastError: null }, peers },
  }, null, 2) + '\n';
}

export interface FakeRouterSpec {
  platform: FleetPlatform;
  shell?: 'sh' | 'tcsh';
}

export interface FakeRouter {
  /** Inventory name, e.g. r07. */
  name: string;
  platform: FleetPlatform;
  shell: 'sh' | 'tcsh';
  sshd: SshdHost;
  /** The host's own tree on this machine (seen by its sessions at FleetLab.rootAt). */
  root: string;
}

export interface FleetLabOptions {
  routers: FakeRouterSpec[];
  /** sshd servers per lab router namespace (ports 22, 2201, 2202, ...): fewer namespaces for the bench. @default 1 */
  perSite?: number;
}

export class FleetLab {
  constructor(
    readonly lab: Lab,
    readonly routers: FakeRouter[],
    /** The controller's key (ed25519, no passphrase). */
    readonly keyFile: string,
    /** known_hosts with every router's ed25519 key. */
    readonly knownHostsFile: string,
    /** The path every host's own tree is mounted at inside its sshd's mount namespace. */
    readonly rootAt: string,
  ) {}

  router(name: string): FakeRouter {
    const r = this.routers.find((x) => x.name === name);
    if (!r) throw new Error(`fleet lab: no router ${name}`);
    return r;
  }

  /** Sets the health the stand-in agent of a host reports (only when running `version`, if given; null: that override removed). */
  setHealth(r: FakeRouter, h: StandinHealth | null, version?: string): void {
    mkdirSync(join(r.root, 'lab'), { recursive: true });
    const f = join(r.root, version ? `lab/status-${version}.json` : 'lab/status.json');
    if (h) writeFileSync(f, statusJson(h));
    else rmSync(f, { force: true });
  }

  /** Versions of the stand-in agent that do not answer on this host (its health gate fails). */
  setBroken(r: FakeRouter, versions: string[]): void {
    mkdirSync(join(r.root, 'lab'), { recursive: true });
    writeFileSync(join(r.root, 'lab/broken'), versions.map((v) => `${v}\n`).join(''));
  }

  /**
   * A YAML inventory (Ansible's form) of the given routers: one group per platform whose variables
   * name the stand-in service commands, pkg(8) and agent; the platform itself is left to detection.
   */
  writeInventory(file: string, routers: FakeRouter[] = this.routers): string {
    const groups: Record<string, unknown> = {};
    for (const p of PLATFORMS) {
      const members = routers.filter((r) => r.platform === p);
      if (members.length === 0) continue;
      const bin = this.rootAt + AGENT_BIN[p];
      groups[p] = {
        hosts: Object.fromEntries(members.map((r) => [r.name, { ansible_host: r.sshd.address, ansible_port: r.sshd.port }])),
        vars: {
          conegate_service_start: `${bin} service-start`,
          conegate_service_stop: `${bin} service-stop`,
          conegate_bin: bin,
          ...(p === 'opnsense' || p === 'pfsense' ? { conegate_pkg: `sh ${this.rootAt}/lab/pkg` } : {}),
        },
      };
    }
    // conegate_root: every host's own tree is mounted at the same path (see the module comment).
    const inv = { all: { vars: { ansible_user: 'root', ansible_ssh_private_key_file: this.keyFile, conegate_root: this.rootAt }, children: groups } };
    writeFileSync(file, stringifyYaml(inv));
    return file;
  }

  async destroy(): Promise<void> {
    await this.lab.destroy();
  }
}

/** Starts the lab, the controller key, one sshd and root tree per router; names r01, r02, ... */
export async function startFleetLab(opts: FleetLabOptions): Promise<FleetLab> {
  requireSshPeers();
  requirePeerTar();
  const perSite = opts.perSite ?? 1;
  const sites = Math.ceil(opts.routers.length / perSite);
  const lab = await createLab({ sites: Array.from({ length: sites }, (_, i) => ({ name: `f${i + 1}`, nat: 'full-cone' as const })), servers: ['s1'] });
  try {
    const { keyFile } = await makeClientKey(join(lab.workDir, 'controller'));
    const pub = readFileSync(`${keyFile}.pub`, 'utf8').trim();
    const rootAt = join(lab.workDir, 'device-root');
    mkdirSync(rootAt, { recursive: true });
    const width = String(opts.routers.length).length < 2 ? 2 : String(opts.routers.length).length;
    const routers = await Promise.all(opts.routers.map(async (spec, i) => {
      const shell = spec.shell ?? 'sh';
      const slot = i % perSite;
      const name = `r${String(i + 1).padStart(width, '0')}`;
      const node = `f${Math.floor(i / perSite) + 1}.router`;
      // startSshd names its directory after the node; several servers per node need one each.
      const sshd = new SshdHost(lab, node, join(lab.workDir, `sshd-${name}`), pub, { shell, keyTypes: ['ed25519'], rootAt, ...(slot ? { port: 2200 + slot } : {}) });
      mkdirSync(sshd.dir, { recursive: true });
      await lab.allowRouterInput(node, 'tcp', sshd.port);
      await sshd.newHostKeys();
      await sshd.start();
      const r: FakeRouter = { name, platform: spec.platform, shell, sshd, root: sshd.root };
      writeTree(r.root, markerFiles(spec.platform));
      writeTree(r.root, { 'lab/pkg': standinPkgTool(rootAt) });
      if (spec.platform === 'linux') {
        mkdirSync(join(r.root, 'usr/bin'), { recursive: true });
        symlinkSync('../../opt/conegate/current/bin/conegate', join(r.root, 'usr/bin/conegate'));
      }
      return r;
    }));
    const knownHostsFile = join(lab.workDir, 'controller', 'known_hosts');
    writeFileSync(knownHostsFile, knownHostsFor(routers.map((r) => r.sshd)), { mode: 0o600 });
    const fl = new FleetLab(lab, routers, keyFile, knownHostsFile, rootAt);
    for (const r of routers) {
      fl.setHealth(r, HEALTHY);
      fl.setBroken(r, []);
    }
    return fl;
  } catch (err) {
    await lab.destroy();
    throw err;
  }
}

function requirePeerTar(): void {
  if (spawnSync('tar', ['--version'], { stdio: 'ignore' }).status !== 0) throw new Error('fleet lab: tar is missing (Debian package tar)');
}

export function writeTree(root: string, files: Record<string, string>, mode = 0o644): void {
  for (const [rel, text] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
    chmodSync(p, text.startsWith('#!') ? 0o755 : mode);
  }
}

/**
 * What a stand-in package holds, paths inside the archive, in the real packages' shapes: the FreeBSD
 * .pkg's files at their installed paths; the UniFi and Linux tarballs with one top directory (the UniFi
 * one with its install.sh, the Linux one a release: bin/conegate).
 */
export function packageFiles(platform: FleetPlatform, version: string, rootAt: string): Record<string, string> {
  const agent = standinAgent(platform, version, rootAt);
  switch (platform) {
    case 'opnsense':
    case 'pfsense':
      return { 'usr/local/bin/conegate': agent, 'usr/local/share/conegate/VERSION': `${version}\n` };
    case 'unifi':
      return { [`conegate-${version}/bin/conegate`]: agent, [`conegate-${version}/VERSION`]: `${version}\n`, [`conegate-${version}/install.sh`]: UNIFI_INSTALL };
    case 'linux':
      return { [`conegate-${version}/bin/conegate`]: agent, [`conegate-${version}/VERSION`]: `${version}\n` };
  }
}

/** A directory of stand-in packages of one version, named as `npm run package` names them. */
export interface StandinPackages {
  dir: string;
  version: string;
  refs: Record<FleetPlatform, PackageRef>;
}

/**
 * Stand-in packages of one version in `dir/VERSION/`: a gzip'd tar of packageFiles() plus `padBytes`
 * of random bytes beside the VERSION file (the real FreeBSD package is about 1 MB). One .pkg serves
 * OPNsense and pfSense, as the real one does.
 */
export function buildStandinPackages(dir: string, version: string, rootAt: string, padBytes = 1 << 20): StandinPackages {
  const out = join(dir, version);
  mkdirSync(out, { recursive: true });
  const refs = {} as Record<FleetPlatform, PackageRef>;
  for (const platform of ['opnsense', 'unifi', 'linux'] as const) {
    const stage = join(dir, `stage-${platform}-${version}`);
    rmSync(stage, { recursive: true, force: true });
    const files = packageFiles(platform, version, rootAt);
    writeTree(stage, files);
    const versionFile = Object.keys(files).find((f) => f.endsWith('VERSION'))!;
    if (padBytes > 0) writeFileSync(join(stage, dirname(versionFile), 'pad.bin'), randomBytes(padBytes));
    const file = join(out, platform === 'opnsense' ? `conegate-${version}.pkg` : `conegate-${version}-${platform}-x64.tar.gz`);
    const top = platform === 'opnsense' ? '.' : `conegate-${version}`;
    const r = spawnSync('tar', ['-czf', file, '-C', stage, '--owner=0', '--group=0', top], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
    rmSync(stage, { recursive: true, force: true });
    refs[platform] = { version, file, sha256: createHash('sha256').update(readFileSync(file)).digest('hex') };
  }
  refs.pfsense = refs.opnsense;
  return { dir: out, version, refs };
}

/** One entry per file and directory under a root: sha256 (files), mode and mtime. */
export interface TreeEntry { kind: 'file' | 'dir' | 'link'; sha256?: string; mode: number; mtimeMs: number }

export function snapshotTree(root: string): Map<string, TreeEntry> {
  const out = new Map<string, TreeEntry>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, r), { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isSymbolicLink()) out.set(r, { kind: 'link', sha256: readlinkSync(join(root, r)), mode: 0, mtimeMs: st.mtimeMs });
      else if (st.isDirectory()) {
        out.set(r, { kind: 'dir', mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
        walk(r);
      } else out.set(r, { kind: 'file', sha256: createHash('sha256').update(readFileSync(join(root, r))).digest('hex'), mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
    }
  };
  walk('');
  return out;
}

/**
 * The paths that differ between two snapshots (added, removed, or changed in what `compare` names),
 * for assertion messages that say which file moved. `skip` leaves out paths under those prefixes.
 */
export function treeChanges(a: Map<string, TreeEntry>, b: Map<string, TreeEntry>, compare: { mtime?: boolean; dirs?: boolean; skip?: string[] } = {}): string[] {
  const skipped = (p: string) => (compare.skip ?? []).some((s) => p === s || p.startsWith(`${s}/`));
  const out: string[] = [];
  for (const [p, x] of a) {
    if (skipped(p) || (x.kind === 'dir' && !compare.dirs)) continue;
    const y = b.get(p);
    if (!y) out.push(`- ${p}`);
    else if (x.kind !== y.kind || x.sha256 !== y.sha256 || x.mode !== y.mode) out.push(`~ ${p}`);
    else if (compare.mtime && x.mtimeMs !== y.mtimeMs) out.push(`~ ${p} (mtime)`);
  }
  for (const [p, y] of b) if (!a.has(p) && !skipped(p) && (y.kind !== 'dir' || compare.dirs)) out.push(`+ ${p}`);
  return out;
}
