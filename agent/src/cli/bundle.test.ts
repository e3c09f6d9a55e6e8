/** The bundle as shipped: what `conegate --help` loads, the missing-bundle message, no files in TMPDIR. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONEGATE_BIN, REPO_ROOT, runConegate } from '../../../test/conegate.ts';

interface Meta {
  outputs: Record<string, { imports: { path: string; kind: string; external?: boolean }[]; inputs: Record<string, unknown> }>;
}

/** Every source file in the chunks that dist/conegate.js loads before running anything (static imports). */
function staticClosure(meta: Meta, entry: string): string[] {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const out = todo.pop()!;
    if (seen.has(out)) continue;
    seen.add(out);
    for (const i of meta.outputs[out]?.imports ?? []) if (i.kind === 'import-statement' && !i.external) todo.push(i.path);
  }
  return [...seen].flatMap((o) => Object.keys(meta.outputs[o]?.inputs ?? {}));
}

test('the entry chunk loads only the CLI shell: no command module, no config, logger or protocol code', () => {
  const meta = JSON.parse(readFileSync(join(REPO_ROOT, 'dist/meta.json'), 'utf8')) as Meta;
  const inputs = staticClosure(meta, 'dist/conegate.js');
  const ours = inputs.filter((f) => !f.includes('node_modules/')).sort();
  assert.deepEqual(ours, ['agent/src/cli/commands/index.ts', 'agent/src/cli/main.ts', 'agent/src/cli/run.ts', 'agent/src/errors.ts', 'package.json']);
  const packages = new Set(inputs.filter((f) => f.includes('node_modules/')).map((f) => f.replace(/^.*node_modules\//, '').split('/')[0]));
  assert.deepEqual([...packages], ['commander']);
});

test('every command module is a chunk of its own, loaded by import()', () => {
  const meta = JSON.parse(readFileSync(join(REPO_ROOT, 'dist/meta.json'), 'utf8')) as Meta;
  const dynamic = meta.outputs['dist/conegate.js']!.imports.filter((i) => i.kind === 'dynamic-import').map((i) => i.path);
  for (const area of ['config', 'platform', 'netcheck', 'pf', 'pmp', 'portmap', 'stun', 'ips', 'wg']) {
    assert.ok(dynamic.some((p) => p.startsWith(`dist/chunks/${area}-`)), `no chunk for commands/${area}.ts`);
  }
});

test('without the bundle, bin/conegate.js says to run npm run build and exits 1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-nobundle-'));
  try {
    mkdirSync(join(dir, 'bin'));
    copyFileSync(CONEGATE_BIN, join(dir, 'bin/conegate.js'));
    const r = spawnSync(process.execPath, [join(dir, 'bin/conegate.js'), '--help'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, CONEGATE_DEV: '' } });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /dist\/conegate\.js is missing: run npm run build/);
    assert.equal(r.stdout, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CONEGATE_DEV=1 runs the sources through tsx, with no bundle at all', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-dev-'));
  try {
    mkdirSync(join(dir, 'bin'));
    copyFileSync(CONEGATE_BIN, join(dir, 'bin/conegate.js'));
    for (const f of ['agent', 'node_modules', 'package.json']) symlinkSync(join(REPO_ROOT, f), join(dir, f));
    const r = spawnSync(process.execPath, [join(dir, 'bin/conegate.js'), '--version'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, CONEGATE_DEV: '1' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('running commands writes nothing to TMPDIR (no compile cache at run time)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-tmpdir-'));
  try {
    for (const args of [['--help'], ['keygen'], ['config', 'show']]) {
      const r = await runConegate(args, { env: { TMPDIR: dir, CONEGATE_CONFIG: '' } });
      assert.equal(r.code, 0, r.stderr);
    }
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('koffi ships beside the bundle and loads in an eval worker the way the TUN and UDP workers load it', async () => {
  const { createRequire } = await import('node:module');
  const { Worker } = await import('node:worker_threads');
  const path = createRequire(join(REPO_ROOT, 'dist/chunks/x.js')).resolve('koffi');
  assert.ok(path.startsWith(join(REPO_ROOT, 'dist/node_modules/koffi/')), path);
  const src = "const { parentPort, workerData } = require('node:worker_threads'); const k = require(workerData); parentPort.postMessage(typeof k.load);";
  const worker = new Worker(src, { eval: true, workerData: path });
  const [kind] = (await new Promise((resolve, reject) => {
    worker.once('message', (m) => resolve([m]));
    worker.once('error', reject);
  })) as [string];
  await worker.terminate();
  assert.equal(kind, 'function');
});

test('better-sqlite3 ships as its JS and compiled addon, without its build tree and SQLite sources', async () => {
  const { createRequire } = await import('node:module');
  const dir = join(REPO_ROOT, 'dist/node_modules/better-sqlite3');
  assert.ok(createRequire(join(REPO_ROOT, 'dist/chunks/x.js')).resolve('better-sqlite3').startsWith(`${dir}/`));
  assert.deepEqual(readdirSync(join(dir, 'build'), { recursive: true }).sort(), ['Release', 'Release/better_sqlite3.node']);
  assert.ok(!readdirSync(dir).includes('deps') && !readdirSync(dir).includes('src'));
  for (const helper of ['bindings', 'file-uri-to-path']) assert.ok(readdirSync(join(REPO_ROOT, 'dist/node_modules', helper)).includes('package.json'), helper);
});

test('dist/ alone is the program: copied away from the repository it runs with plain node', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-shipped-'));
  try {
    cpSync(join(REPO_ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
    const run = (args: string[]) => spawnSync(process.execPath, [join(dir, 'dist/conegate.js'), ...args], { cwd: dir, encoding: 'utf8', timeout: 30_000, env: { ...process.env, CONEGATE_CONFIG: '' } });
    const version = run(['--version']);
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    const platform = run(['platform', '--root', join(REPO_ROOT, 'test/fixtures/platform/opnsense'), '--json']);
    assert.equal(platform.status, 0, platform.stderr);
    assert.equal(JSON.parse(platform.stdout).kind, 'opnsense');
    const script = "const { createRequire } = require('node:module'); process.stdout.write(createRequire(process.argv[1]).resolve('koffi'))";
    const koffi = spawnSync(process.execPath, ['-e', script, join(dir, 'dist/chunks/x.js')], { encoding: 'utf8' });
    assert.ok(koffi.stdout.startsWith(join(dir, 'dist/node_modules/koffi/')), koffi.stdout + koffi.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
