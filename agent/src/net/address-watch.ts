/**
 * Notices address changes as they happen: the NAT-PMP/PCP server picks up a new WAN address (and
 * announces it, RFC 6886 3.2.1 / RFC 6887 8.5) and the mesh node re-reads its endpoints and re-runs STUN
 * (a link change) within a second instead of at the next poll: a
 * long-lived `ip -o monitor address` child on Linux (one line per RTM_NEWADDR / RTM_DELADDR),
 * `route -n monitor` on FreeBSD. Each line only says "look again": the user re-reads the addresses
 * itself, so a missed or partial line costs nothing. Each user keeps its poll as the fallback when the
 * monitor cannot run or dies.
 */
import { spawn as nodeSpawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../log/logger.ts';

export interface AddressWatch {
  /** Starts watching; `onChange` is called (possibly often, possibly spuriously) when addresses may have changed. */
  start(onChange: () => void): void;
  /** Ends the child (by its PID). Idempotent. */
  stop(): void;
}

type Spawn = (cmd: string, args: string[]) => ChildProcess;

/** The monitor command for a platform, or undefined where there is none (polling only). */
export function monitorCommand(platform: NodeJS.Platform = process.platform): [string, string[]] | undefined {
  if (platform === 'linux') return ['ip', ['-o', 'monitor', 'address']];
  if (platform === 'freebsd') return ['route', ['-n', 'monitor']];
  return undefined;
}

export class MonitorWatch implements AddressWatch {
  private child: ChildProcess | undefined;
  private stopped = false;

  constructor(
    /** `what`: who watches, for the log ("pmpd", "mesh"). */
    private readonly deps: { log: Logger; spawn?: Spawn; what?: string },
    /** null: no monitor on this platform, polling only. */
    private readonly command: [string, string[]] | null = monitorCommand() ?? null,
  ) {}

  start(onChange: () => void): void {
    if (this.child || !this.command) return;
    this.stopped = false;
    const [cmd, args] = this.command;
    let child: ChildProcess;
    try {
      child = (this.deps.spawn ?? ((c, a) => nodeSpawn(c, a, { stdio: ['ignore', 'pipe', 'ignore'] })))(cmd, args);
    } catch (err) {
      this.deps.log.warn({ err, cmd }, `${this.deps.what ?? 'pmpd'}: cannot watch addresses; polling only`);
      return;
    }
    this.child = child;
    child.on('error', (err) => this.deps.log.warn({ err, cmd }, 'pmpd: cannot watch addresses; polling the WAN address only'));
    child.on('exit', (code, signal) => {
      this.child = undefined;
      if (!this.stopped) this.deps.log.warn({ cmd, code, signal }, `${this.deps.what ?? 'pmpd'}: address monitor ended; polling only`);
    });
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', () => onChange());
  }

  stop(): void {
    this.stopped = true;
    const pid = this.child?.pid;
    this.child = undefined;
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
  }
}
