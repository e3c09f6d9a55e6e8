/**
 * `conegate ips check|probe|responder`.
 *
 * Exit status, for scripts:
 *   check:     0 = every IPS file was read and nothing blocks our traffic (alert-only findings allowed);
 *              1 = something blocks or may block, or some file could not be read (the answer is then
 *                  not proven: `complete: false` in --json); 2 = bad usage (e.g. --root is no directory).
 *   probe:     0 = every kind passed; 1 = some kind was blocked, or no conegate responder answered.
 *   responder: 0 after --duration or a signal; 1 if it cannot listen.
 */
import { randomInt } from 'node:crypto';
import { Command } from 'commander';
import { ConegateError } from '../../errors.ts';
import { parseHostPort } from '../../net/ip.ts';
import { realClock } from '../../clock/clock.ts';
import { checkIps } from '../../ips/check.ts';
import { formatReport, formatProbe } from '../../ips/format.ts';
import { runProbe } from '../../ips/probe/prober.ts';
import { createResponder } from '../../ips/probe/responder.ts';
import { globalOptions, integerArg, loggerFor, printResult, resolveConfig } from '../context.ts';

const DEFAULT_PROBE_PORT = 41641;

function portList(v: string, prev: number[] | undefined): number[] {
  const n = integerArg(1, 65535)(v);
  return [...(prev ?? []), n];
}

export function ipsCommand(): Command {
  const cmd = new Command('ips').description('find IPS/IDS rules that block peer-to-peer traffic, and test the path');

  cmd
    .command('check')
    .description('read this appliance\'s IPS configuration (or a copied tree) and report rules that hit our traffic, with fixes')
    .option('--root <dir>', 'check a copied file tree instead of this host (default: config ips.root, "/")')
    .option('--mesh-port <port>', 'UDP mesh port (repeatable; default: config ips.meshPorts)', portList)
    .option('--relay-port <port>', 'relay TCP port (repeatable; default: config ips.relayPorts)', portList)
    .option('--config <file>', 'config file (default: CONEGATE_CONFIG, then the platform default)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { root?: string; meshPort?: number[]; relayPort?: number[]; json?: boolean }, command: Command) => {
      const { config } = await resolveConfig(globalOptions(command));
      const report = await checkIps({
        root: opts.root ?? config.ips.root,
        meshPorts: opts.meshPort ?? config.ips.meshPorts,
        relayPorts: opts.relayPort ?? config.ips.relayPorts,
      });
      printResult(opts.json === true, report, () => formatReport(report));
      if (report.blocking || !report.complete) process.exitCode = 1;
    });

  cmd
    .command('probe')
    .description('send STUN, WireGuard-shaped and relay-like traffic to a conegate responder and report what was dropped')
    .requiredOption('--peer <host[:port]>', `the conegate responder (default port ${DEFAULT_PROBE_PORT})`)
    .option('--attempts <n>', 'packets per kind (1..20)', integerArg(1, 20), 3)
    .option('--interval <ms>', 'gap between packets (10..5000 ms)', integerArg(10, 5000), 200)
    .option('--timeout <ms>', 'wait after the last packet (50..30000 ms)', integerArg(50, 30000), 2000)
    .option('--json', 'machine-readable output')
    .action(async (opts: { peer: string; attempts: number; interval: number; timeout: number; json?: boolean }) => {
      const hp = parseHostPort(opts.peer) ?? (/^[^:\s]+$/.test(opts.peer) || /^[0-9a-fA-F:]+$/.test(opts.peer) ? { host: opts.peer.replace(/^\[|\]$/g, ''), port: DEFAULT_PROBE_PORT } : undefined);
      if (!hp) throw new ConegateError('CG_USAGE', `--peer ${opts.peer}: expected HOST, HOST:PORT or [V6]:PORT`);
      const report = await runProbe({ host: hp.host, port: hp.port, attempts: opts.attempts, intervalMs: opts.interval, timeoutMs: opts.timeout }, { clock: realClock, randomU32: () => randomInt(0, 2 ** 32 - 1) });
      printResult(opts.json === true, report, () => formatProbe(report));
      if (report.blocked.length > 0) process.exitCode = 1;
    });

  cmd
    .command('responder')
    .description('answer `ips probe` from another host: echoes each probe kind so the prober can tell what arrived')
    .requiredOption('--listen <addr:port>', 'address and port for UDP and TCP, e.g. 0.0.0.0:41641 or [::]:41641')
    .option('--duration <sec>', 'exit after this many seconds (default: run until SIGINT/SIGTERM)', integerArg(1, 86400))
    .action(async (opts: { listen: string; duration?: number }, command: Command) => {
      const hp = parseHostPort(opts.listen);
      if (!hp) throw new ConegateError('CG_USAGE', `--listen ${opts.listen}: expected ADDR:PORT or [V6]:PORT`);
      const log = loggerFor(globalOptions(command));
      const responder = createResponder({ host: hp.host, port: hp.port }, { clock: realClock, log });
      await responder.start();
      process.stderr.write(`conegate ips responder: listening on ${opts.listen} (UDP and TCP)\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        if (opts.duration !== undefined) realClock.setTimer(opts.duration * 1000, stop);
      });
      await responder.stop();
      process.stderr.write(`conegate ips responder: stopped; arrived ${JSON.stringify(responder.stats().arrived)}\n`);
    });
  return cmd;
}
