/**
 * Which package file goes to which platform, from `--package PLATFORM=FILE` or `--package-dir D`
 * (the files `npm run package` writes): the version is read from the file name, the sha256 from the
 * bytes. The FreeBSD agent package `conegate-<v>.pkg` serves OPNsense and pfSense alike.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ConegateError } from '../../errors.ts';
import type { FleetPlatform } from '../types.ts';
import type { PackageRef } from './contract.ts';

const PLATFORMS: readonly FleetPlatform[] = ['opnsense', 'pfsense', 'unifi', 'linux'];
/** conegate-1.2.3[-rc.1]-unifi-arm64.tar.gz, conegate-1.2.3-linux-x64.tar.gz, conegate-1.2.3.pkg */
const NAME = /^conegate-(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.]+)?)(?:-(unifi|linux)-([a-z0-9]+))?\.(tar\.gz|pkg)$/;

export interface NamedPackage { version: string; platforms: FleetPlatform[]; arch?: string }

export function packageFromName(file: string): NamedPackage | undefined {
  const m = NAME.exec(basename(file));
  if (!m) return undefined;
  const [, version, kind, arch, ext] = m;
  if (ext === 'pkg' && !kind) return { version: version!, platforms: ['opnsense', 'pfsense'] };
  if (ext === 'tar.gz' && kind) return { version: version!, platforms: [kind as FleetPlatform], arch: arch! };
  return undefined;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  } catch (err) {
    throw new ConegateError('CG_CONFIG_UNREADABLE', `cannot read package ${file}: ${(err as Error).message}`, { cause: err });
  }
  return hash.digest('hex');
}

async function ref(file: string, version: string): Promise<PackageRef> {
  return { version, file, sha256: await sha256File(file) };
}

/** `--package PLATFORM=FILE`, repeatable. */
export async function packagesFromArgs(args: readonly string[]): Promise<Partial<Record<FleetPlatform, PackageRef>>> {
  const out: Partial<Record<FleetPlatform, PackageRef>> = {};
  for (const a of args) {
    const i = a.indexOf('=');
    const platform = a.slice(0, i) as FleetPlatform;
    const file = a.slice(i + 1);
    if (i < 1 || !PLATFORMS.includes(platform) || !file) throw new ConegateError('CG_USAGE', `--package ${a}: expected PLATFORM=FILE with PLATFORM one of ${PLATFORMS.join(', ')}`);
    if (out[platform]) throw new ConegateError('CG_USAGE', `--package: ${platform} given twice`);
    const named = packageFromName(file);
    if (!named) throw new ConegateError('CG_USAGE', `--package ${a}: the version is read from the file name (conegate-<version>.pkg or conegate-<version>-<unifi|linux>-<arch>.tar.gz)`);
    if (!named.platforms.includes(platform)) throw new ConegateError('CG_USAGE', `--package ${a}: that file is a package for ${named.platforms.join('/')}`);
    out[platform] = await ref(file, named.version);
  }
  return out;
}

/**
 * `--package-dir D`: the packages in D; exactly one per platform (two versions or two architectures
 * for one platform are refused: which one a host gets must never be a guess).
 */
export async function packagesFromDir(dir: string): Promise<Partial<Record<FleetPlatform, PackageRef>>> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    throw new ConegateError('CG_CONFIG_UNREADABLE', `cannot read --package-dir ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const found = new Map<FleetPlatform, { file: string; version: string }>();
  for (const n of names) {
    const named = packageFromName(n);
    if (!named) continue;
    for (const p of named.platforms) {
      const had = found.get(p);
      if (had) throw new ConegateError('CG_USAGE', `--package-dir ${dir}: two packages for ${p} (${basename(had.file)}, ${n}); keep one or use --package ${p}=FILE`);
      found.set(p, { file: join(dir, n), version: named.version });
    }
  }
  if (found.size === 0) throw new ConegateError('CG_USAGE', `--package-dir ${dir}: no conegate package in it (conegate-<version>.pkg, conegate-<version>-<unifi|linux>-<arch>.tar.gz)`);
  const out: Partial<Record<FleetPlatform, PackageRef>> = {};
  for (const [p, f] of found) out[p] = await ref(f.file, f.version);
  return out;
}
