/** `conegate netcheck`: what NAT are we behind, and what to do about it. */
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { Command } from 'commander';
import { realClock } from '../../clock/clock.ts';
import { ConegateError } from '../../errors.ts';
import { buildReport } from '../../netcheck/classify.ts';
import { notProbedPortmap } from '../../netcheck/portmap-probe.ts';
import { summarizeIps } from '../../netcheck/ips-summary.ts';
import { netcheckPortmapProbe } from '../../portmap/index.ts';
import { resolveEndpoint } from '../../netcheck/resolve.ts';
import { observe } from '../../netcheck/run.ts';
import { verdictFor } from '../../netcheck/verdict.ts';
import { parseProcNetRoute } from '../../portmap/gateway.ts';
import { readFile } from 'node:fs/promises';
import type { FamilyReport, NetcheckReport } from '../../netcheck/types.ts';
import { detectPlatform } from '../../platform/detect.ts';
import { openDgramBind } from '../../stun/dgram-bind.ts';
import { globalOptions, integerArg, printResult, resolveConfig } from '../context.ts';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function netcheckCommand(): Command {
  return new Command('netcheck')
    .description('probe STUN servers and report the NAT in front of this host: mapping, filtering, hairpinning, IPv6, port mapping, and how to fix a hard NAT')
    .option('--stun <host:port>', 'STUN server (repeatable; overrides netcheck.stunServers)', collect, [])
    .option('--timeout-ms <ms>', 'per-probe budget, 100..60000 (overrides netcheck.timeoutMs)', integerArg(100, 60000))
    .option('--no-portmap', 'do not probe the gateway for UPnP IGD, NAT-PMP and PCP')
    .option('--no-ips', 'do not read this host\'s IPS/IDS configuration (see conegate ips check)')
    .option('--config <file>', 'config file (default: CONEGATE_CONFIG, then the platform default)')
    .option('--json', 'one JSON report on stdout (shape in agent/src/netcheck/README.md)')
    .action(async (opts: { stun: string[]; timeoutMs?: number; portmap: boolean; ips: boolean; json?: boolean }, command: Command) => {
      const { config } = await resolveConfig(globalOptions(command));
      const servers = opts.stun.length ? opts.stun : config.netcheck.stunServers;
      if (servers.length === 0) throw new ConegateError('CG_USAGE', 'no STUN servers: pass --stun HOST:PORT or set netcheck.stunServers in the config');
      const timeoutMs = opts.timeoutMs ?? config.netcheck.timeoutMs;
      const obs = await observe(
        { servers, timeoutMs },
        {
          clock: realClock,
          randomBytes: (n) => randomBytes(n),
          openBind: (f) => openDgramBind(f === 4 ? '0.0.0.0' : '::'),
          resolve: resolveEndpoint,
          // The gateway is the default route's unless portmap.gateway says otherwise.
          portmap: opts.portmap
            ? netcheckPortmapProbe({ ...(config.portmap.gateway ? { gateway: config.portmap.gateway } : {}), protocols: config.portmap.protocols, timeoutMs })
            : notProbedPortmap,
          localAddresses: () => Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address.split('%')[0]!)),
        },
      );
      const report = buildReport(obs, await detectPlatform('/'));
      // The verdict again with what only this host knows, so its fix commands are complete as printed.
      const { verdict: _plain, ...rest } = report;
      report.verdict = verdictFor(rest, { meshPort: config.wg.listenPort, ...(await defaultRouteInterface().then((wan) => (wan ? { wan } : {}))) });
      if (opts.ips) report.ips = await summarizeIps({ root: config.ips.root, meshPorts: config.ips.meshPorts, relayPorts: config.ips.relayPorts });
      printResult(opts.json === true, report, () => humanReport(report));
    });
}

function familyLine(name: string, f: FamilyReport): string {
  if (!f.tested) return `${name}: not tested`;
  if (!f.works) return `${name}: no answer`;
  const nat = f.nat === false ? 'no NAT' : `mapping ${f.mapping}, filtering ${f.filtering}`;
  const hp = f.hairpinning === null ? '' : `, hairpinning ${f.hairpinning ? 'yes' : 'no'}`;
  return `${name}: ${f.publicEndpoint ?? '?'} (${nat}${hp})`;
}

function humanReport(r: NetcheckReport): string {
  const lines = [r.verdict.summary, ''];
  lines.push(`UDP: ${r.udp ? 'works' : 'blocked'}`);
  lines.push(familyLine('IPv4', r.ipv4), familyLine('IPv6', r.ipv6));
  const pm = r.portMapping;
  const seen = (v: boolean | null): string => (v === null ? 'not probed' : v ? 'yes' : 'no');
  lines.push(`port mapping upstream: UPnP ${seen(pm.upnp)}, NAT-PMP ${seen(pm.natpmp)}, PCP ${seen(pm.pcp)}${pm.gateway ? ` (router ${pm.gateway})` : ''}`);
  for (const s of r.servers) lines.push(`server ${s.server} ${s.address}: ${s.rttMs === null ? 'no answer' : `${s.rttMs} ms`}${s.rfc5780 ? ' (RFC 5780)' : ''}`);
  for (const u of r.unresolved) lines.push(`server ${u.server}: ${u.error}`);
  if (r.nearestServer) lines.push(`nearest: ${r.nearestServer}`);
  if (r.ips) lines.push(`IPS: ${r.ips.headline}${r.ips.blocking ? ' (conegate ips check names the rule and the fix)' : ''}`);
  if (r.verdict.fixes.length) lines.push('', ...r.verdict.fixes.map((f) => `- ${f}`));
  if (r.verdict.applianceFix) lines.push(`- ${r.verdict.applianceFix}`);
  return lines.join('\n');
}

/** The default route's interface on Linux (/proc/net/route); undefined elsewhere or without one. */
async function defaultRouteInterface(): Promise<string | undefined> {
  if (process.platform !== 'linux') return undefined;
  const text = await readFile('/proc/net/route', 'utf8').catch(() => '');
  return parseProcNetRoute(text)?.iface;
}
