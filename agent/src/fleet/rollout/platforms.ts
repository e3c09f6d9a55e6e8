/**
 * Per platform: how a package is installed inside the device-side transaction (device-txn.ts) so that
 * its revert puts back EXACTLY what was there, and how the service is stopped and started. Pure: it
 * only builds one-line commands and path lists; every path is prefixed with `root` (a fake device
 * root in tests and the lab, '' on real hosts).
 *
 * - linux: the tarball (same shape as the UniFi one: one top directory) is unpacked into
 *   /opt/conegate/releases/<version>-<sha12> and the `current` symlink switched to it; the revert puts
 *   the link back and removes a release dir that was not there before (both are transaction trees).
 * - unifi: the tarball's own install.sh (unifi/install.sh, install/upgrade mode) does the install, so
 *   units, boot hook and /data/conegate come out as a hand install would; everything it replaces is a
 *   transaction tree (tar before, unpacked back on revert). conegate.json and state/ are not touched
 *   by install.sh (config goes as a transaction file; the identity in state/ is never rolled back).
 * - opnsense / pfsense: `pkg add -f` of the new .pkg; before it, `pkg create` saves the installed
 *   package, and the revert reinstalls that (or deletes conegate if there was none). The agent config
 *   is rendered by the plugin from config.xml on these two, so the fleet leaves it alone.
 *
 * Host variables (inventory) that replace commands, for stand-ins in the lab or unusual hosts:
 * `conegate_service_start`, `conegate_service_stop` (one line each) and `conegate_pkg` (the pkg(8)
 * command on OPNsense/pfSense, e.g. `pkg -r /mnt`).
 */
import { posix } from 'node:path';
import { ConegateError } from '../../errors.ts';
import { shQuote } from '../ssh-upload.ts';
import type { FleetHost, FleetPlatform } from '../types.ts';

export interface InstallInput {
  host: FleetHost;
  root: string;
  version: string;
  packageHash: string;
  /** The uploaded package on the host, root prefix included. */
  packagePath: string;
  /** The transaction dir on the host, root prefix included. */
  stateDir: string;
}

export interface InstallParts {
  trees: string[];
  /** Directories that must exist before the transaction (made and recorded by the executor). */
  dirs: string[];
  prepareCommands: string[];
  installCommands: string[];
  revertCommands: string[];
}

export interface ServiceCommands {
  stopCommand: string;
  startCommand: string;
}

export interface PlatformAdapter {
  /** Transaction dir (lock, backups, timer), without root. */
  stateDir: string;
  /** The agent config is rendered by the platform's plugin (config.xml): the fleet does not write it. */
  configOwnedByPlugin: boolean;
  /** How the package is installed (absent on a config-only change). */
  parts(i: InstallInput): InstallParts;
  service(host: FleetHost): ServiceCommands;
}

/** A one-line command from a host variable, else the default. */
export function hostCommand(host: FleetHost, name: string, fallback: string): string {
  const v = host.vars[name];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string' || v.trim() === '' || /[\r\n]/.test(v) || v.includes('CONEGATE_REVERT')) {
    throw new ConegateError('CG_CONFIG_INVALID', `${host.name}: variable ${name} must be a one-line command`, { context: { host: host.name } });
  }
  return v;
}

function service(host: FleetHost, start: string, stop: string): ServiceCommands {
  return { startCommand: hostCommand(host, 'conegate_service_start', start), stopCommand: hostCommand(host, 'conegate_service_stop', stop) };
}

const LINUX_BASE = '/opt/conegate';

const linux: PlatformAdapter = {
  stateDir: '/var/lib/conegate-fleet',
  configOwnedByPlugin: false,
  parts(i) {
    const base = i.root + LINUX_BASE;
    const name = `${i.version}-${i.packageHash.slice(0, 12)}`;
    const rel = `${base}/releases/${name}`;
    const cur = `${base}/current`;
    const q = shQuote;
    return {
      trees: [cur, rel],
      dirs: [`${base}/releases`],
      prepareCommands: [],
      installCommands: [
        // A release dir named by the package hash already holds exactly this package: reuse it.
        `[ -d ${q(rel)} ] || { rm -rf ${q(`${rel}.cg-new`)} && mkdir ${q(`${rel}.cg-new`)} && tar -xzf ${q(i.packagePath)} -C ${q(`${rel}.cg-new`)} --strip-components=1 && mv ${q(`${rel}.cg-new`)} ${q(rel)}; }`,
        // rename(2) over the old link: the switch is atomic (GNU mv -T: Linux only, as is this layout).
        `ln -sfn ${q(`releases/${name}`)} ${q(`${cur}.cg-new`)} && mv -Tf ${q(`${cur}.cg-new`)} ${q(cur)}`,
      ],
      revertCommands: [],
    };
  },
  service: (host) => service(host, 'systemctl restart conegate.service', 'systemctl stop conegate.service'),
};

