/**
 * Running `pfctl` / `nft`: one small interface so tests can put a recording fake first on PATH (or
 * inject a function). Output is collected whole; every run has a timeout so a wedged tool cannot
 * hang an apply.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ConegateError } from '../../errors.ts';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
}

export type CommandRunner = (cmd: string, args: string[], opts?: RunOptions) => Promise<RunResult>;

/** Runs a real command (found on PATH, or env.PATH when given). A missing tool is CG_PEER_MISSING. */
export function processRunner(env: NodeJS.ProcessEnv = process.env): CommandRunner {
  return (cmd, args, opts = {}) =>
    new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(err.code === 'ENOENT' ? new ConegateError('CG_PEER_MISSING', `${cmd} not found on PATH`, { cause: err }) : err);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      });
      child.stdin.on('error', () => {
        // The tool may exit before reading its input; the exit code tells the story.
      });
      child.stdin.end(opts.input ?? '');
    });
}

/** Runs and throws CG_COMMAND_FAILED (or the given code) on a non-zero exit, with the tool's message. */
export async function runOk(run: CommandRunner, cmd: string, args: string[], opts: RunOptions & { code?: 'CG_COMMAND_FAILED' | 'CG_FIREWALL_REJECTED' } = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    const msg = (r.stderr.trim() || r.stdout.trim() || `exit ${r.code}`).split('\n').slice(0, 5).join('; ');
    throw new ConegateError(opts.code ?? 'CG_COMMAND_FAILED', `${cmd} ${args.join(' ')} failed: ${msg}`, { context: { exit: r.code } });
  }
  return r;
}

/** Runs a command and hands its stdout to onLine one line at a time (never as one string). */
export type LineRunner = (cmd: string, args: string[], onLine: (line: string) => void, opts?: { timeoutMs?: number }) => Promise<{ code: number; stderr: string }>;

export function processLineRunner(env: NodeJS.ProcessEnv = process.env): LineRunner {
  return (cmd, args, onLine, opts = {}) =>
    new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
      const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
      lines.on('line', onLine);
      // Only the start of stderr is kept: it is for the error message.
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(0, 4096)));
      child.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(err.code === 'ENOENT' ? new ConegateError('CG_PEER_MISSING', `${cmd} not found on PATH`, { cause: err }) : err);
      });
      let code = 0;
      let exited = false;
      let closed = false;
      const done = () => {
        if (exited && closed) {
          clearTimeout(timer);
          resolve({ code, stderr });
        }
      };
      child.on('exit', (c, signal) => {
        code = c ?? (signal ? 128 : 1);
        exited = true;
        done();
      });
      lines.on('close', () => {
        closed = true;
        done();
      });
    });
}
