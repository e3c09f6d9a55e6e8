/** Running a firewall tool (nft, pfctl) with stdin and a bound on time; injectable for tests. */
import { spawn } from 'node:child_process';
import { ConegateError } from '../errors.ts';

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs argv[0] with argv[1..], writing input to stdin. Never throws for a non-zero exit (the caller decides). */
export type CommandRunner = (argv: string[], input?: string) => Promise<CommandResult>;

/** `installHint`: where the tool comes from, for the message when it is missing. */
export function spawnRunner(timeoutMs = 10_000, installHint = 'Debian: nftables; FreeBSD: pf is in base'): CommandRunner {
  return (argv, input) =>
    new Promise((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          err.code === 'ENOENT'
            ? new ConegateError('CG_PEER_MISSING', `${argv[0]} not found: install it (${installHint})`, { cause: err })
            : new ConegateError('CG_COMMAND_FAILED', `${argv[0]}: ${err.message}`, { cause: err }),
        );
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(input ?? '');
    });
}
