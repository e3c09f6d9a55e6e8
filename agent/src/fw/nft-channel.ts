/**
 * One long-lived `nft -i` process that firewall changes are written to, instead of a spawn per change
 * (a spawn plus a ruleset parse costs milliseconds; a line to a running nft costs one netlink batch).
 *
 * Framing (checked against nftables 1.0.6): in interactive mode nft runs each input LINE as one
 * libnftables buffer, i.e. ONE netlink transaction: `cmd; cmd; cmd` on a line lands whole or not at
 * all. With stdin not a terminal it prints no prompt, and it reports nothing on success. So after each
 * batch we write a sentinel line `cgsync<N>`, which nft refuses as a syntax error, echoing the line on
 * stderr. Errors of the batch and the sentinel's error travel on the same stream in order, so
 * whatever stderr carries before the sentinel's echo is the batch's error, and its absence is success.
 * A batch that does not finish within `batchTimeoutMs` kills the process (its outcome is unknown to
 * the caller, which must read the kernel back); a dead process is started again on the next batch.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Socket } from 'node:net';
import { ConegateError } from '../errors.ts';

/** What the nftables backend needs from a channel; tests inject failing ones. */
export interface NftBatchRunner {
  /** Runs one single-line batch as one transaction; rejects with nft's message when refused. */
  run(batch: string): Promise<void>;
  close(): Promise<void>;
}

export interface NftChannelOptions {
  /** argv of an interactive nft, e.g. ['nft', '-i'] or ['ip', 'netns', 'exec', NS, 'nft', '-i']. */
  argv: string[];
  /** @default 10000 */
  batchTimeoutMs?: number;
}

interface Waiter {
  child: ChildProcessWithoutNullStreams;
  token: string;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class NftChannel implements NftBatchRunner {
  private child: ChildProcessWithoutNullStreams | undefined;
  private waiter: Waiter | undefined;
  private stderr = '';
  private seq = 0;
  private chain: Promise<unknown> = Promise.resolve();
  /** How many nft processes were started (a restart after a death counts). */
  starts = 0;

  constructor(private readonly options: NftChannelOptions) {}

  /** The pid of the running nft, if any (tests kill it to prove the restart). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  run(batch: string): Promise<void> {
    if (/[\r\n]/.test(batch)) return Promise.reject(new ConegateError('CG_INTERNAL', 'an nft batch must be one line (one line is one transaction)'));
    const p = this.chain.then(() => this.once(batch));
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Ends nft by closing its input; kills it if it has not gone within a second. Idempotent. */
  async close(): Promise<void> {
    await this.chain;
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    // Held (ref) until it has exited: an unref'd child would let the event loop end before its 'exit'.
    child.ref();
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.stdin.end();
    });
  }

  private once(batch: string): Promise<void> {
    const child = this.ensure();
    const token = `cgsync${++this.seq}`;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settle(child, new ConegateError('CG_TIMEOUT', `nft did not finish a batch within ${this.options.batchTimeoutMs ?? 10_000} ms; restarting it`));
        if (this.child === child) this.child = undefined;
        child.kill('SIGKILL');
      }, this.options.batchTimeoutMs ?? 10_000);
      this.waiter = { child, token, resolve, reject, timer };
      child.stdin.write(`${batch}\n${token}\n`);
      this.scan();
    });
  }

  private ensure(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const [cmd, ...args] = this.options.argv;
    const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.starts++;
    this.stderr = '';
    child.stdout.on('data', () => undefined); // nft -i prints nothing for our commands; keep the pipe drained
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      this.stderr += d;
      this.scan();
    });
    child.stdin.on('error', () => undefined); // a dead nft is reported by 'exit'
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (this.child === child) this.child = undefined;
      this.settle(
        child,
        err.code === 'ENOENT'
          ? new ConegateError('CG_PEER_MISSING', `${cmd} not found: install it (Debian: nftables)`, { cause: err })
          : new ConegateError('CG_COMMAND_FAILED', `${cmd}: ${err.message}`, { cause: err }),
      );
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      this.settle(child, new ConegateError('CG_COMMAND_FAILED', `nft exited (${signal ?? code}) during a batch; whether it landed is unknown`));
    });
    // A waiting batch holds a timer, which keeps the event loop alive; an idle nft must not.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as Socket).unref?.();
    this.child = child;
    return child;
  }

  /** Settles the waiting batch once its sentinel's echo has arrived. */
  private scan(): void {
    const w = this.waiter;
    if (!w) return;
    const lines = this.stderr.split('\n');
    const at = lines.indexOf(w.token);
    // The sentinel's report is three lines: "Error: syntax error…", the echo, a caret line.
    if (at < 0 || lines.length < at + 3) return;
    const start = at > 0 && lines[at - 1]!.startsWith('Error:') ? at - 1 : at;
    const report = lines.slice(0, start).join('\n').trim();
    this.stderr = lines.slice(at + 2).join('\n');
    this.settle(w.child, report ? new ConegateError('CG_FIREWALL_REJECTED', `nft refused the change (nothing applied): ${report}`) : undefined);
  }

  /** Settles the waiting batch, if it was written to this child (a late 'exit' of an old one is not its concern). */
  private settle(child: ChildProcessWithoutNullStreams, err: Error | undefined): void {
    const w = this.waiter;
    if (!w || w.child !== child) return;
    this.waiter = undefined;
    clearTimeout(w.timer);
    if (err) w.reject(err);
    else w.resolve();
  }
}
