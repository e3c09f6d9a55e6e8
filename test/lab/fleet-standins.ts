/**
 * The software on the fleet lab's fake routers (fleet-routers.ts), as stand-ins: the device runs no
 * Node here. The stand-in agent is a POSIX sh script: `status --json` answers while the stand-in
 * service is "running" (started by its own `service-start`, the host's service command given through
 * host variables) with the version that was started and the health the test set in the host's
 * `lab/status.json` (or `lab/status-VERSION.json`); a version named in `lab/broken` does not answer,
 * so the health gate really fails on that host. A stand-in pkg(8) serves the FreeBSD hosts. Packages
 * are stand-ins of the real layouts (the real ones take minutes to build, the UniFi one is 47 MB):
 * tars of those files, padded to a realistic size with incompressible bytes.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { PackageRef } from '../../agent/src/fleet/rollout/contract.ts';
import type { FleetPlatform } from '../../agent/src/fleet/types.ts';
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
