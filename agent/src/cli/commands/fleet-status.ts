/**
 * `conegate fleet status` (and the SSH options `fleet exec` shares): every selected host's version,
 * health, peers, direct share and paths. This file only parses and prints; the logic is in
 * agent/src/fleet/rollout/fleet-status.ts.
 */
import { Command } from 'commander';
import { ConegateError } from '../../errors.ts';
import { DEFAULT_FORKS } from '../../fleet/batches.ts';
import { loadInventory } from '../../fleet/load.ts';
import { fleetStatus, statusTable, type FleetRemoteDeps } from '../../fleet/rollout/fleet-status.ts';
import { trustFor } from '../../fleet/rollout/session.ts';
import { sshConnector } from '../../fleet/ssh-remote.ts';
import type { FleetHost } from '../../fleet/types.ts';
import { select } from '../../fleet/view.ts';
import { integerArg, printResult } from '../context.ts';

export interface RemoteFlags {
  inventory: string;
  limit?: string;
  forks?: number;
  knownHosts?: string;
  acceptNew?: boolean;
  timeout?: number;
  json?: boolean;
}

/** The options every fleet command that talks to hosts takes. */
export function withRemoteOptions(cmd: Command, timeoutSec: number): Command {
  return cmd
    .requiredOption('--inventory <file>', 'Ansible INI or YAML inventory, or our own JSON/YAML form; group_vars/ and host_vars/ beside it are read')
    .option('--limit <pattern>', 'host pattern, as Ansible: names, groups, globs, ~regex, a:b, a:&b, a:!b')
    .option('--forks <n>', `hosts worked on at once (default ${DEFAULT_FORKS})`, integerArg(1, 10_000))
    .option('--known-hosts <file>', 'OpenSSH known_hosts to verify host keys (default ~/.ssh/known_hosts); conegate_host_key pins one per host')
    .option('--accept-new', 'accept and record the key of a host not known yet (a changed key is always refused)')
    .option('--timeout <sec>', `per command on a host, and for the connection (at most 15 s) (default ${timeoutSec})`, integerArg(1, 3600))
    .option('--json', 'machine-readable output');
}

/** The selected hosts (inventory order) and how to reach them, host keys always verified. */
export async function remoteSetup(f: RemoteFlags, timeoutSec: number): Promise<{ hosts: FleetHost[]; deps: FleetRemoteDeps }> {
  const inv = await loadInventory(f.inventory);
  const sel = select(inv.model, inv.hosts, f.limit);
  for (const t of sel.unmatched) process.stderr.write(`warning: host pattern '${t}' matched nothing\n`);
  if (sel.hosts.length === 0) throw new ConegateError('CG_USAGE', f.limit !== undefined ? `--limit '${f.limit}' matched no host of ${f.inventory}` : `${f.inventory} has no hosts`);
  const timeoutMs = (f.timeout ?? timeoutSec) * 1000;
  return {
    hosts: sel.hosts,
    deps: { connect: sshConnector({ commandTimeoutMs: timeoutMs, connectTimeoutMs: Math.min(15_000, timeoutMs) }), trust: trustFor({ ...(f.knownHosts !== undefined ? { knownHosts: f.knownHosts } : {}), ...(f.acceptNew ? { acceptNew: true } : {}) }), forks: f.forks ?? DEFAULT_FORKS, timeoutMs },
  };
}

export function fleetStatusCommand(): Command {
  return withRemoteOptions(new Command('status').description('every host\'s conegate version, health, mesh peers, direct share and paths (exit 1 when any host is unreachable or unhealthy)'), 20).action(async (f: RemoteFlags) => {
    const { hosts, deps } = await remoteSetup(f, 20);
    const rows = await fleetStatus(hosts, deps);
    const bad = rows.filter((r) => !r.health.ok);
    printResult(f.json === true, { ok: bad.length === 0, hosts: rows }, () => statusTable(rows));
    if (bad.length > 0) throw new ConegateError('CG_COMMAND_FAILED', `${bad.length} of ${rows.length} hosts unreachable or unhealthy: ${bad.map((r) => r.host).join(', ')}`);
  });
}
