/**
 * `conegate fleet rollout`, `fleet resume`, `fleet rollback`: parse, run (agent/src/fleet/rollout/run.ts),
 * print through the progress view (progress.ts: listr2 on a terminal, JSON lines otherwise, then the
 * summary table; --report FILE). Exit 1 when any host failed or the rollout stopped.
 */
import { Command } from 'commander';
import type { HostResult, RolloutEvent } from '../../fleet/rollout/contract.ts';
import type { Prepared, RolloutFlags } from '../../fleet/rollout/session.ts';
import { integerArg } from '../context.ts';

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** --check / --diff: what each host would get (or got), after the progress view is done. */
function changesText(results: readonly HostResult[], check: boolean, diff: boolean): string {
  const parts: string[] = [];
  for (const r of results) {
    const body = [...(check ? r.changes.map((c) => `  - ${c}`) : []), ...(diff && r.configDiff ? [r.configDiff.trimEnd()] : [])];
    if (body.length) parts.push([`${r.host} (${r.platform ?? '?'}): ${r.action ?? r.outcome}`, ...body].join('\n'));
  }
  return parts.length ? parts.join('\n') + '\n' : '';
}

async function execute(prepared: Prepared, json: boolean, reportFile?: string): Promise<void> {
  const { runRollout } = await import('../../fleet/rollout/run.ts');
  const { sshConnector } = await import('../../fleet/ssh-remote.ts');
  const { createHealthGate } = await import('../../fleet/rollout/health.ts');
  const { createProgress } = await import('../../fleet/rollout/progress.ts');
  const abort = new AbortController();
  // First Ctrl-C: no new host is started; hosts in flight finish their transaction (confirm or revert).
  const onInt = () => { process.stderr.write('interrupted: finishing the hosts in flight, starting no new one\n'); abort.abort(); };
  process.once('SIGINT', onInt);
  try {
    const health = createHealthGate({ ...(prepared.settleSec !== undefined ? { settleMs: prepared.settleSec * 1000 } : {}), ...(prepared.root ? { root: prepared.root } : {}) });
    const progress = await createProgress({ tty: process.stdout.isTTY === true && !json, ...(reportFile ? { reportFile } : {}) });
    const res = await runRollout({ ...prepared, connect: sshConnector(), health, onEvent: (e: RolloutEvent) => progress.onEvent(e), signal: abort.signal });
    await progress.close();
    const text = changesText(res.results, prepared.check, prepared.diff);
    if (text) (json ? process.stderr : process.stdout).write(text);
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
    .option('--report <file>', 'the JSON report of the run (0600)')
    .option('--json', 'every rollout event as a JSON line (also when stdout is not a terminal)')
    .action(async (flags: RolloutFlags & { json?: boolean; report?: string }) => {
      const { prepareRollout } = await import('../../fleet/rollout/session.ts');
      const { json, report, ...rest } = flags;
      await execute(await prepareRollout(rest), json === true, report);
    });
}

export function fleetResumeCommand(): Command {
  return new Command('resume')
    .description('continue a rollout from its run state file: the hosts not done yet, with the same options and packages')
    .requiredOption('--state <file>', 'the run state file of `fleet rollout --state`')
    .option('--report <file>', 'the JSON report of the run (0600)')
    .option('--json', 'every rollout event as a JSON line')
    .action(async (flags: { state: string; json?: boolean; report?: string }) => {
      const { prepareResume } = await import('../../fleet/rollout/session.ts');
      await execute(await prepareResume(flags.state), flags.json === true, flags.report);
    });
}

export function fleetRollbackCommand(): Command {
  return new Command('rollback')
    .description('put the hosts a rollout changed back on the package they came from (the config stays; fresh installs are not removed)')
    .requiredOption('--state <file>', 'the run state file of the `fleet rollout --state` to undo')
    .option('--package-dir <dir>', 'the previous packages (one per platform)')
    .option('--package <platform=file>', 'the previous package for one platform (repeatable)', collect)
    .option('--revert-after <sec>', 'device-side confirm-or-revert timer (default 120)', integerArg(10, 86_400))
    .option('--settle <sec>', 'health gate settle time (default 30)', integerArg(1, 3600))
    .option('--report <file>', 'the JSON report of the run (0600)')
    .option('--json', 'every rollout event as a JSON line')
    .action(async (flags: { state: string; json?: boolean; report?: string; packageDir?: string; package?: string[]; revertAfter?: number; settle?: number }) => {
      const { prepareRollback } = await import('../../fleet/rollout/session.ts');
      const { state, json, report, ...rest } = flags;
      const plan = await prepareRollback(state, rest);
      for (const l of plan.left) process.stderr.write(`${l.host}: not rolled back: ${l.why}\n`);
      if (plan.prepared.hosts.length === 0) {
        process.stderr.write('nothing to roll back\n');
        if (plan.left.length) process.exitCode = 1;
        return;
      }
      await execute(plan.prepared, json === true, report);
      if (plan.left.length) process.exitCode = 1;
    });
}
