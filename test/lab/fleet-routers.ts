/**
 * Fake routers for the fleet rollout's acceptance tests and `bench fleet` (issue #20): N real OpenSSH
 * servers in lab namespaces (sshd.ts), each with its own host key, login shell (sh, or tcsh like
 * OPNsense's root) and root tree laid out like OPNsense, pfSense, UniFi OS or Linux: the marker files
 * detect.ts reads, and once installed, a stand-in `conegate` (fleet-standins.ts).
 *
 * Every host's tree lives in its own directory on this machine, and sshd bind-mounts it at one shared
 * path (`rootAt`) inside its private mount namespace, so the rollout's single fake-root prefix
 * (`conegate_root`) works for every host while each host still sees only its own files. Every process
 * of a session (the device-side revert timer included) inherits that namespace.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import type { FleetPlatform } from '../../agent/src/fleet/types.ts';
import { snapshot, type SnapshotEntry } from '../../agent/src/fleet/rollout/twin-fleet.ts';
import { AGENT_BIN, HEALTHY, PLATFORMS, standinPkgTool, statusJson, writeTree, type StandinHealth } from './fleet-standins.ts';
import { createLab, type Lab } from './lab.ts';
import { knownHostsFor, makeClientKey, requireSshPeers, SshdHost } from './sshd.ts';

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

/** One entry per file and directory under a root: sha256 (files), mode and mtime. */
/** One entry of a tree snapshot (twin-fleet.ts `snapshot`: sha256, mode, link target, mtime). */
export type TreeEntry = SnapshotEntry;

export function snapshotTree(root: string): Map<string, TreeEntry> {
  return new Map(Object.entries(snapshot(root, { mtimes: true })));
}

/**
 * The paths that differ between two snapshots (added, removed, or changed in what `compare` names),
 * for assertion messages that say which file moved. `skip` leaves out paths under those prefixes.
 */
export function treeChanges(a: Map<string, TreeEntry>, b: Map<string, TreeEntry>, compare: { mtime?: boolean; dirs?: boolean; skip?: string[] } = {}): string[] {
  const skipped = (p: string) => (compare.skip ?? []).some((s) => p === s || p.startsWith(`${s}/`));
  const out: string[] = [];
  for (const [p, x] of a) {
    if (skipped(p) || (x.type === 'dir' && !compare.dirs)) continue;
    const y = b.get(p);
    if (!y) out.push(`- ${p}`);
    else if (x.type !== y.type || x.sha256 !== y.sha256 || x.target !== y.target || x.mode !== y.mode) out.push(`~ ${p}`);
    else if (compare.mtime && x.mtimeMs !== y.mtimeMs) out.push(`~ ${p} (mtime)`);
  }
  for (const [p, y] of b) if (!a.has(p) && !skipped(p) && (y.type !== 'dir' || compare.dirs)) out.push(`+ ${p}`);
  return out;
}
