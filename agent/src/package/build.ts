/**
 * The edge of `npm run package`: reads the source trees named in BuildOptions, asks the planner
 * (plan.ts) what to ship, and writes each artefact into outDir (.pkg = gzip'ed tar, which pkg(8)
 * reads like its own txz/tzst; .tar.gz for UniFi). Fetching the Node runtime and koffi's binary for
 * the target is scripts/package.mjs's job; this file never touches the network.
 */
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ConegateError } from '../errors.ts';
import { pkgArchiveEntries } from './pkg-manifest.ts';
import { planPackages, type Artefact, type Platform, type TreeFile } from './plan.ts';
import { tarArchive } from './tar.ts';

export interface BuildOptions {
  platform: Platform;
  arch: 'x64' | 'arm64';
  freebsdMajor: number;
  version: string;
  /** Repository root (opnsense-plugin/, pfsense-plugin/, unifi/, agent/init/). */
  root: string;
  /** The agent bundle (dist/): conegate.js, chunks/. Its node_modules/ and web/ are not read. */
  bundleDir: string;
  /** The front-end bundle (dist/web). */
  webDir: string;
  /** The koffi package (node_modules/koffi) and its platform package for the target. */
  koffiDir: string;
  koffiNativeDir: string;
  /** UniFi: the node-linux-<arch> package directory. */
  nodeDir?: string;
  outDir: string;
  /** Fixed archive timestamp (seconds) so the same inputs give the same bytes. */
  mtimeSec: number;
}

/** Every file under dir, path relative to dir, sorted; `skip` drops top-level entries. */
export async function readTree(dir: string, skip: string[] = []): Promise<TreeFile[]> {
  const out: TreeFile[] = [];
  async function walk(d: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (e) {
      throw new ConegateError('CG_NOT_FOUND', `${d}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = join(d, e.name);
      const rel = relative(dir, full);
      if (skip.includes(rel)) continue;
      // Symlinks are followed (the plugin trees may link to shared files); stat says what they are.
      const st = await stat(full);
      if (st.isDirectory()) await walk(full);
      else if (st.isFile()) out.push({ rel, mode: st.mode & 0o7777, data: new Uint8Array(await readFile(full)) });
    }
  }
  await walk(dir);
  return out;
}

async function koffiNativeName(dir: string): Promise<string> {
  let pkg: { name?: unknown };
  try {
    pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { name?: unknown };
  } catch (e) {
    throw new ConegateError('CG_NOT_FOUND', `${dir}: no readable package.json (want the @koromix/koffi-<os>-<arch> package): ${(e as Error).message}`);
  }
  if (typeof pkg.name !== 'string' || !/^@koromix\/koffi-[a-z]+-[a-z0-9]+$/.test(pkg.name)) {
    throw new ConegateError('CG_INPUT_INVALID', `${dir}: not a koffi platform package (name ${JSON.stringify(pkg.name)})`);
  }
  return pkg.name;
}

/**
 * What of dist/ is the agent: the entry, its chunks and esbuild's legal-comment files. Not what else
 * lands there (the front-end in web/, node_modules shipped separately, build metadata, and
 * dist/packages itself, the default output folder).
 */
export function isBundleFile(rel: string): boolean {
  return rel === 'conegate.js' || /^chunks\/[^/]+\.(js|LEGAL\.txt)$/.test(rel) || /^[^/]+\.LEGAL\.txt$/.test(rel);
}

export function artefactBytes(a: Artefact, mtimeSec: number): Uint8Array {
  const entries = a.kind === 'pkg' ? pkgArchiveEntries(a.meta, a.files) : a.entries;
  return gzipSync(tarArchive(entries, mtimeSec), { level: 9 });
}

/** Builds the platform's artefacts; returns their paths. */
export async function buildPackages(o: BuildOptions): Promise<string[]> {
  const pluginDir = { opnsense: 'opnsense-plugin', pfsense: 'pfsense-plugin', unifi: 'unifi' }[o.platform];
  const freebsd = o.platform !== 'unifi';
  const artefacts = planPackages(o.platform, {
    version: o.version,
    plugin: await readTree(join(o.root, pluginDir), ['README.md']),
    ...(freebsd ? { rcScript: new Uint8Array(await readFile(join(o.root, 'agent/init/conegate.rc'))) } : {}),
    bootCheck: new Uint8Array(await readFile(join(o.root, 'agent/init/conegate-fleet-boot-check'))),
    bundle: (await readTree(o.bundleDir, ['node_modules', 'web', 'packages'])).filter((f) => isBundleFile(f.rel)),
    koffi: await readTree(o.koffiDir),
    koffiNative: { name: await koffiNativeName(o.koffiNativeDir), files: await readTree(o.koffiNativeDir) },
    web: await readTree(o.webDir),
    ...(o.nodeDir ? { node: await readTree(o.nodeDir) } : {}),
    arch: o.arch,
    freebsdMajor: o.freebsdMajor,
  });
  await mkdir(o.outDir, { recursive: true });
  const written: string[] = [];
  for (const a of artefacts) {
    const path = join(o.outDir, a.fileName);
    await writeFile(path, artefactBytes(a, o.mtimeSec));
    written.push(path);
  }
  return written;
}
