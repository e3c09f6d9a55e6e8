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

export interface DumpFile {
  path: string;
  /** Only whether it exists (binaries, large files). */
  presenceOnly?: boolean;
  maxBytes: number;
}

/**
 * A POSIX sh script (run as `/bin/sh -s`, script on stdin: the login shell may be csh) that prints each
 * file as `=== PATH` then, for a file that exists, `+++` and its first maxBytes. `root` is for tests.
 */
export function fileDumpScript(files: readonly DumpFile[], root = ''): string {
  const lines = ['#!/bin/sh', 'set -u'];
  for (const f of files) {
    const q = `'${(root + f.path).replace(/'/g, `'\\''`)}'`;
    lines.push(`printf '=== %s\\n' '${f.path.replace(/'/g, `'\\''`)}'`);
    if (f.presenceOnly) lines.push(`if [ -e ${q} ]; then printf '+++\\n'; fi`);
    else lines.push(`if [ -f ${q} ] && [ -r ${q} ]; then printf '+++\\n'; head -c ${f.maxBytes} ${q}; printf '\\n'; fi`);
  }
  return lines.join('\n') + '\n';
}

/** Parses fileDumpScript's output: path -> contents for the files that exist. */
export function parseFileDump(out: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const part of out.split(/^=== /m).slice(1)) {
    const nl = part.indexOf('\n');
    const path = nl < 0 ? part : part.slice(0, nl);
    const body = nl < 0 ? '' : part.slice(nl + 1);
    if (body.startsWith('+++\n')) files.set(path, body.slice(4).replace(/\n$/, ''));
  }
  return files;
}

export const MARKER_DUMP: readonly DumpFile[] = MARKER_FILES.map((path) => ({ path, presenceOnly: PRESENCE_ONLY.has(path), maxBytes: MAX_MARKER_BYTES }));

/** The markers only (facts.ts adds the config and state files for one exec per host). */
export function markerScript(root = ''): string {
  return fileDumpScript(MARKER_DUMP, root);
}

/** The marker files out of a dump. */
export function markersFrom(files: Map<string, string>): MarkerContents {
  const out: Record<string, string> = {};
  for (const p of MARKER_FILES) {
    const v = files.get(p);
    if (v !== undefined) out[p] = v;
  }
  return out as MarkerContents;
}

export function parseMarkerOutput(out: string): MarkerContents {
  return markersFrom(parseFileDump(out));
}
