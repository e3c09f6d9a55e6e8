/**
 * `conegate fleet exec --inventory F -- SUBCOMMAND...`: `conegate SUBCOMMAND...` on every selected host,
 * each host's exit status and output. Parses and prints only; the logic is in
 * agent/src/fleet/rollout/fleet-exec.ts.
 */
import { Command } from 'commander';
import { ConegateError } from '../../errors.ts';
import { execOk, execText, fleetExec } from '../../fleet/rollout/fleet-exec.ts';
import { printResult } from '../context.ts';
import { remoteSetup, withRemoteOptions, type RemoteFlags } from './fleet-status.ts';

export function fleetExecCommand(): Command {
  return withRemoteOptions(new Command('exec').description('run a conegate subcommand on every host (after --), with each host\'s exit status and output'), 60)
    .argument('<subcommand...>', 'the conegate subcommand and its arguments, after -- (e.g. -- status --json)')
    .action(async (args: string[], f: RemoteFlags) => {
      const { hosts, deps } = await remoteSetup(f, 60);
      const results = await fleetExec(hosts, args, deps);
      const failed = results.filter((r) => !execOk(r));
      printResult(f.json === true, { ok: failed.length === 0, hosts: results }, () => execText(results));
      if (failed.length > 0) throw new ConegateError('CG_COMMAND_FAILED', `conegate ${args[0]} failed on ${failed.length} of ${results.length} hosts: ${failed.map((r) => r.host).join(', ')}`);
    });
}
