/**
 * Which appliance are we on? Detected from the marker files a real host of each kind has, tested in
 * an order that matters: OPNsense and pfSense also carry FreeBSD files, and UniFi OS says "Debian" in
 * os-release. `root` lets support run detection on a copied tree; links are resolved inside it, never
 * against the host.
 */
import { readFile } from 'node:fs/promises';
import { resolveInRoot } from './rootpath.ts';

export type PlatformKind = 'opnsense' | 'pfsense' | 'freebsd' | 'unifi' | 'linux' | 'unknown';

export interface PlatformInfo {
  kind: PlatformKind;
  /** Human name, e.g. "OPNsense 25.7.6_2", "pfSense Plus 24.11-RELEASE". */
  name: string;
  version?: string;
  /** pfSense edition, from the version pattern. */
  edition?: 'CE' | 'Plus';
  /** FreeBSD userland version where known (from /bin/freebsd-version). */
  freebsdVersion?: string;
  /** UniFi device model where known. */
  model?: string;
  /** Where this platform keeps its firewall config, for later steps. */
  configXml?: string;
  /** Default location of conegate's own config file on this platform. */
  conegateConfig: string;
  /** Marker files that decided it, relative to root. */
  evidence: string[];
}

async function readText(root: string, path: string): Promise<string | undefined> {
  const real = await resolveInRoot(root, path);
  if (!real) return undefined;
  try {
    return await readFile(real, 'utf8');
  } catch {
    return undefined;
  }
}

async function exists(root: string, path: string): Promise<boolean> {
  return (await resolveInRoot(root, path)) !== undefined;
}

/** `KEY=value` / `KEY="value"` lines into a map (os-release, system.info, freebsd-version). */
export function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
  }
  return out;
}

async function freebsdUserland(root: string): Promise<string | undefined> {
  const script = await readText(root, '/bin/freebsd-version');
  return script ? parseKeyValues(script).USERLAND_VERSION : undefined;
}

async function detectOpnsense(root: string): Promise<PlatformInfo | undefined> {
  const text = await readText(root, '/usr/local/opnsense/version/core');
  if (text === undefined) return undefined;
  let core: Record<string, unknown> = {};
  try {
    core = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // A damaged version file still marks OPNsense; report without a version.
  }
  const version = typeof core.product_version === 'string' ? core.product_version : undefined;
  return {
    kind: 'opnsense',
    name: `OPNsense${version ? ' ' + version : ''}`,
    ...(version ? { version } : {}),
    ...(await optional('freebsdVersion', freebsdUserland(root))),
    configXml: '/conf/config.xml',
    conegateConfig: '/usr/local/etc/conegate/conegate.json',
    evidence: ['/usr/local/opnsense/version/core'],
  };
}

async function detectPfsense(root: string): Promise<PlatformInfo | undefined> {
  const versionText = await readText(root, '/etc/version');
  const hasMarker = (await exists(root, '/etc/pfSense-rc')) || (await exists(root, '/etc/inc/globals.inc'));
  if (versionText === undefined || !hasMarker) return undefined;
  const version = versionText.trim().split('\n')[0]!.trim();
  // Plus numbers releases year.month (24.11); CE uses 2.x.y. The version pattern is the edition.
  const edition: 'CE' | 'Plus' = /^\d{2}\.\d{2}/.test(version) ? 'Plus' : 'CE';
  const patch = (await readText(root, '/etc/version.patch'))?.trim();
  const shown = patch && patch !== '0' ? `${version}-p${patch}` : version;
  return {
    kind: 'pfsense',
    name: `pfSense ${edition === 'Plus' ? 'Plus ' : 'CE '}${shown}`,
    version: shown,
    edition,
    ...(await optional('freebsdVersion', freebsdUserland(root))),
    configXml: '/cf/conf/config.xml',
    conegateConfig: '/usr/local/etc/conegate/conegate.json',
    evidence: ['/etc/version', (await exists(root, '/etc/pfSense-rc')) ? '/etc/pfSense-rc' : '/etc/inc/globals.inc'],
  };
}

async function detectUnifi(root: string): Promise<PlatformInfo | undefined> {
  const hasTool = await exists(root, '/usr/bin/ubnt-device-info');
  const versionLine = (await readText(root, '/usr/lib/version'))?.trim();
  if (!hasTool && !versionLine) return undefined;
  // <BOARD>.<soc>.v<x.y.z>.<commit>.<yymmdd>.<hhmm>, e.g. UDMPRO.al324.v5.1.31.5acc35d.260819.1714
  const m = versionLine ? /^([A-Za-z0-9-]+)\.[A-Za-z0-9]+\.v(\d+\.\d+\.\d+)\./.exec(versionLine) : null;
  const info = parseKeyValues((await readText(root, '/proc/ubnthal/system.info')) ?? '');
  const model = info.shortname ?? m?.[1];
  const version = m?.[2];
  return {
    kind: 'unifi',
    name: `UniFi OS${version ? ' ' + version : ''}${model ? ` (${model})` : ''}`,
    ...(version ? { version } : {}),
    ...(model ? { model } : {}),
    conegateConfig: '/data/conegate/conegate.json',
    evidence: [hasTool ? '/usr/bin/ubnt-device-info' : '/usr/lib/version'],
  };
}

async function detectFreebsd(root: string): Promise<PlatformInfo | undefined> {
  const userland = await freebsdUserland(root);
  if (!userland) return undefined;
  return {
    kind: 'freebsd',
    name: `FreeBSD ${userland}`,
    version: userland,
    freebsdVersion: userland,
    conegateConfig: '/usr/local/etc/conegate/conegate.json',
    evidence: ['/bin/freebsd-version'],
  };
}

async function detectLinux(root: string): Promise<PlatformInfo | undefined> {
  const text = (await readText(root, '/etc/os-release')) ?? (await readText(root, '/usr/lib/os-release'));
  if (text === undefined) return undefined;
  const os = parseKeyValues(text);
  return {
    kind: 'linux',
    name: os.PRETTY_NAME ?? `Linux (${os.ID ?? 'unknown distribution'})`,
    ...(os.VERSION_ID ? { version: os.VERSION_ID } : {}),
    conegateConfig: '/etc/conegate/conegate.json',
    evidence: ['/etc/os-release'],
  };
}

async function optional<K extends string>(key: K, value: Promise<string | undefined>): Promise<Partial<Record<K, string>>> {
  const v = await value;
  return v === undefined ? {} : ({ [key]: v } as Record<K, string>);
}

/** Detects the platform of the tree at root ("/" for this host). */
export async function detectPlatform(root = '/'): Promise<PlatformInfo> {
  for (const detect of [detectOpnsense, detectPfsense, detectUnifi, detectFreebsd, detectLinux]) {
    const found = await detect(root);
    if (found) return found;
  }
  return { kind: 'unknown', name: 'unknown platform', conegateConfig: '/etc/conegate/conegate.json', evidence: [] };
}
