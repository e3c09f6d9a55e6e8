/**
 * Platform detection for a fleet host as a pure function of its marker files' contents (the rules of
 * appliance-facts.md and agent/src/platform/detect.ts, which reads them from a local tree): OPNsense,
 * then pfSense (both also carry FreeBSD files), then UniFi OS (its os-release says Debian), then Linux.
 * The edge fetches every path of MARKER_FILES in one `/bin/sh -s` script (markerScript) and hands the
 * parsed output here, so detection costs one exec per host.
 */
import { parseKeyValues } from '../platform/detect.ts';
import type { FleetPlatform } from './types.ts';

export const MARKER_FILES = [
  '/usr/local/opnsense/version/core',
  '/etc/version',
  '/etc/version.patch',
  '/etc/pfSense-rc',
  '/etc/inc/globals.inc',
  '/usr/bin/ubnt-device-info',
  '/usr/lib/version',
  '/bin/freebsd-version',
  '/etc/os-release',
  '/usr/lib/os-release',
] as const;

/** Path -> contents ('' for a marker whose presence is what counts); absent = not on the host. */
export type MarkerContents = Partial<Record<(typeof MARKER_FILES)[number], string>>;

export interface Detected {
  platform: FleetPlatform | 'unknown';
  /** Platform version where the markers give one (OPNsense product_version, pfSense /etc/version). */
  version?: string;
  /** Why: the marker that decided, or what was found instead (e.g. plain FreeBSD). */
  evidence: string;
}

// Existence-only markers are not read (ubnt-device-info is a binary, globals.inc is large).
const PRESENCE_ONLY = new Set<string>(['/usr/bin/ubnt-device-info', '/etc/pfSense-rc', '/etc/inc/globals.inc']);
const MAX_MARKER_BYTES = 4096;

export function detectFromMarkers(f: MarkerContents): Detected {
  const core = f['/usr/local/opnsense/version/core'];
  if (core !== undefined) {
    let version: string | undefined;
    try {
      const v = (JSON.parse(core) as Record<string, unknown>).product_version;
      if (typeof v === 'string') version = v;
    } catch {
      // A damaged version file still marks OPNsense.
    }
    return { platform: 'opnsense', ...(version ? { version } : {}), evidence: '/usr/local/opnsense/version/core' };
  }
  const pfv = f['/etc/version'];
  const pfMarker = f['/etc/pfSense-rc'] !== undefined ? '/etc/pfSense-rc' : f['/etc/inc/globals.inc'] !== undefined ? '/etc/inc/globals.inc' : undefined;
  if (pfv !== undefined && pfMarker) {
    const version = pfv.trim().split('\n')[0]!.trim();
    const patch = f['/etc/version.patch']?.trim();
    return { platform: 'pfsense', version: patch && patch !== '0' ? `${version}-p${patch}` : version, evidence: `/etc/version + ${pfMarker}` };
  }
  const uver = f['/usr/lib/version']?.trim();
  if (f['/usr/bin/ubnt-device-info'] !== undefined || uver) {
    const m = uver ? /^[A-Za-z0-9-]+\.[A-Za-z0-9]+\.v(\d+\.\d+\.\d+)\./.exec(uver) : null;
    return { platform: 'unifi', ...(m ? { version: m[1]! } : {}), evidence: f['/usr/bin/ubnt-device-info'] !== undefined ? '/usr/bin/ubnt-device-info' : '/usr/lib/version' };
  }
  const bsd = f['/bin/freebsd-version'];
  if (bsd !== undefined) {
    const userland = parseKeyValues(bsd).USERLAND_VERSION;
    return { platform: 'unknown', evidence: `plain FreeBSD${userland ? ' ' + userland : ''}: neither OPNsense nor pfSense markers` };
  }
  const os = f['/etc/os-release'] ?? f['/usr/lib/os-release'];
  if (os !== undefined) {
    const kv = parseKeyValues(os);
    return { platform: 'linux', ...(kv.VERSION_ID ? { version: `${kv.ID ?? 'linux'} ${kv.VERSION_ID}` } : {}), evidence: '/etc/os-release' };
  }
  return { platform: 'unknown', evidence: 'no marker file found' };
}

/**
 * A POSIX sh script (run as `/bin/sh -s`, script on stdin: the login shell may be csh) that prints each
 * marker as `=== PATH` then, for a file that exists, `+++` and its first bytes. `root` is for tests.
 */
export function markerScript(root = ''): string {
  const lines = ['#!/bin/sh', 'set -u'];
  for (const p of MARKER_FILES) {
    const q = `'${(root + p).replace(/'/g, `'\\''`)}'`;
    lines.push(`printf '=== %s\\n' '${p}'`);
    if (PRESENCE_ONLY.has(p)) lines.push(`if [ -e ${q} ]; then printf '+++\\n'; fi`);
    else lines.push(`if [ -f ${q} ] && [ -r ${q} ]; then printf '+++\\n'; head -c ${MAX_MARKER_BYTES} ${q}; printf '\\n'; fi`);
  }
  return lines.join('\n') + '\n';
}

/** Parses markerScript's output back into MarkerContents. */
export function parseMarkerOutput(out: string): MarkerContents {
  const files: Record<string, string> = {};
  const known = new Set<string>(MARKER_FILES);
  const parts = out.split(/^=== /m).slice(1);
  for (const part of parts) {
    const nl = part.indexOf('\n');
    const path = nl < 0 ? part : part.slice(0, nl);
    const body = nl < 0 ? '' : part.slice(nl + 1);
    if (!known.has(path) || !body.startsWith('+++\n')) continue;
    files[path] = body.slice(4).replace(/\n$/, '');
  }
  return files as MarkerContents;
}
