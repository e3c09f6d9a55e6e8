/**
 * `conegate fleet rollout`, `fleet resume`: parse, run (agent/src/fleet/rollout/run.ts), print.
 * Progress: one line per host on stderr and a summary on stdout; --json: every rollout event as one
 * JSON line on stdout (the last is run-done). Exit 1 when any host failed or the rollout stopped.
 */
import { Command } from 'commander';
import type { HostResult, RolloutEvent } from '../../fleet/rollout/contract.ts';
import type { Prepared, RolloutFlags } from '../../fleet/rollout/session.ts';
import { integerArg } from '../context.ts';

const collect = (v: string, prev: string[] = []) => [...prev, v];

function hostLine(r: HostResult): string {
  const what = r.action ? ` ${r.action}${r.fromVersion || r.toVersion ? ` ${r.fromVersion ?? '-'} -> ${r.toVersion ?? '-'}` : ''}` : '';
  const why = r.error ? `: ${r.error.code} ${r.error.message}` : '';
  return `${r.host} ${r.outcome}${what} (${(r.durationMs / 1000).toFixed(1)} s)${why}`;
}

function printer(json: boolean, diff: boolean): (e: RolloutEvent) => void {
  if (json) return (e) => process.stdout.write(JSON.stringify(e) + '\n');
  return (e) => {
    if (e.type === 'batch-start') process.stderr.write(`batch ${e.index + 1}: ${e.hosts.join(' ')}\n`);
    else if (e.type === 'host-done') {
      process.stderr.write(hostLine(e.result) + '\n');
      for (const c of e.result.outcome === 'checked' ? e.result.changes : []) process.stderr.write(`  - ${c}\n`);
      if (diff && e.result.configDiff) process.stderr.write(e.result.configDiff.trimEnd() + '\n');
    } else if (e.type === 'batch-done' && e.stop) process.stderr.write(`rollout stopped after batch ${e.index + 1}: ${e.why}\n`);
    else if (e.type === 'run-done') {
      const counts = new Map<string, number>();
      for (const r of e.results) counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
      process.stdout.write(`run ${e.runId}: ${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')}${e.stoppedEarly ? ' (stopped early)' : ''}\n`);
    }
  };
}

async function execute(prepared: Prepared, json: boolean): Promise<void> {
  const { runRollout } = await import('../../fleet/rollout/run.ts');
  const { sshConnector } = await import('../../fleet/ssh-remote.ts');
  const { createHealthGate } = await import('../../fleet/rollout/health.ts');
  const abort = new AbortController();
  // First Ctrl-C: no new host is started; hosts in flight finish their transaction (confirm or revert).
  const onInt = () => { process.stderr.write('interrupted: finishing the hosts in flight, starting no new one\n'); abort.abort(); };
  process.once('SIGINT', onInt);
  try {
    const health = createHealthGate({ ...(prepared.settleSec !== undefined ? { settleMs: prepared.settleSec * 1000 } : {}), ...(prepared.root ? { root: prepared.root } : {}) });
    const res = await runRollout({ ...prepared, connect: sshConnector(), health, onEvent: printer(json, prepared.diff), signal: abort.signal });
    if (!res.ok) process.exitCode = 1;
  } finally {
    process.removeListener('SIGINT', onInt);
  }
}

export function fleetRolloutCommand(): Command {
  return new Command('rollout')
    .description('install or upgrade conegate on the selected hosts over SSH: batches, canary, device-side confirm-or-revert, health gate')
    .requiredOption('--inventory <file>', 'Ansible INI or YAML inventory, or our own JSON/YAML form')
    .option('--limit <pattern>', 'host pattern, as Ansible')
    .option('--forks <n>', 'hosts worked on at once (default 5)', integerArg(1, 10_000))
    .option('--serial <sizes>', 'batch sizes, e.g. 1,10%,100% (a first batch of 1 is the canary)')
    .option('--max-fail-percentage <p>', 'stop when a batch\'s failures exceed P percent of it')
    .option('--check', 'connect and plan only: write nothing on any host')
    .option('--diff', 'show the config changes')
    .option('--package-dir <dir>', 'the packages `npm run package` built (one per platform)')
    .option('--package <platform=file>', 'the package for one platform (repeatable)', collect)
    .option('--config <file>', 'base agent config (JSON) every host starts from; inventory overrides go over it')
    .option('--known-hosts <file>', 'OpenSSH known_hosts to verify host keys (default ~/.ssh/known_hosts); conegate_host_key pins one per host')
    .option('--accept-new', 'record the key of a host not known yet (never a changed key)')
    .option('--revert-after <sec>', 'device-side confirm-or-revert timer (default 120)', integerArg(10, 86_400))
    .option('--settle <sec>', 'health gate: how long to watch the agent after the change (default 30)', integerArg(1, 3600))
    .option('--state <file>', 'run state file (for fleet resume), written after every host')
    .option('--json', 'every rollout event as a JSON line')
    .action(async (flags: RolloutFlags & { json?: boolean }) => {
      const { prepareRollout } = await import('../../fleet/rollout/session.ts');
      const { json, ...rest } = flags;
      await execute(await prepareRollout(rest), json === true);
    });
}

export function fleetResumeCommand(): Command {
  return new Command('resume')
    .description('continue a rollout from its run state file: the hosts not done yet, with the same options and packages')
    .requiredOption('--state <file>', 'the run state file of `fleet rollout --state`')
    .option('--json', 'every rollout event as a JSON line')
    .action(async (flags: { state: string; json?: boolean }) => {
      const { prepareResume } = await import('../../fleet/rollout/session.ts');
      await execute(await prepareResume(flags.state), flags.json === true);
    });
}
