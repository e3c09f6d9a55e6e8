/**
 * Processes inside lab namespaces: one-shot commands with a timeout (`execIn`) and long-running
 * processes with output capture (`spawnIn`). Every process is started through `ip netns exec`, which
 * execs the command in place, so the PID we get is the command's own PID; it is appended to
 * `$CONEGATE_LAB_RUNDIR/pids` (when set) so the test runner can prove nothing outlived the run, and it
 * is only ever ended by that PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConegateError } from '../../agent/src/errors.ts';

/** Result of a finished command. `code` is null when it was killed by a signal (e.g. on timeout). */
export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface ExecOptions {
  /** Kill the command (SIGKILL, by PID) after this long. @default 10000 */
  timeoutMs?: number;
  /** Bytes written to stdin, then stdin is closed. */
  input?: string;
  /** Throw CG_COMMAND_FAILED when the exit code is not 0 (or the command timed out). @default false */
  check?: boolean;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Working directory. @default the repository root */
  cwd?: string;
}

export interface SpawnOptions {
  /** Shown in the pid file and in errors. @default the command line */
  description?: string;
  env?: Record<string, string>;
  cwd?: string;
  /** Upper bound for stop(): SIGTERM, then SIGKILL after this long. @default 2000 */
  stopTimeoutMs?: number;
  /** Keep at most this many bytes of each output stream (the oldest are dropped). @default 1048576 */
  maxOutputBytes?: number;
}

/** A process running in a lab namespace. */
export interface LabProcess {
  readonly pid: number;
  readonly node: string;
  readonly description: string;
  /** Everything written to stdout / stderr so far (bounded by maxOutputBytes). */
  readonly stdout: string;
  readonly stderr: string;
  /** Whether the process has exited. */
  readonly exited: boolean;
  /** Resolves when the process exits (never rejects). */
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until stdout (or stderr) matches; rejects with CG_TIMEOUT (showing the output) or if the process exits first. */
  waitForOutput(pattern: RegExp, timeoutMs: number, stream?: 'stdout' | 'stderr'): Promise<RegExpMatchArray>;
  /** Writes to the process's stdin. */
  write(data: string): void;
  /** SIGTERM by PID, SIGKILL after stopTimeoutMs; resolves once it has exited. Idempotent. */
  stop(): Promise<void>;
}

/** The repository root (cwd of lab processes, so `--import tsx` resolves). */
export const REPO_ROOT = new URL('../../', import.meta.url).pathname;

/** Appends "PID description" to the run's pid file when CONEGATE_LAB_RUNDIR is set. */
export function recordPid(pid: number, description: string): void {
  const dir = process.env.CONEGATE_LAB_RUNDIR;
  if (!dir) return;
  try {
    appendFileSync(join(dir, 'pids'), `${pid} ${description.replace(/\s+/g, ' ').slice(0, 200)}\n`);
  } catch {
    // A missing run directory must not break the lab; the runner reports what it can.
  }
}

function startIn(netns: string | null, argv: string[], env: Record<string, string> | undefined, cwd: string | undefined, stdin: 'pipe' | 'ignore'): ChildProcess {
  if (argv.length === 0) throw new ConegateError('CG_USAGE', 'lab: empty command');
  const full = netns === null ? argv : ['ip', 'netns', 'exec', netns, ...argv];
  return spawn(full[0]!, full.slice(1), { cwd: cwd ?? REPO_ROOT, env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'] });
}

function killPid(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** Runs a command in a namespace (null: the current one) to completion, bounded by timeoutMs. */
export function execIn(netns: string | null, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const child = startIn(netns, argv, opts.env, opts.cwd, opts.input === undefined ? 'ignore' : 'pipe');
    if (child.pid !== undefined) recordPid(child.pid, `${netns ?? '-'} ${argv.join(' ')}`);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      killPid(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new ConegateError('CG_PEER_MISSING', `lab: cannot run ${argv[0]}: ${err.message} (is iproute2 installed? run scripts/setup.sh)`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code, signal, stdout, stderr, timedOut };
      if (opts.check && (code !== 0 || timedOut)) {
        const why = timedOut ? `timed out after ${timeoutMs} ms` : `exited with ${code ?? signal}`;
        reject(new ConegateError(timedOut ? 'CG_TIMEOUT' : 'CG_COMMAND_FAILED', `lab: ${netns ?? 'host'}: ${argv.join(' ')} ${why}: ${stderr.trim().slice(0, 2000)}`, { context: { netns, argv, code, stderr, stdout } }));
        return;
      }
      resolve(result);
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** Starts a long-running process in a namespace. */
export function spawnIn(netns: string, node: string, argv: string[], opts: SpawnOptions = {}): LabProcess {
  const description = opts.description ?? argv.join(' ');
  const maxBytes = opts.maxOutputBytes ?? 1 << 20;
  const child = startIn(netns, argv, opts.env, opts.cwd, 'pipe');
  if (child.pid === undefined) {
    throw new ConegateError('CG_PEER_MISSING', `lab: cannot start ${argv[0]} in ${node} (is iproute2 installed?)`);
  }
  const pid = child.pid;
  recordPid(pid, `${netns} ${description}`);
  const out = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  let exited = false;
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  const append = (which: 'stdout' | 'stderr') => (d: string) => {
    const next = out[which] + d;
    out[which] = next.length > maxBytes ? next.slice(next.length - maxBytes) : next;
    wake();
  };
  child.stdout!.setEncoding('utf8').on('data', append('stdout'));
  child.stderr!.setEncoding('utf8').on('data', append('stderr'));
  child.stdin!.on('error', () => {
    // The process may exit before reading its stdin; that is not our failure.
  });
  child.on('error', () => {
    // 'close' follows; errors surface through `done` and waitForOutput.
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      exited = true;
      resolve({ code, signal });
      wake();
    });
  });
  let stopping: Promise<void> | undefined;
  const handle: LabProcess = {
    pid,
    node,
    description,
    get stdout() {
      return out.stdout;
    },
    get stderr() {
      return out.stderr;
    },
    get exited() {
      return exited;
    },
    done,
    waitForOutput(pattern, timeoutMs, stream) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const text = stream === 'stderr' ? out.stderr : stream === 'stdout' ? out.stdout : `${out.stdout}\n${out.stderr}`;
          const m = text.match(pattern);
          if (m) return finish(() => resolve(m));
          if (exited) return finish(() => reject(new ConegateError('CG_COMMAND_FAILED', `lab: ${node}: "${description}" exited before printing ${pattern}; stdout: ${out.stdout.slice(-1000)} stderr: ${out.stderr.slice(-1000)}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new ConegateError('CG_TIMEOUT', `lab: ${node}: "${description}" did not print ${pattern} within ${timeoutMs} ms; stdout: ${out.stdout.slice(-1000)} stderr: ${out.stderr.slice(-1000)}`))), timeoutMs);
        const finish = (fn: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          fn();
        };
        waiters.add(check);
        check();
      });
    },
    write(data) {
      if (!exited) child.stdin!.write(data);
    },
    stop() {
      stopping ??= (async () => {
        if (exited) return;
        killPid(pid, 'SIGTERM');
        const timer = setTimeout(() => killPid(pid, 'SIGKILL'), opts.stopTimeoutMs ?? 2000);
        await done;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
  return handle;
}
