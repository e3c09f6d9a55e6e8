/**
 * `conegate pmp`: the NAT-PMP/PCP server for LAN clients.
 *   serve  foreground server (stops cleanly on SIGINT/SIGTERM, keeping table and epoch in the state file)
 *   list   the mappings in the state file and in the firewall
 *   flush  remove every rule this server made from the firewall (a running server notices and announces)
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Command, Option } from 'commander';
import { realClock } from '../../clock/clock.ts';
import { ConegateError, isConegateError } from '../../errors.ts';
import type { Config } from '../../config/types.ts';
import { controlRequest } from '../../service/control-client.ts';
import { controlSocketOf } from '../../service/paths.ts';
import type { PortMapping } from '../../fw/backend.ts';
import { readState } from '../../pmpd/state.ts';
import { PmpServer } from '../../pmpd/server.ts';
import { defaultStateFile, makeBackend, policyFromConfig, resolveLan, wanSource } from '../../pmpd/setup.ts';
import { globalOptions, integerArg, loggerFor, printResult, resolveConfig } from '../context.ts';

interface CommonOpts {
  backend?: string;
  state?: string;
  wan?: string;
  json?: boolean;
}

const backendOption = () => new Option('--backend <name>', 'firewall backend').choices(['auto', 'nftables', 'pf', 'memory']);
const CONFIG_HELP = 'config file (default: CONEGATE_CONFIG, then the platform default)';
const collect = (v: string, prev: string[] = []) => [...prev, v];

interface LiveMapping {
  via: string;
  transport: string;
  client: string;
  internalAddress: string;
  internalPort: number;
  externalPort: number;
  remainingSec: number;
}

/** Mappings from the running agent; undefined when no agent runs or it has no NAT-PMP/PCP server. */
async function agentMappings(config: Config): Promise<{ source: 'agent'; control: string; mappings: LiveMapping[] } | undefined> {
  const control = controlSocketOf(config);
  try {
    const r = (await controlRequest(control, 'pmp-list')) as { mappings: LiveMapping[] };
    return { source: 'agent', control, mappings: r.mappings };
  } catch (err) {
    if (isConegateError(err) && (err.code === 'CG_NOT_RUNNING' || err.code === 'CG_UNSUPPORTED')) return undefined;
    throw err;
  }
}

