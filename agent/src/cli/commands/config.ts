/** `conegate config validate|show`. */
import { Command } from 'commander';
import { ConegateError } from '../../errors.ts';
import { hostProblems } from '../../config/load.ts';
import { hostFacts } from '../../config/host-facts.ts';
import { lanProblems } from '../../pmpd/setup.ts';
import { globalOptions, printResult, resolveConfig } from '../context.ts';

export function configCommand(): Command {
  const cmd = new Command('config').description('check and show the JSON config file');

  cmd
    .command('validate')
    .description('validate the config file (schema, and interface names against this host)')
    .option('--config <file>', 'config file (default: CONEGATE_CONFIG, then the platform default)')
    .option('--no-host-checks', 'skip checks against this host (e.g. validating a router\'s config elsewhere)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { hostChecks: boolean; json?: boolean }, command: Command) => {
      const { config, path } = await resolveConfig(globalOptions(command));
      const problems = opts.hostChecks ? [...hostProblems(config, await hostFacts()), ...lanProblems(config.pmp.lan, config.pmp.wan)] : [];
      if (problems.length > 0) {
        throw new ConegateError('CG_CONFIG_INVALID', `${path ?? 'config'} is invalid on this host:\n  ${problems.join('\n  ')}`, { context: { problems } });
      }
      printResult(opts.json === true, { valid: true, path: path ?? null }, () => `${path ?? 'default config'}: valid`);
    });

  cmd
    .command('show')
    .description('print the effective config (file merged with defaults) as JSON')
    .option('--config <file>', 'config file (default: CONEGATE_CONFIG, then the platform default)')
    .action(async (_opts: unknown, command: Command) => {
      const { config } = await resolveConfig(globalOptions(command));
      printResult(true, config, () => '');
    });
  return cmd;
}
