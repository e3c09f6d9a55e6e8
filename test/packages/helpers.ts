/** Shared by the package tests: run php/python/xmllint, list a plugin tree, stand-in runtimes. */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { requirePeers } from '../lab/require-peers.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program; never throws for a non-zero exit (the result says it). */
export async function runTool(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<RunResult> {
  try {
    const r = await run(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string };
    if (err.code === 'ENOENT') throw new Error(`${cmd} is missing`);
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

export function requirePhp(): void {
  requirePeers({ php: 'php-cli' });
}

/** Runs PHP code (no <?php) with an include_path; returns stdout, throws on a PHP failure. */
export async function php(code: string, includePath: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  requirePhp();
  const r = await runTool('php', ['-d', `include_path=${['.', ...includePath].join(':')}`, '-d', 'display_errors=stderr', '-r', code], { env });
  if (r.code !== 0) throw new Error(`php failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Every file under dir (relative paths, sorted), following no symlinks. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else out.push(relative(dir, full));
    }
  }
  await walk(dir);
  return out.sort();
}

const made: string[] = [];
// Every temporary tree a test made goes when the test file's process ends, whatever the outcome.
process.on('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

export async function tempDir(tag: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `cg-${tag}-`));
  made.push(dir);
  return dir;
}

/** The text inside <script type="application/json" id="conegate-transport">...</script>. */
export function transportJson(html: string): string {
  const m = /<script type="application\/json" id="conegate-transport">([^<]*)<\/script>/.exec(html);
  if (!m) throw new Error(`no transport block in: ${html.slice(0, 300)}`);
  return m[1]!;
}

/**
 * Stand-ins for what `npm run package` fetches or builds: the agent bundle, the front-end bundle,
 * koffi's platform package and the Node runtime (a shell script printing a version), so the tests
 * never download anything.
 */
export async function standIns(dir: string, koffiName: string): Promise<{ bundle: string; web: string; koffi: string; koffiNative: string; node: string }> {
  const put = async (path: string, text: string, mode = 0o644) => {
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, text);
    await chmod(path, mode);
  };
  await put(join(dir, 'bundle/conegate.js'), 'import "./chunks/main-AB12.js";\n');
  await put(join(dir, 'bundle/chunks/main-AB12.js'), 'export {};\n');
  await put(join(dir, 'bundle/meta.json'), '{}');
  await put(join(dir, 'bundle/node_modules/better-sqlite3/index.js'), '// coordinator only, never shipped to appliances\n');
  await put(join(dir, 'web/app.js'), 'console.log("page");\n');
  await put(join(dir, 'web/app.css'), 'body{}\n');
  await put(join(dir, 'web/index.html'), '<!--conegate-transport-->\n');
  await put(join(dir, 'koffi/package.json'), '{"name":"koffi","version":"3.3.4"}');
  await put(join(dir, 'koffi/index.js'), 'module.exports = {};\n');
  await put(join(dir, 'koffi-native/package.json'), JSON.stringify({ name: koffiName, version: '3.3.4' }));
  await put(join(dir, 'koffi-native/build/koffi.node'), 'not really a binary\n');
  await put(join(dir, 'node/bin/node'), '#!/bin/sh\necho v24.22.3\n', 0o755);
  await put(join(dir, 'node/LICENSE'), 'Node.js license\n');
  await put(join(dir, 'node/include/node/node.h'), '/* not shipped */\n');
  return { bundle: join(dir, 'bundle'), web: join(dir, 'web'), koffi: join(dir, 'koffi'), koffiNative: join(dir, 'koffi-native'), node: join(dir, 'node') };
}

export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/**
 * Validates a rendered agent config with the agent's own schema (agent/src/config). The FreeBSD appliance
 * templates (`pageOff`) must write `web: {enabled: false}`: no TCP listener for the GUI on OPNsense and
 * pfSense, whose pages reach the agent through its control socket.
 */
export async function validateAgentConfig(config: Record<string, unknown>, opts: { pageOff?: boolean } = {}): Promise<void> {
  const { validateConfig } = await import('../../agent/src/config/load.ts');
  if (opts.pageOff && JSON.stringify(config.web) !== '{"enabled":false}') throw new Error(`web: ${JSON.stringify(config.web)} (want {"enabled":false})`);
  validateConfig(config, 'rendered config');
}

/** Renders an OPNsense configd template (Jinja2, as configd does) with a config.xml tree. */
export async function renderOpnsenseTemplate(name: string, data: unknown): Promise<string> {
  requirePeers({ python3: 'python3' });
  const dir = join(ROOT, 'opnsense-plugin/src/opnsense/service/templates/OPNsense/Conegate');
  const r = await runTool('python3', [join(ROOT, 'test/packages/render-opnsense-template.py'), dir, name, JSON.stringify(data)]);
  if (/No module named 'jinja2'/.test(r.stderr)) throw new Error('python3 has no jinja2: apt-get install -y --no-install-recommends python3-jinja2');
  if (r.code !== 0) throw new Error(`template ${name}: ${r.stderr}`);
  return r.stdout;
}
