/**
 * `conegate pf ...` (alias `conegate nat ...`): endpoint-independent NAT for PF appliances and, with
 * `--backend nftables`, Linux routers and UniFi gateways.
 *   generate   print the anchor/table text (nothing changes)
 *   diff       compare it with what conegate has in force
 *   apply      validate, load atomically, then confirm-or-revert within nat.confirmSec
 *   confirm    confirm a waiting apply          revert   roll back (one step, then empty)
 *   status     rules in force and, for PF, the UDP mappings from `pfctl -ss`
 *   dynamic    run the per-socket pinning loop (PF without endpoint-independent)
 */
import { Command, Option } from 'commander';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { ConegateError } from '../../errors.ts';
import { realClock } from '../../clock/clock.ts';
import { detectPlatform } from '../../platform/detect.ts';
import { globalOptions, loggerFor, printResult, resolveConfig } from '../context.ts';
import type { Config } from '../../config/types.ts';
import { NatApplier } from '../../fw/nat/applier.ts';
import { processLineRunner, processRunner, type CommandRunner } from '../../fw/nat/runner.ts';
import { backendFor, chooseBackend, defaultStateDir, generateFor, targetFor, type Generated, type NatCliOptions } from '../../fw/nat/session.ts';
import { DynamicPinner } from '../../fw/nat/dynamic.ts';
import { parseWatchdogJob, runWatchdog, spawnWatchdog, type WatchdogJob } from '../../fw/nat/watchdog.ts';
import { outboundUdpNat, parsePfStates } from '../../../../pf-rules/src/dynamic/states.ts';
import { parsePortText } from '../../../../pf-rules/src/hosts.ts';

interface Opts extends NatCliOptions {
  json?: boolean;
  confirmSec?: string;
  healthCmd?: string;
}

const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);

function common(cmd: Command, input = true): Command {
  cmd
    .addOption(new Option('--backend <kind>', 'pf (FreeBSD, OPNsense, pfSense) or nftables (Linux, UniFi); default from nat.backend and the platform').choices(['pf', 'nftables']))
    .option('--state-dir <dir>', 'where applied rules and the rollback copy are kept')
    .option('--json', 'machine-readable output');
  if (input) {
    cmd
      .addOption(new Option('--platform <name>', 'what the --config-xml file is from').choices(['opnsense', 'pfsense', 'freebsd']))
      .option('--config-xml <file>', 'read the router from an OPNsense/pfSense config.xml')
      .option('--pf-conf <file>', 'read the router from a plain pf.conf')
      .addOption(new Option('--mode <mode>', 'override nat.mode').choices(['auto', 'endpoint-independent', 'static-port', 'dynamic']))
      .option('--wan <list>', 'override nat.wan (comma-separated names or interfaces)', list)
      .option('--sources <list>', 'override nat.scope.sources (CIDRs)', list)
      .option('--ports <list>', 'override nat.scope.ports', list)
      .option('--appliance-version <v>', 'appliance/FreeBSD version for the capability gate when generating off the box')
      .option('--wan-address <ip>', 'nftables: translate to this address instead of masquerading')
      .option('--root <dir>', 'read platform files under this directory instead of /');
  }
  return cmd;
}

async function context(cmd: Command, opts: Opts) {
  const g = globalOptions(cmd);
  const { config } = await resolveConfig(g);
  const log = loggerFor(g, config);
  const run = processRunner();
  return { config, log, run };
}

async function stateDirOf(config: Config, opts: Opts): Promise<string> {
  return join(opts.stateDir ?? config.stateDir ?? defaultStateDir((await detectPlatform('/')).kind), 'nat');
}

async function applierFor(config: Config, opts: Opts, run: CommandRunner, gen?: Generated): Promise<NatApplier> {
  const kind = gen?.backend ?? (await chooseBackend(config.nat, opts, () => detectPlatform('/')));
  const detected = gen?.platform ?? opts.platform ?? (await detectPlatform('/')).kind;
  const platform = detected === 'opnsense' || detected === 'pfsense' || detected === 'freebsd' ? detected : undefined;
  const target = gen?.target ?? targetFor(kind, platform);
  // The watchdog is this same program (bin/conegate.js or the bundle), so it runs wherever we run.
  const entry = process.argv[1];
  return new NatApplier({ backend: backendFor(kind, target, run, platform), stateDir: await stateDirOf(config, opts), clock: realClock, ...(entry ? { startWatchdog: (job: WatchdogJob) => spawnWatchdog(job, entry) } : {}) });
}

function warn(gen: Generated): void {
  for (const w of gen.warnings) process.stderr.write(`conegate: warning: ${w}\n`);
}

