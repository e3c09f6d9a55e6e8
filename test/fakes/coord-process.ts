/**
 * `conegate coord serve` as a real child process (for CLI, crash and replica tests and the bench):
 * started with --json, ready when its JSON (listen address and fingerprint) is on stdout; ended by PID.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { recordPid } from '../lab/proc.ts';

export const CONEGATE_BIN = fileURLToPath(new URL('../../bin/conegate.js', import.meta.url));

export interface CoordProcess {
  child: ChildProcess;
  pid: number;
  host: string;
  port: number;
  fingerprint: string;
  adminSocket: string;
  exited: Promise<number | null>;
  stderr: () => string;
  /** Signal by PID and wait for the exit (bounded). */
  kill(signal: NodeJS.Signals): Promise<void>;
}

export async function startCoordProcess(args: { db: string; adminSocket: string; listen?: string; extra?: string[]; env?: NodeJS.ProcessEnv }): Promise<CoordProcess> {
  const argv = [CONEGATE_BIN, '--log-level', 'warn', 'coord', 'serve', '--listen', args.listen ?? '127.0.0.1:0', '--db', args.db, '--self-signed', '--admin-socket', args.adminSocket, '--json', ...(args.extra ?? [])];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CONEGATE_CONFIG: '', ...args.env } });
  recordPid(child.pid!, 'conegate coord serve');
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const info = await new Promise<{ listen: string; fingerprint: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coord serve did not start within 60 s: ${err}`)), 60_000);
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      try {
        const parsed = JSON.parse(out) as { listen: string; fingerprint: string };
        clearTimeout(timer);
        resolve(parsed);
      } catch {
        // not the whole document yet
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`coord serve exited (${code}) before it was ready: ${err}`));
    });
  });
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(info.listen)!;
  return {
    child,
    pid: child.pid!,
    host: m[1]!,
    port: Number(m[2]),
    fingerprint: info.fingerprint,
    adminSocket: args.adminSocket,
    exited,
    stderr: () => err,
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(child.pid!, signal);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    },
  };
}

/** Runs the conegate CLI once: exit status, stdout, stderr. */
export function runCli(args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CONEGATE_BIN, ...args], { env: { ...process.env, CONEGATE_CONFIG: '' }, timeout: timeoutMs }, (e, stdout, stderr) => {
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr });
    });
  });
}
