#!/usr/bin/env node
// `npm run build`: the esbuild bundle of the conegate CLI in dist/ (git-ignored), which is what ships:
//   dist/conegate.js     the entry (`node dist/conegate.js ...`; bin/conegate.js runs it)
//   dist/chunks/*.js     one chunk per command module and the code they share: each command's
//                        `import()` in agent/src/cli/commands/index.ts loads only what it needs
//   dist/node_modules/   the packages that cannot be bundled (EXTERNAL below), copied as installed
//   dist/web/            the page's front-end (scripts/build-web.mjs)
// The worker threads (agent/src/tun/, agent/src/wg/bind/) are source strings evaluated with
// `new Worker(src, { eval: true })`, so they are inside the bundle already; they load koffi by the
// absolute path the main thread resolves, which is dist/node_modules/koffi.
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { buildWeb } from './build-web.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const OUT = join(ROOT, 'dist');

/** Packages left out of the bundle, and why; `ship` ones are copied into dist/node_modules. */
const EXTERNAL = [
  // Native: a prebuilt Node-API binary per platform, found by koffi at run time in the sibling
  // package @koromix/koffi-<os>-<arch> (the package of each appliance platform must be installed
  // there: linux-x64/arm64, freebsd-x64/arm64). Worker threads also require it by its file path.
  { name: 'koffi', ship: ['koffi', ...koromixPackages()] },
  // Native (node-gyp: compiled on this host, for this Node's ABI and platform; coordinator only,
  // appliances have no compiler). Shipped as its JS, the compiled addon and the two small packages
  // that find it (bindings, file-uri-to-path); the build tree and SQLite sources stay behind. A bundle
  // for a coordinator on another Node line or platform must be built there.
  { name: 'better-sqlite3', ship: ['better-sqlite3', 'bindings', 'file-uri-to-path'] },
  // pg's optional native client: pg requires it only when asked for and we never do; not installed.
  { name: 'pg-native', ship: [] },
  // ssh2 (the fleet commands, on the controller): CommonJS that reads __dirname, so shipped as
  // installed with its pure-JS dependencies. Its optional native speed-ups (its build/ tree,
  // cpu-features) stay behind: it requires them inside try/catch and falls back to node:crypto.
  { name: 'ssh2', ship: ['ssh2', 'asn1', 'safer-buffer', 'bcrypt-pbkdf', 'tweetnacl'] },
];

function koromixPackages() {
  const dir = join(ROOT, 'node_modules', '@koromix');
  return existsSync(dir) ? readdirSync(dir).map((d) => `@koromix/${d}`) : [];
}

rmSync(OUT, { recursive: true, force: true });
const result = await build({
  absWorkingDir: ROOT,
  entryPoints: { conegate: 'agent/src/cli/run.ts' },
  outdir: OUT,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL.map((e) => e.name),
  // Bundled CommonJS packages call require() for Node built-ins; ESM output has no require of its own.
  banner: { js: "import { createRequire as __cgRequire } from 'node:module'; const require = __cgRequire(import.meta.url);" },
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
});

/** What of a shipped package runs: all of it, except better-sqlite3's build tree and SQLite sources, and ssh2's native build. */
function runs(pkg, rel) {
  if (pkg === 'ssh2') return !rel.startsWith('lib/protocol/crypto/build');
  if (pkg !== 'better-sqlite3') return true;
  const top = rel.split('/')[0];
  if (top === 'build') return ['build', 'build/Release', 'build/Release/better_sqlite3.node'].includes(rel);
  return top !== 'deps' && top !== 'src';
}

for (const pkg of EXTERNAL.flatMap((e) => e.ship)) {
  const from = join(ROOT, 'node_modules', pkg);
  if (!existsSync(from)) throw new Error(`build: ${pkg} is not installed (run npm ci)`);
  mkdirSync(join(OUT, 'node_modules', pkg, '..'), { recursive: true });
  const filter = (src) => runs(pkg, relative(from, src));
  cpSync(from, join(OUT, 'node_modules', pkg), { recursive: true, dereference: true, filter });
}
writeFileSync(join(OUT, 'meta.json'), JSON.stringify(result.metafile));

const outputs = Object.entries(result.metafile.outputs).filter(([f]) => f.endsWith('.js'));
const total = outputs.reduce((n, [, o]) => n + o.bytes, 0);
process.stderr.write(`build: dist/conegate.js and ${outputs.length - 1} chunks, ${(total / 1024).toFixed(0)} KiB; shipped beside it: ${EXTERNAL.flatMap((e) => e.ship).join(', ')}\n`);
const web = await buildWeb(join(OUT, 'web'));
process.stderr.write(`build: dist/web/ (app.js, app.css, index.html, favicon.svg), ${(web.bytes / 1024).toFixed(0)} KiB\n`);
