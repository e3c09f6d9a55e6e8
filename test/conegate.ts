/**
 * How every test (and bench) runs the `conegate` command: `node bin/conegate.js`, i.e. the esbuild
 * bundle in dist/, which is what ships (scripts/run-tests.mjs builds it before the tests run). Tests
 * that call `main()` in-process test the sources; everything that spawns the CLI goes through here.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
export const CONEGATE_BIN = join(REPO_ROOT, 'bin/conegate.js');
export const CONEGATE_BUNDLE = join(REPO_ROOT, 'dist/conegate.js');

export interface CliResult {
  /** Exit status; -1 when the process was ended by a signal (e.g. the timeout). */
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Added to this process's environment (CONEGATE_DEV is always removed: the bundle runs). */
  env?: Record<string, string>;
  input?: string;
  cwd?: string;
  timeoutMs?: number;
}

function requireBundle(): void {
  if (!existsSync(CONEGATE_BUNDLE)) throw new Error(`${CONEGATE_BUNDLE} is missing: run npm run build (scripts/run-tests.mjs does it first)`);
}

/** argv that runs `conegate ARGS` with this Node (and NODE_ARGS, e.g. --cpu-prof), for spawn and the lab's exec/spawn. */
export function conegateArgv(args: string[], nodeArgs: string[] = []): string[] {
  requireBundle();
  return [process.execPath, ...nodeArgs, CONEGATE_BIN, ...args];
}

export function conegateEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.CONEGATE_DEV;
  return env;
}

/** Runs `conegate ARGS` to completion (default timeout 30 s). */
export function runConegate(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const [node, ...rest] = conegateArgv(args);
  const child = spawn(node!, rest, { cwd: opts.cwd ?? REPO_ROOT, env: conegateEnv(opts.env), stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 30_000 });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  if (opts.input !== undefined) child.stdin?.end(opts.input);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The synchronous form, for tests that feed stdin and need nothing else to run meanwhile. */
export function runConegateSync(args: string[], opts: CliOptions = {}): CliResult {
  const [node, ...rest] = conegateArgv(args);
  const r = spawnSync(node!, rest, { cwd: opts.cwd ?? REPO_ROOT, env: conegateEnv(opts.env), input: opts.input, encoding: 'utf8', timeout: opts.timeoutMs ?? 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
