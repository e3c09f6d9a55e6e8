/**
 * The in-memory twin of RemoteHost: no network, the same contract. Commands run as sshd runs them
 * (`SHELL -c CMD`, no TTY, stdin piped) with the local /bin/sh in a fake root directory (cwd, and
 * $CONEGATE_ROOT for scripts that prefix their paths); uploads go through the same ssh-upload.ts as
 * the ssh2 edge. For the planner's and the rollout's tests; one compliance suite
 * (remote-host-compliance.ts) runs against this and against real sshd.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { ConegateError } from '../errors.ts';
import { uploadVia, type StdinSource } from './ssh-upload.ts';
import type { ExecOptions, ExecResult, RemoteHost } from './types.ts';

export interface LocalRemoteHostOptions {
  /** The fake device's root directory: cwd of every command. */
  root: string;
  /** The "login shell" that parses each command line. @default '/bin/sh' */
  shell?: string;
  commandTimeoutMs?: number;
}

export class LocalRemoteHost implements RemoteHost {
  private closed = false;
  private readonly running = new Set<number>();

  constructor(private readonly o: LocalRemoteHostOptions) {}

  exec(cmd: string, opts?: ExecOptions): Promise<ExecResult> {
    if (/[\r\n]/.test(cmd)) return Promise.reject(new ConegateError('CG_INPUT_INVALID', 'a remote command must be one line (send scripts to /bin/sh -s on stdin)'));
    return this.run(cmd, opts?.stdin, opts?.timeoutMs ?? this.o.commandTimeoutMs ?? 60_000);
  }

  upload(local: Buffer | string, remotePath: string, mode: number): Promise<void> {
    return uploadVia((c, s, t) => this.run(c, s, t), local, remotePath, mode, { timeoutMs: 600_000, randomHex: () => randomBytes(8).toString('hex') });
  }

  private run(cmd: string, stdin: StdinSource | undefined, timeoutMs: number): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new ConegateError('CG_CONNECTION_LOST', 'twin host: closed'));
    return new Promise((resolve, reject) => {
      // detached: its own process group, so a timeout ends the command and its children by PID.
      const p = spawn(this.o.shell ?? '/bin/sh', ['-c', cmd], { cwd: this.o.root, detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, CONEGATE_ROOT: this.o.root } });
      const pid = p.pid!;
      this.running.add(pid);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      p.stdout.on('data', (c: Buffer) => out.push(c));
      p.stderr.on('data', (c: Buffer) => err.push(c));
      p.stdin.on('error', () => {}); // a command that does not read its stdin closes the pipe early
      let timedOut = false;
      const t = setTimeout(() => {
        timedOut = true;
        try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
      }, timeoutMs);
      p.on('error', (e) => { clearTimeout(t); reject(new ConegateError('CG_COMMAND_FAILED', `twin host: ${e.message}`)); });
      p.on('close', (code, signal) => {
        clearTimeout(t);
        this.running.delete(pid);
        if (timedOut) return reject(new ConegateError('CG_TIMEOUT', `command did not finish within ${timeoutMs} ms: ${cmd.slice(0, 80)}`));
        const n = signal ? (osConstants.signals as Record<string, number>)[signal] ?? 0 : 0;
        resolve({ code: code ?? 128 + n, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
      if (stdin === undefined) p.stdin.end();
      else if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) p.stdin.end(stdin);
      else {
        stdin.on('error', (e) => { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } reject(e); });
        stdin.pipe(p.stdin);
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const pid of this.running) {
      try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
}
