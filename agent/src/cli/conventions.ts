/**
 * What every command shares, applied in one place so a new command cannot miss it. Kept apart from
 * main.ts because it imports the config loader, which `conegate --help` must not load.
 */
import { Option, type Command } from 'commander';
import { loadConfigFile } from '../config/load.ts';
import { integerArg } from './context.ts';

const CONFIG_HELP = 'config file (default: CONEGATE_CONFIG, then the platform default)';
/** Placeholders that name a whole number: such an option is never read with Number() ('' is not 0). */
const NUMERIC_PLACEHOLDER = /<(n|ms|s|sec|port|bytes|count)>$/;
/** Commands given --config here rather than by their own file: it is loaded (validated) before they run. */
const addedConfig = new WeakSet<Command>();

/**
 * What every command shares, applied in one place so a new command cannot miss it: exitOverride (a
 * usage error anywhere becomes a CommanderError we map to 2), `--config` on every command (the
 * service and the GUI call each one the same way; a bad file is exit 2 everywhere), and one strict
 * integer parser for every numeric option that has no parser of its own.
 */
export function applyConventions(cmd: Command): void {
  cmd.exitOverride();
  cmd.showHelpAfterError('(run with --help for usage)');
  if (cmd.commands.length === 0) {
    if (!cmd.options.some((o) => o.long === '--config')) {
      cmd.option('--config <file>', CONFIG_HELP);
      addedConfig.add(cmd);
    }
    for (const o of cmd.options) {
      if (NUMERIC_PLACEHOLDER.test(o.flags) && !(o as Option & { parseArg?: unknown }).parseArg) o.argParser(integerArg(0, 2 ** 31 - 1));
    }
  }
  for (const sub of cmd.commands) applyConventions(sub);
}

/** preAction hook: a command given --config here has its file loaded (validated) before it runs. */
export async function loadAddedConfig(_program: Command, action: Command): Promise<void> {
  const file = action.opts<{ config?: string }>().config;
  if (addedConfig.has(action) && file !== undefined) await loadConfigFile(file);
}
