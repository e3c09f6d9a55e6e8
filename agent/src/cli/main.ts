/**
 * The `conegate` CLI. Conventions for every subcommand: `--json` for machine output on stdout,
 * messages on stderr, exit 0 on success, 1 when the operation failed, 2 for bad usage or bad config.
 *
 * Start-up cost: only the invoked top-level command's module is imported (commands/index.ts); the
 * others appear in --help from their name and description alone.
 */
import { Command, CommanderError, Option } from 'commander';
import pkg from '../../../package.json' with { type: 'json' };
import { exitStatusOf, isConegateError } from '../errors.ts';
import { COMMANDS, type CommandEntry } from './commands/index.ts';

function baseProgram(): Command {
  return new Command('conegate')
    .description('router-side NAT traversal: endpoint-independent NAT, NAT-PMP/PCP, IPS checks, WireGuard')
    .version(pkg.version, '-V, --version')
    .addOption(new Option('--log-level <level>', 'log level (overrides config and CONEGATE_LOG_LEVEL)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
}

/**
 * The top-level command that argv invokes (also `help NAME`), skipping the program's own options and
 * their values; undefined for `--help`, `--version`, no command or an unknown one (commander reports it).
 */
export function invokedEntry(program: Command, argv: string[], entries: CommandEntry[] = COMMANDS): CommandEntry | undefined {
  const takesValue = new Set(program.options.filter((o) => o.required || o.optional).flatMap((o) => [o.long, o.short]).filter((f): f is string => !!f));
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return undefined;
    if (arg.startsWith('-')) {
      if (takesValue.has(arg)) i++;
      continue;
    }
    const name = arg === 'help' ? args.slice(i + 1).find((a) => !a.startsWith('-')) : arg;
    return entries.find((e) => e.name === name || e.aliases.includes(name ?? ''));
  }
  return undefined;
}

/**
 * The program with the invoked command loaded and every other command as a name-and-description stub;
 * `loadAll` loads every command (tests that walk the whole command tree, e.g. the conventions check).
 */
export async function buildProgram(argv: string[] = [], options: { loadAll?: boolean } = {}): Promise<Command> {
  const program = baseProgram();
  const invoked = invokedEntry(program, argv);
  // The conventions module pulls in the config loader: imported only when a command is actually loaded.
  const conventions = options.loadAll || invoked ? await import('./conventions.ts') : undefined;
  for (const entry of COMMANDS) {
    if (conventions && (options.loadAll || entry === invoked)) {
      const sub = await entry.load();
      conventions.applyConventions(sub);
      program.addCommand(sub);
    } else {
      program.addCommand(new Command(entry.name).aliases(entry.aliases).description(entry.description));
    }
  }
  if (conventions) program.hook('preAction', conventions.loadAddedConfig);
  return program;
}

/** Runs the CLI and returns the exit status (never throws, never calls process.exit). */
export async function main(argv: string[]): Promise<number> {
  try {
    const program = await buildProgram(argv);
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
