/**
 * `node --import tsx agent/src/package/main.ts --platform P [options]`: the part of `npm run package`
 * that needs no network (scripts/package.mjs fetches the runtime pieces, then runs this).
 *   --platform opnsense|pfsense|unifi   --arch x64|arm64 (default x64)   --freebsd 14|15 (default 14)
 *   --version X.Y.Z (default package.json's)   --out DIR (default dist/packages)
 *   --bundle DIR (default dist)   --web DIR (default dist/web)   --koffi DIR   --koffi-native DIR
 *   --node DIR (UniFi: the node-linux-<arch> package)
 * Prints the written paths, one per line; a bad option or input exits 2 with the reason.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConegateError, EXIT_STATUS } from '../errors.ts';
import { buildPackages } from './build.ts';
import { PLATFORMS, type Platform } from './plan.ts';

const ROOT = resolve(new URL('../../..', import.meta.url).pathname);

export async function packageMain(argv: string[]): Promise<string[]> {
  const { values } = parseArgs({
    args: argv,
    options: {
      platform: { type: 'string' },
      arch: { type: 'string', default: 'x64' },
      freebsd: { type: 'string', default: '14' },
      version: { type: 'string' },
      out: { type: 'string', default: join(ROOT, 'dist/packages') },
      bundle: { type: 'string', default: join(ROOT, 'dist') },
      web: { type: 'string', default: join(ROOT, 'dist/web') },
      koffi: { type: 'string', default: join(ROOT, 'node_modules/koffi') },
      'koffi-native': { type: 'string' },
      node: { type: 'string' },
      root: { type: 'string', default: ROOT },
    },
    strict: true,
  });
  const platform = values.platform as Platform;
  if (!PLATFORMS.includes(platform)) throw new ConegateError('CG_USAGE', `--platform must be one of ${PLATFORMS.join(', ')}`);
  if (values.arch !== 'x64' && values.arch !== 'arm64') throw new ConegateError('CG_USAGE', '--arch must be x64 or arm64');
  if (!/^1[4-9]$/.test(values.freebsd!)) throw new ConegateError('CG_USAGE', '--freebsd must be the FreeBSD major (14, 15)');
  if (!values['koffi-native']) throw new ConegateError('CG_USAGE', '--koffi-native DIR (the @koromix/koffi-<os>-<arch> package) is required');
  if (platform === 'unifi' && !values.node) throw new ConegateError('CG_USAGE', '--node DIR (the node-linux-<arch> package) is required for unifi');
  const version = values.version ?? (JSON.parse(await readFile(join(values.root!, 'package.json'), 'utf8')) as { version: string }).version;
  return buildPackages({
    platform,
    arch: values.arch,
    freebsdMajor: Number(values.freebsd),
    version,
    root: values.root!,
    bundleDir: values.bundle!,
    webDir: values.web!,
    koffiDir: values.koffi!,
    koffiNativeDir: values['koffi-native'],
    ...(values.node ? { nodeDir: values.node } : {}),
    outDir: values.out!,
    // 2026-01-01: a fixed time, so two builds of the same inputs are byte-identical.
    mtimeSec: 1767225600,
  });
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  packageMain(process.argv.slice(2)).then(
    (paths) => process.stdout.write(paths.map((p) => `${p}\n`).join('')),
    (e: unknown) => {
      const code = e instanceof ConegateError ? e.code : 'CG_USAGE';
      process.stderr.write(`package: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = e instanceof ConegateError ? EXIT_STATUS[code as keyof typeof EXIT_STATUS] : 2;
    },
  );
}