export function pmpCommand(): Command {
  const cmd = new Command('pmp').description('NAT-PMP (RFC 6886) and PCP (RFC 6887) server for LAN clients');

  cmd
    .command('serve')
    .description('serve NAT-PMP and PCP on the LAN (foreground)')
    .option('--config <file>', CONFIG_HELP)
    .option('--lan <IF|ADDR>', 'LAN interface or address to listen on (repeatable; default pmp.lan)', collect)
    .option('--wan <IF|ADDR>', 'WAN interface or public IPv4 address (default pmp.wan)')
    .addOption(backendOption())
    .option('--state <file>', 'state file for mappings and epoch (default pmp.stateFile)')
    .addOption(new Option('--port <n>', 'server port (tests and benchmarks)').default(5351).argParser(integerArg(0, 65535)).hideHelp())
    .addOption(new Option('--backend-check-ms <ms>', 'how often the firewall is read back to notice a flush').default(30_000).argParser(integerArg(100, 86_400_000)).hideHelp())
    .addOption(new Option('--wan-check-ms <ms>', 'how often the WAN address is polled besides the address monitor').default(5000).argParser(integerArg(100, 86_400_000)).hideHelp())
    .action(async (opts: CommonOpts & { lan?: string[]; port: number; backendCheckMs: number; wanCheckMs: number }, c: Command) => {
      const g = globalOptions(c);
      const { config } = await resolveConfig(g);
      const log = loggerFor(g, config);
      const wanSpec = opts.wan ?? config.pmp.wan;
      const lan = resolveLan(opts.lan ?? config.pmp.lan, undefined, { wan: wanSpec, field: opts.lan ? '--lan' : 'pmp.lan' });
      const wan = wanSource(wanSpec);
      const stateFile = opts.state ?? defaultStateFile(config);
      await mkdir(dirname(stateFile), { recursive: true, mode: 0o700 });
      const backend = makeBackend(opts.backend ?? config.pmp.backend, wanSpec === undefined ? {} : { wanIf: wanSpec });
      const server = new PmpServer({ lan, port: opts.port, stateFile, backendCheckMs: opts.backendCheckMs, wanCheckMs: opts.wanCheckMs, policy: policyFromConfig(config, lan) }, { clock: realClock, log, backend, wan });
      await server.start();
      await new Promise<void>((resolve) => {
        const done = () => resolve();
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
      });
      await server.stop();
      await backend.close?.();
      log.info({ stats: server.core.stats, counts: Object.fromEntries(server.core.tally.totals) }, 'pmpd: stopped');
    });

  cmd
    .command('list')
    .description('list mappings: from the state file and as installed in the firewall')
    .option('--config <file>', CONFIG_HELP)
    .addOption(backendOption())
    .option('--state <file>', 'state file (default pmp.stateFile)')
    .option('--wan <IF>', 'WAN interface the backend matches on (pf/nftables)')
    .option('--json', 'machine-readable output')
    .action(async (opts: CommonOpts, c: Command) => {
      const { config } = await resolveConfig(globalOptions(c));
      // The running agent (`conegate up` with pmp.enabled) knows its table best; the state file is the
      // fallback when it does not run, and what --state explicitly asks for.
      if (opts.state === undefined) {
        const live = await agentMappings(config);
        if (live) {
          printResult(opts.json === true, live, () => [`agent (${live.control}): ${live.mappings.length} mapping(s)`, ...live.mappings.map((m) => `  ${m.via} ${m.transport} :${m.externalPort} -> ${m.internalAddress}:${m.internalPort} ${m.remainingSec}s left (client ${m.client})`)].join('\n'));
          return;
        }
      }
      const stateFile = opts.state ?? defaultStateFile(config);
      const state = await readState(stateFile);
      const backendName = opts.backend ?? config.pmp.backend;
      const installed: PortMapping[] | null = backendName === 'memory' ? null : await makeBackend(backendName, opts.wan ? { wanIf: opts.wan } : {}).list();
      const result = {
        stateFile,
        state: state ? { clean: state.clean, epochSec: state.epochSec, savedAt: new Date(state.savedAtWallMs).toISOString(), externalAddress: state.externalAddress ?? null, mappings: state.mappings } : null,
        firewall: installed,
      };
      printResult(opts.json === true, result, () => {
        const lines = [`state: ${stateFile}${state ? ` (epoch ${state.epochSec}s, ${state.clean ? 'stopped cleanly' : 'running or crashed'})` : ' (none)'}`];
        for (const m of state?.mappings ?? []) lines.push(`  ${m.via} ${m.transport} ${state?.externalAddress ?? '?'}:${m.externalPort} -> ${m.internalAddress}:${m.internalPort}${m.remote ? ` from ${m.remote.address}/${m.remote.prefixLength}:${m.remote.port}` : ''} ${m.remainingSec}s left (client ${m.client})`);
        if (installed) {
          lines.push(`firewall (${backendName}): ${installed.length} rule(s)`);
          for (const m of installed) lines.push(`  ${m.transport} ${m.externalAddress}:${m.externalPort} -> ${m.internalAddress}:${m.internalPort}${m.remote ? ` from ${m.remote.address}/${m.remote.prefixLength}:${m.remote.port}` : ''}`);
        }
        return lines.join('\n');
      });
    });

  cmd
    .command('flush')
    .description('remove every mapping rule this server made from the firewall')
    .option('--config <file>', CONFIG_HELP)
    .addOption(backendOption())
    .option('--wan <IF>', 'WAN interface the backend matches on (pf/nftables)')
    .option('--json', 'machine-readable output')
    .action(async (opts: CommonOpts, c: Command) => {
      const { config } = await resolveConfig(globalOptions(c));
      const backend = makeBackend(opts.backend ?? config.pmp.backend, opts.wan ? { wanIf: opts.wan } : {});
      const before = await backend.list();
      try {
        await backend.flush();
      } finally {
        await backend.close?.();
      }
      printResult(opts.json === true, { backend: backend.name, removed: before.length }, () => `removed ${before.length} mapping rule(s) from ${backend.name}`);
    });

  return cmd;
}
