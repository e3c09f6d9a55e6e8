/**
 * FreeBSD pkg(8) archives: a tar whose first two entries are +COMPACT_MANIFEST and +MANIFEST (JSON,
 * which pkg's UCL parser reads), followed by the files under their absolute paths. +MANIFEST lists
 * every file with its checksum "1$<sha256 hex>" (libpkg pkg_checksum.c: type 1 = PKG_HASH_TYPE_SHA256_HEX,
 * the form `<hashtype>$<hash>` used for file sums); +COMPACT_MANIFEST is the same without files,
 * directories and scripts (what `pkg repo` reads). Scripts use pkg's names: `install`/`deinstall`
 * are the ports framework's pkg-install/pkg-deinstall, run with PRE-/POST-INSTALL and
 * DEINSTALL/POST-DEINSTALL as $2.
 */
import { createHash } from 'node:crypto';
import { ConegateError } from '../errors.ts';
import type { TarEntry } from './tar.ts';

export interface PkgDep {
  origin: string;
  version: string;
}

export interface PkgMeta {
  name: string;
  origin: string;
  version: string;
  comment: string;
  desc: string;
  maintainer: string;
  www: string;
  /** e.g. FreeBSD:14:amd64, or FreeBSD:14:* for a package without binaries. */
  abi: string;
  prefix: string;
  licenses: string[];
  categories: string[];
  deps: Record<string, PkgDep>;
  scripts: Partial<Record<'install' | 'deinstall' | 'post-install' | 'pre-deinstall' | 'post-deinstall', string>>;
}

export interface PkgFile {
  /** Absolute path on the appliance. */
  path: string;
  mode: number;
  data: Uint8Array;
}

/**
 * pkg url-decodes file paths, `desc` and scripts when it reads a manifest (libpkg pkg_manifest.c
 * urldecode), and encodes '%' and non-ASCII bytes when it writes one; so do we.
 */
export function pkgEscape(text: string): string {
  return [...new TextEncoder().encode(text)].map((b) => (b === 0x25 || b > 0x7e ? `%${b.toString(16).padStart(2, '0')}` : String.fromCharCode(b))).join('');
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * pkg's older `arch` spelling of an ABI (pkg_arch.c): FreeBSD:14:amd64 -> freebsd:14:x86:64,
 * FreeBSD:14:aarch64 -> freebsd:14:aarch64:64, FreeBSD:14:* -> freebsd:14:*.
 */
export function legacyArch(abi: string): string {
  const [os = '', major = '', machine = ''] = abi.split(':');
  const tail = machine === 'amd64' ? 'x86:64' : machine === 'aarch64' ? 'aarch64:64' : machine;
  return `${os.toLowerCase()}:${major}:${tail}`;
}

/** The two manifests as JSON text. */
export function pkgManifests(meta: PkgMeta, files: PkgFile[]): { manifest: string; compact: string } {
  const seen = new Set<string>();
  for (const f of files) {
    if (!f.path.startsWith('/')) throw new ConegateError('CG_INPUT_INVALID', `pkg ${meta.name}: file path ${f.path} is not absolute`);
    if (seen.has(f.path)) throw new ConegateError('CG_INPUT_INVALID', `pkg ${meta.name}: ${f.path} is listed twice`);
    seen.add(f.path);
  }
  const compact = {
    name: meta.name,
    origin: meta.origin,
    version: meta.version,
    comment: meta.comment,
    maintainer: meta.maintainer,
    www: meta.www,
    abi: meta.abi,
    arch: legacyArch(meta.abi),
    prefix: meta.prefix,
    flatsize: files.reduce((n, f) => n + f.data.length, 0),
    licenselogic: 'single',
    licenses: meta.licenses,
    desc: pkgEscape(meta.desc),
    categories: meta.categories,
    deps: meta.deps,
  };
  const manifest = {
    ...compact,
    files: Object.fromEntries([...files].sort((a, b) => (a.path < b.path ? -1 : 1)).map((f) => [pkgEscape(f.path), `1$${sha256Hex(f.data)}`])),
    scripts: Object.fromEntries(Object.entries(meta.scripts).map(([k, v]) => [k, pkgEscape(v)])),
  };
  return { manifest: JSON.stringify(manifest, null, 1), compact: JSON.stringify(compact, null, 1) };
}

/** The archive's entries in pkg's order: the manifests first, then the files. */
export function pkgArchiveEntries(meta: PkgMeta, files: PkgFile[]): TarEntry[] {
  const { manifest, compact } = pkgManifests(meta, files);
  const enc = new TextEncoder();
  return [
    { path: '+COMPACT_MANIFEST', type: 'file', mode: 0o644, data: enc.encode(compact) },
    { path: '+MANIFEST', type: 'file', mode: 0o644, data: enc.encode(manifest) },
    ...files.map((f): TarEntry => ({ path: f.path, type: 'file', mode: f.mode, data: f.data })),
  ];
}
