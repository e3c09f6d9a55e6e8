/**
 * The `conegate` CLI. Conventions for every subcommand: `--json` for machine output on stdout,
 * messages on stderr, exit 0 on success, 1 when the operation failed, 2 for bad usage or bad config.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { exitStatusOf, isConegateError } from '../errors.ts';
import { COMMANDS } from './commands/index.ts';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('conegate')
    .description('router-side NAT traversal: endpoint-independent NAT, NAT-PMP/PCP, IPS checks, WireGuard')
    .version(pkg.version, '-V, --version')
    .addOption(new Option('--log-level <level>', 'log level (overrides config and CONEGATE_LOG_LEVEL)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const make of COMMANDS) {
    const sub = make();
    applyConventions(sub);
    program.addCommand(sub);
  }
  return program;
}

/** Subcommands inherit exitOverride so a usage error anywhere becomes a CommanderError we can map. */
function applyConventions(cmd: Command): void {
  cmd.exitOverride();
  cmd.showHelpAfterError('(run with --help for usage)');
  for (const sub of cmd.commands) applyConventions(sub);
}

/** Runs the CLI and returns the exit status (never throws, never calls process.exit). */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version "errors" are successful exits; everything else commander raises is bad usage.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2;
    }
    if (isConegateError(err)) {
      process.stderr.write(`conegate: ${err.message}\n`);
      return exitStatusOf(err);
    }
    process.stderr.write(`conegate: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