const UNIFI_UNITS = ['conegate.service', 'conegate-repair.service', 'conegate-repair.timer', 'conegate-nat.service', 'conegate-nat.path'];
// What unifi/install.sh writes (install_payload, restore_units, restore_hook), conegate.json and state/ aside.
const UNIFI_TREES = [
  ...['lib', 'node', 'systemd', 'bin', 'ARCH', 'VERSION', 'install.sh', 'on-boot.sh', '.created-on_boot.d'].map((f) => `/data/conegate/${f}`),
  ...UNIFI_UNITS.map((u) => `/etc/systemd/system/${u}`),
  '/etc/systemd/system/multi-user.target.wants/conegate.service',
  '/etc/systemd/system/timers.target.wants/conegate-repair.timer',
  '/etc/systemd/system/paths.target.wants/conegate-nat.path',
  '/data/on_boot.d',
];

/**
 * After the trees are back on a live gateway, systemd still has the new units loaded: reload, then the
 * restored install.sh --repair starts what the previous version ran (timer, path unit); after a first
 * install there is no previous one, so the units the install started are stopped.
 */
const UNIFI_LIVE_REVERT = 'systemctl daemon-reload; if [ -f /data/conegate/install.sh ]; then sh /data/conegate/install.sh --repair; else systemctl stop conegate-repair.timer conegate-nat.path; fi';

const unifi: PlatformAdapter = {
  stateDir: '/data/conegate-fleet',
  configOwnedByPlugin: false,
  parts(i) {
    const stage = `${i.stateDir}/release`;
    const q = shQuote;
    // install.sh --root acts on a tree and starts nothing (tests, lab); on a real gateway it restarts the agent itself.
    const rootArg = i.root ? ` --root ${q(i.root)}` : '';
    return {
      trees: UNIFI_TREES.map((t) => i.root + t),
      dirs: [],
      prepareCommands: [],
      installCommands: [
        `rm -rf ${q(stage)} && mkdir ${q(stage)} && tar -xzf ${q(i.packagePath)} -C ${q(stage)} --strip-components=1`,
        `sh ${q(`${stage}/install.sh`)}${rootArg}`,
        `rm -rf ${q(stage)}`,
      ],
      revertCommands: i.root ? [] : [UNIFI_LIVE_REVERT],
    };
  },
  service: (host) => service(host, 'systemctl restart conegate.service', 'systemctl stop conegate.service'),
};

function freebsd(): PlatformAdapter {
  return {
    stateDir: '/var/db/conegate-fleet',
    configOwnedByPlugin: true,
    parts(i) {
      const pkg = hostCommand(i.host, 'conegate_pkg', 'pkg');
      const prev = `${i.stateDir}/prev-pkg`;
      const q = shQuote;
      return {
        trees: [],
        dirs: [],
        // pkg create rebuilds the installed package from the installed files: the revert needs no copy kept from an earlier run.
        prepareCommands: [`rm -rf ${q(prev)} && mkdir ${q(prev)} && { ! ${pkg} info -e conegate || ${pkg} create -o ${q(prev)} conegate; }`],
        installCommands: [`${pkg} add -f ${q(i.packagePath)}`],
        revertCommands: [`if ls ${q(prev)}/conegate-*.pkg >/dev/null 2>&1; then ${pkg} add -f ${q(prev)}/conegate-*.pkg; else ${pkg} delete -y conegate; fi`],
      };
    },
    service: (host) => service(host, '/usr/local/etc/rc.d/conegate start', '/usr/local/etc/rc.d/conegate stop'),
  };
}

export const PLATFORM_ADAPTERS: Record<FleetPlatform, PlatformAdapter> = { linux, unifi, opnsense: freebsd(), pfsense: freebsd() };

/** `/a/b/c` -> [`/a`, `/a/b`, `/a/b/c`]: what `mkdir -p` may create. */
export function parentsOf(dir: string): string[] {
  const parts = dir.split('/').filter(Boolean);
  return parts.map((_, k) => posix.join('/', ...parts.slice(0, k + 1)));
}