/** Lines only in a (-) and only in b (+), in order; enough to review an anchor change. */
export function lineDiff(a: string, b: string): { removed: string[]; added: string[] } {
  const rules = (t: string) => t.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
  const ra = rules(a);
  const rb = rules(b);
  return { removed: ra.filter((l) => !rb.includes(l)), added: rb.filter((l) => !ra.includes(l)) };
}

export function pfCommand(): Command {
  const pf = new Command('pf').alias('nat').description('endpoint-independent NAT: generate, diff, apply (confirm or revert), status');

  common(pf.command('generate').description('print the rules for our anchor (PF) or table (nftables); changes nothing')).action(async (opts: Opts, cmd: Command) => {
    const { config, run } = await context(cmd, opts);
    const gen = await generateFor(config.nat, opts, run);
    warn(gen);
    printResult(opts.json === true, { backend: gen.backend, target: gen.target, mode: gen.mode, platform: gen.platform, capability: gen.capability, rules: gen.rules, warnings: gen.warnings, text: gen.text }, () => gen.text);
  });

  common(pf.command('diff').description('compare the generated rules with what conegate has in force')).action(async (opts: Opts, cmd: Command) => {
    const { config, run } = await context(cmd, opts);
    const gen = await generateFor(config.nat, opts, run);
    const applier = await applierFor(config, opts, run, gen);
    const d = lineDiff(await applier.current(), gen.text);
    printResult(opts.json === true, { target: gen.target, same: d.added.length + d.removed.length === 0, ...d }, () =>
      d.added.length + d.removed.length === 0 ? `${gen.target}: no change` : [...d.removed.map((l) => `- ${l}`), ...d.added.map((l) => `+ ${l}`)].join('\n'),
    );
  });

  common(pf.command('apply').description('validate, load atomically, then roll back unless confirmed within the grace period'))
    .option('--confirm-sec <n>', 'grace period in seconds (default nat.confirmSec; 0 = no wait)')
    .option('--health-cmd <cmd>', 'shell command whose exit 0 confirms (default nat.healthCommand)')
    .action(async (opts: Opts, cmd: Command) => {
      const { config, run, log } = await context(cmd, opts);
      const gen = await generateFor(config.nat, opts, run);
      warn(gen);
      const confirmSec = opts.confirmSec === undefined ? config.nat.confirmSec : Number(opts.confirmSec);
      if (!Number.isInteger(confirmSec) || confirmSec < 0 || confirmSec > 3600) throw new ConegateError('CG_USAGE', `--confirm-sec ${opts.confirmSec}: give whole seconds 0-3600`);
      const health = opts.healthCmd ?? config.nat.healthCommand;
      const applier = await applierFor(config, opts, run, gen);
      // Losing the session (SSH drop) during the grace period must roll back, not leave rules unconfirmed.
      const onSignal = () => void applier.requestRevert();
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
      if (confirmSec > 0) process.stderr.write(`conegate: rules loaded into ${gen.target} once valid; ${health ? 'waiting for the health check' : 'run "conegate pf confirm"'} within ${confirmSec} s or they are rolled back\n`);
      try {
        const r = await applier.apply(gen.text, {
          confirmMs: confirmSec * 1000,
          pollMs: 1000,
          ...(health ? { healthCheck: async () => (await run('sh', ['-c', health], { timeoutMs: 30_000 })).code === 0 } : {}),
        });
        log.info({ target: gen.target, outcome: r.outcome }, 'nat apply finished');
        printResult(opts.json === true, { target: gen.target, mode: gen.mode, ...r }, () => `${gen.target}: ${r.outcome} (${r.reason})`);
        if (r.outcome === 'rolled-back') throw new ConegateError('CG_FIREWALL_ROLLED_BACK', `${gen.target}: rolled back: ${r.reason}`);
      } finally {
        for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
      }
    });

  common(pf.command('confirm').description('confirm the apply that is waiting (keeps the new rules)'), false)
    .addOption(new Option('--platform <name>').choices(['opnsense', 'pfsense', 'freebsd']).hideHelp())
    .action(async (opts: Opts, cmd: Command) => {
      const { config, run } = await context(cmd, opts);
      const id = await (await applierFor(config, opts, run)).confirm();
      printResult(opts.json === true, { confirmed: id }, () => `confirmed apply ${id}`);
    });

  common(pf.command('revert').description('roll back: a waiting apply at once, else one step back (a second revert empties our rules)'), false)
    .addOption(new Option('--platform <name>').choices(['opnsense', 'pfsense', 'freebsd']).hideHelp())
    .action(async (opts: Opts, cmd: Command) => {
      const { config, run } = await context(cmd, opts);
      const applier = await applierFor(config, opts, run);
      await applier.recoverStale();
      const r = await applier.revert();
      printResult(opts.json === true, r, () => `${r.outcome}: ${r.reason}`);
    });

  // Started by apply, detached; not for people (hidden from --help).
  pf.command('watchdog', { hidden: true })
    .description('roll back a pending apply at its deadline unless confirmed')
    .requiredOption('--job <json>', 'the apply to guard')
    .action(async (opts: { job: string }) => {
      const job = parseWatchdogJob(opts.job);
      const applier = new NatApplier({ backend: backendFor(job.kind, job.target, processRunner()), stateDir: job.stateDir, clock: realClock });
      const r = await runWatchdog(applier, job, { clock: realClock, wallMs: Date.now });
      if (r) process.stderr.write(`conegate: ${job.target}: ${r.outcome} (${r.reason})\n`);
    });

  common(pf.command('status').description('rules in force and the UDP mappings (PF: from pfctl -ss)'), false)
    .addOption(new Option('--platform <name>').choices(['opnsense', 'pfsense', 'freebsd']).hideHelp())
    .action(async (opts: Opts, cmd: Command) => {
      const { config, run } = await context(cmd, opts);
      const applier = await applierFor(config, opts, run);
      const recovered = await applier.recoverStale();
      const backend = applier.backend;
      const kernel = await backend.show().catch((e: unknown) => `(cannot read: ${e instanceof Error ? e.message : String(e)})`);
      let mappings: { internal: string; external: string; peer: string; state: string }[] = [];
      if (backend.kind === 'pf') {
        const ss = await run('pfctl', ['-ss']).catch(() => undefined);
        if (ss?.code === 0) mappings = outboundUdpNat(parsePfStates(ss.stdout).states).map((s) => ({ internal: `${s.stack!.addr}:${s.stack!.port}`, external: `${s.wire.addr}:${s.wire.port}`, peer: `${s.peer.addr}:${s.peer.port}`, state: s.state }));
      }
      const pending = await applier.pending();
      const value = { target: backend.target, inForce: await applier.current(), kernel, pending: pending ?? null, recovered: recovered ?? null, mappings };
      printResult(opts.json === true, value, () =>
        [`${backend.target}${pending ? ` (apply ${pending.id} waiting for confirmation until ${new Date(pending.deadlineWallMs).toISOString()}${pending.watchdogPid ? `; watchdog PID ${pending.watchdogPid} rolls back then` : ''})` : ''}`, kernel.trim() || '(no rules loaded)', ...(mappings.length ? ['UDP mappings (internal -> external -> peer):', ...mappings.map((m) => `  ${m.internal} -> ${m.external} -> ${m.peer} ${m.state}`)] : [])].join('\n'),
      );
    });

  common(pf.command('dynamic').description('PF without endpoint-independent: pin each UDP socket to one external port until stopped')).action(async (opts: Opts, cmd: Command) => {
    const { config, run, log } = await context(cmd, opts);
    const gen = await generateFor(config.nat, { ...opts, mode: 'dynamic' }, run);
    if (gen.backend !== 'pf' || !gen.model) throw new ConegateError('CG_USAGE', 'the dynamic mode is for PF; nftables maps endpoint-independently by itself');
    const wans = gen.model.wans.filter((w) => gen.policy.wan.length === 0 ? w.hasGateway : gen.policy.wan.includes(w.name) || gen.policy.wan.includes(w.ifname));
    const ports = gen.policy.scope.ports.map((p) => parsePortText(p)!).filter(Boolean);
    const applier = await applierFor(config, opts, run, gen);
    const pinner = new DynamicPinner(
      { baseText: gen.text, scope: { sources: gen.policy.scope.sources, ...(ports.length ? { ports } : {}) }, wans: wans.map((w) => ({ ifname: w.ifname, addresses: [...(w.ipv4 ? [w.ipv4] : []), ...w.vips] })), pollMs: config.nat.pollSec * 1000, graceMs: config.nat.graceSec * 1000 },
      { clock: realClock, lines: processLineRunner(), applier, randomInt: (n) => randomInt(n), log },
    );
    pinner.start();
    process.stderr.write(`conegate: pinning UDP sockets in ${gen.target} every ${config.nat.pollSec} s; Ctrl-C stops and removes the pins\n`);
    await new Promise<void>((resolve) => {
      const stop = () => void pinner.stop({ clearPins: true }).then(resolve, (err: unknown) => {
        log.warn({ err }, 'could not remove the pins; run conegate pf revert');
        resolve();
      });
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  });

  return pf;
}
