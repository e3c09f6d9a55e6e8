/**
 * `conegate fleet inventory` and `conegate fleet plan`: read an inventory (Ansible INI/YAML or our own
 * form), select hosts with --limit, print the inventory or the rollout batches. No SSH yet. This file
 * only parses and prints; the logic is in agent/src/fleet.
 */
import { Command } from 'commander';
import { ConegateError } from '../../errors.ts';
import { DEFAULT_FORKS, parseMaxFailPercentage, parseSerial } from '../../fleet/batches.ts';
import { loadInventory } from '../../fleet/load.ts';
import { inventoryGraph, inventoryList, planText, planView, select, type Selection } from '../../fleet/view.ts';
import { integerArg, printResult } from '../context.ts';
import { fleetExecCommand } from './fleet-exec.ts';
import { fleetResumeCommand, fleetRollbackCommand, fleetRolloutCommand } from './fleet-rollout.ts';
import { fleetStatusCommand } from './fleet-status.ts';

interface Common {
  inventory: string;
  limit?: string;
  json?: boolean;
}

async function selected(opts: Common): Promise<{ sel: Selection; inv: Awaited<ReturnType<typeof loadInventory>> }> {
  const inv = await loadInventory(opts.inventory);
  const sel = select(inv.model, inv.hosts, opts.limit);
  for (const t of sel.unmatched) process.stderr.write(`warning: host pattern '${t}' matched nothing\n`);
  if (opts.limit !== undefined && sel.hosts.length === 0) throw new ConegateError('CG_USAGE', `--limit '${opts.limit}' matched no host of ${opts.inventory}`);
  return { sel, inv };
}

export function fleetCommand(): Command {
  const cmd = new Command('fleet').description('fleet rollout over SSH: inventories (Ansible INI/YAML or our own form), host selection and rollout batches');
  cmd
    .command('inventory')
    .description('show the hosts, groups and variables an inventory resolves to, like ansible-inventory')
    .requiredOption('--inventory <file>', 'Ansible INI or YAML inventory, or our own JSON/YAML form; group_vars/ and host_vars/ beside it are read')
    .option('--limit <pattern>', 'host pattern, as Ansible: names, groups, globs, ~regex, a:b, a:&b, a:!b')
    .option('--list', 'every group and host variable (the default)')
    .option('--graph', 'the group tree')
    .option('--json', 'machine-readable output (with --graph: the --list document)')
    .action(async (opts: Common & { list?: boolean; graph?: boolean }) => {
      if (opts.list && opts.graph) throw new ConegateError('CG_USAGE', '--list and --graph are exclusive');
      const { sel, inv } = await selected(opts);
      const list = inventoryList(inv.model, sel.hosts);
      if (opts.graph && !opts.json) process.stdout.write(inventoryGraph(inv.model, sel.hosts) + '\n');
      else printResult(true, list, () => '');
    });
  cmd
    .command('plan')
    .description('print the rollout batches for an inventory (no SSH): canary, sizes, forks and when a batch stops the rollout')
    .requiredOption('--inventory <file>', 'Ansible INI or YAML inventory, or our own JSON/YAML form')
    .option('--limit <pattern>', 'host pattern, as Ansible')
    .option('--serial <sizes>', 'batch sizes, e.g. 1,10%,100% (the last repeats; % of the selected hosts, rounded down, at least 1)')
    .option('--forks <n>', `hosts worked on at once (default ${DEFAULT_FORKS})`, integerArg(1, 10_000))
    .option('--max-fail-percentage <p>', 'stop when a batch\'s failures exceed P percent of it')
    .option('--json', 'machine-readable output')
    .action(async (opts: Common & { serial?: string; forks?: number; maxFailPercentage?: string }) => {
      const policy = {
        serial: parseSerial(opts.serial ?? ''),
        forks: opts.forks ?? DEFAULT_FORKS,
        ...(opts.maxFailPercentage === undefined ? {} : { maxFailPercentage: parseMaxFailPercentage(opts.maxFailPercentage) }),
      };
      const { sel } = await selected(opts);
      const view = planView(sel, policy);
      printResult(opts.json === true, view, () => planText(view));
    });
  cmd.addCommand(fleetRolloutCommand());
  cmd.addCommand(fleetResumeCommand());
  cmd.addCommand(fleetRollbackCommand());
  cmd.addCommand(fleetStatusCommand());
  cmd.addCommand(fleetExecCommand());
  return cmd;
}
