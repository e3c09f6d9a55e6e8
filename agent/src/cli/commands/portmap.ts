/** `conegate portmap probe|map`: the upstream port-mapping client from the command line. */
import { Command, Option } from 'commander';
import { realClock } from '../../clock/clock.ts';
import { ConegateError } from '../../errors.ts';
import { isIp } from '../../net/ip.ts';
import { createPortmapper, probePortmapServices, type PortmapProbeResult } from '../../portmap/index.ts';
import { globalOptions, integerArg, loggerFor, printResult, resolveConfig } from '../context.ts';

function gatewayArg(v: string): string {
  if (!isIp(v)) throw new ConegateError('CG_USAGE', `--gateway must be an IP address, got "${v}"`);
  return v;
}

function humanProbe(r: PortmapProbeResult): string {
  const yes = (b: boolean): string => (b ? 'yes' : 'no');
  const lines = [
    `gateway: ${r.gateway}${r.localAddress ? ` (we are ${r.localAddress})` : ''}`,
    `PCP:      ${yes(r.pcp)}${r.pcpEpochSec !== undefined ? ` (epoch ${r.pcpEpochSec} s)` : ''}`,
    `NAT-PMP:  ${yes(r.natpmp)}${r.natpmpEpochSec !== undefined ? ` (epoch ${r.natpmpEpochSec} s)` : ''}`,
    `UPnP IGD: ${yes(r.upnp)}${r.upnpDevice ? ` (${r.upnpDevice.serviceType.split(':').slice(-2).join(':')}${r.upnpDevice.friendlyName ? `, ${r.upnpDevice.friendlyName}` : ''})` : ''}`,
  ];
  if (r.externalAddress) lines.push(`external address: ${r.externalAddress}`);
  return lines.join('\n');
}

export function portmapCommand(): Command {
  const cmd = new Command('portmap').description('ask the upstream router for a port mapping (PCP, NAT-PMP, UPnP IGD)');

  cmd
    .command('probe')
    .description('which port-mapping services the upstream gateway offers')
    .option('--config <file>', 'config file (default: CONEGATE_CONFIG, then the platform default)')
    .option('--gateway <ip>', 'gateway to probe (default: portmap.gateway, then the default route)', gatewayArg)
    .option('--timeout <ms>', 'probe budget in ms', integerArg(100, 30000))
    .option('--json', 'machine-readable output')
    .action(async (opts: { gateway?: string; timeout?: number; json?: boolean }, command: Command) => {
      const { config } = await resolveConfig(globalOptions(command));
      const r = await probePortmapServices({ gateway: opts.gateway ?? config.portmap.gateway, timeoutMs: opts.timeout ?? config.portmap.probeTimeoutMs, protocols: config.portmap.protocols });
      printResult(opts.json === true, r, () => humanProbe(r));
      if (!r.pcp && !r.natpmp && !r.upnp) process.exitCode = 1;
    });

  cmd
    .command('map')
    .description('map a port and keep it renewed until interrupted (SIGINT/SIGTERM releases it); prints endpoint changes')
    .option('--config <file>', 'config file (default: CONEGATE_CONFIG, then the platform default)')
    .requiredOption('--port <n>', 'internal port to map', integerArg(1, 65535))
    .addOption(new Option('--protocol <p>', 'transport').choices(['udp', 'tcp']).default('udp'))
    .option('--lifetime <s>', 'requested lifetime in seconds (default: portmap.lifetimeSec)', integerArg(1, 86400))
    .option('--gateway <ip>', 'gateway (default: portmap.gateway, then the default route)', gatewayArg)
    .option('--json', 'one JSON object per line for each event')
    .action(async (opts: { port: number; protocol: 'udp' | 'tcp'; lifetime?: number; gateway?: string; json?: boolean }, command: Command) => {
      const g = globalOptions(command);
      const { config } = await resolveConfig(g);
      const log = loggerFor(g, config);
      const pm = await createPortmapper(config.portmap, { protocol: opts.protocol, internalPort: opts.port, lifetimeSec: opts.lifetime }, { clock: realClock, log }, opts.gateway ? { gateway: opts.gateway } : {});
      const out = (event: string, data: Record<string, unknown>, human: string): void => {
        process.stdout.write(opts.json ? JSON.stringify({ event, atMs: Math.round(realClock.nowMs()), ...data }) + '\n' : `${human}\n`);
      };
      pm.on('endpointChanged', (c) => out('endpoint', { ...c }, c.endpoint ? `${c.reason}: ${c.endpoint.address}:${c.endpoint.port}/${c.endpoint.protocol} via ${c.endpoint.via}` : `${c.reason}: no mapping`));
      pm.on('granted', (m) => out('granted', { mapping: m }, `granted ${m.address}:${m.port} for ${m.lifetimeSec} s`));
      pm.on('announcement', (a) => out('announcement', { ...a }, `gateway announcement (${a.via}, epoch ${a.epochSec} s)`));
      pm.on('unavailable', (u) => out('unavailable', { ...u }, `no port-mapping service answered at ${pm.gateway}; retrying in ${Math.round(u.retryInMs / 1000)} s`));
      pm.on('epochReset', (r) => out('epochReset', { ...r }, `gateway lost its mappings (${r.via}: ${r.reason}); re-mapping`));
      // A keep-alive: realClock timers are unref'd, so something must hold the process open until a signal.
      const keepAlive = setInterval(() => undefined, 1 << 30);
      await pm.start();
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
      });
      const hadMapping = pm.mapping() !== undefined;
      await pm.stop();
      clearInterval(keepAlive);
      out('released', { signal, hadMapping }, hadMapping ? 'mapping released' : 'stopped (no mapping was held)');
    });
  return cmd;
}
