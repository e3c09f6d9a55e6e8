/**
 * Notices address changes as they happen, so a new or changed WAN address is picked up (and
 * announced, RFC 6886 3.2.1 / RFC 6887 8.5) within a second instead of at the next poll: a
 * long-lived `ip -o monitor address` child on Linux (one line per RTM_NEWADDR / RTM_DELADDR),
 * `route -n monitor` on FreeBSD. Each line only says "look again": the server re-reads the WAN
 * address itself, so a missed or partial line costs nothing. The 5 s poll stays as the fallback when
 * the monitor cannot run or dies.
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
    private readonly deps: { log: Logger; spawn?: Spawn },
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
      this.deps.log.warn({ err, cmd }, 'pmpd: cannot watch addresses; polling the WAN address only');
      return;
    }
    this.child = child;
    child.on('error', (err) => this.deps.log.warn({ err, cmd }, 'pmpd: cannot watch addresses; polling the WAN address only'));
    child.on('exit', (code, signal) => {
      this.child = undefined;
      if (!this.stopped) this.deps.log.warn({ cmd, code, signal }, 'pmpd: address monitor ended; polling the WAN address only');
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
