/**
 * From config + command-line flags to a running server's parts: LAN addresses, the WAN address
 * source, the policy and the backend. The only place that reads the host's interfaces.
 */
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { ConegateError } from '../errors.ts';
import { parseCidr, parseIPv4 } from '../net/ip.ts';
import { parsePortRange } from '../config/formats.ts';
import type { Config } from '../config/types.ts';
import type { PortMapBackend } from '../fw/backend.ts';
import { MemoryBackend } from '../fw/memory.ts';
import { NftablesBackend } from '../fw/nftables.ts';
import { PfBackend } from '../fw/pf.ts';
import { PMP_CLIENT_PORT, PMP_SERVER_PORT } from '../pmp/codec.ts';
import type { PmpPolicy } from './policy.ts';
import type { LanAddress } from './server.ts';

type Interfaces = ReturnType<typeof networkInterfaces>;

/** `IF`, `ADDR` or `ADDR/LEN` → the IPv4 LAN addresses to listen on, with their subnets. */
export function resolveLan(specs: string[], ifs: Interfaces = networkInterfaces()): LanAddress[] {
  const out: LanAddress[] = [];
  for (const spec of specs) {
    const cidr = spec.includes('/') ? parseCidr(spec, { loose: true }) : undefined;
    if (cidr) {
      if (cidr.family !== 4) throw new ConegateError('CG_CONFIG_INVALID', `pmp: LAN ${spec} is not IPv4`);
      out.push({ address: spec.split('/')[0]!, prefixLen: cidr.prefixLen });
      continue;
    }
    if (parseIPv4(spec)) {
      const hit = Object.entries(ifs).flatMap(([name, list]) => (list ?? []).filter((a) => a.family === 'IPv4' && a.address === spec).map((a) => ({ name, a })))[0];
      if (!hit) throw new ConegateError('CG_CONFIG_INVALID', `pmp: no interface has the LAN address ${spec}`);
      out.push({ address: spec, prefixLen: Number(hit.a.cidr?.split('/')[1] ?? 32), ifname: hit.name });
      continue;
    }
    const list = (ifs[spec] ?? []).filter((a) => a.family === 'IPv4' && !a.internal);
    if (list.length === 0) throw new ConegateError('CG_CONFIG_INVALID', `pmp: LAN interface ${spec} does not exist or has no IPv4 address`);
    for (const a of list) out.push({ address: a.address, prefixLen: Number(a.cidr?.split('/')[1] ?? 32), ifname: spec });
  }
  return out;
}

/** `IF` or `ADDR` → a function giving the current public IPv4 address (re-read each call for an interface). */
export function wanSource(spec: string | undefined, ifs: () => Interfaces = networkInterfaces): () => string | undefined {
  if (spec === undefined) throw new ConegateError('CG_CONFIG_INVALID', 'pmp: no WAN given (set --wan IF|ADDR or pmp.wan)');
  if (parseIPv4(spec)) return () => spec;
  return () => (ifs()[spec] ?? []).find((a) => a.family === 'IPv4' && !a.internal)?.address;
}

/** The policy from the `pmp` section; an empty allow list means the LAN subnets themselves. */
export function policyFromConfig(config: Config, lan: LanAddress[]): PmpPolicy {
  const c = config.pmp;
  const range = (text: string, key: string) => {
    const r = parsePortRange(text);
    if (!r) throw new ConegateError('CG_CONFIG_INVALID', `pmp.${key}: ${text} is not a port range`);
    return r;
  };
  const allow = c.allow.length > 0 ? c.allow.map((s) => parseCidr(s)!) : lan.map((l) => parseCidr(`${l.address}/${l.prefixLen}`, { loose: true })!);
  return {
    allow,
    internalPorts: range(c.internalPorts, 'internalPorts'),
    externalPorts: range(c.externalPorts, 'externalPorts'),
    allowPrivilegedPorts: c.allowPrivilegedPorts,
    maxMappingsPerClient: c.maxMappingsPerClient,
    maxMappings: c.maxMappings,
    maxLifetimeSec: c.maxLifetimeSec,
    minLifetimeSec: Math.min(c.minLifetimeSec, c.maxLifetimeSec),
    allowThirdParty: c.allowThirdParty,
    meshPortOnly: c.meshPortOnly,
    meshPorts: config.ips.meshPorts,
    // The router's own services must never be forwarded away to a LAN host.
    reservedExternalPorts: [...new Set([PMP_SERVER_PORT, PMP_CLIENT_PORT, ...(config.wg.listenPort ? [config.wg.listenPort] : []), ...c.reservedExternalPorts])],
    requestsPerClientPerSec: c.requestsPerClientPerSec,
  };
}

/** The backend by name; 'auto' is nftables on Linux and pf on FreeBSD. */
export function makeBackend(name: string, opts: { wanIf?: string } = {}): PortMapBackend {
  const pick = name === 'auto' ? (process.platform === 'freebsd' ? 'pf' : process.platform === 'linux' ? 'nftables' : undefined) : name;
  const wanIf = opts.wanIf !== undefined && !parseIPv4(opts.wanIf) ? opts.wanIf : undefined;
  if (pick === 'nftables') return new NftablesBackend(wanIf ? { wanIf } : {});
  if (pick === 'pf') return new PfBackend(wanIf ? { wanIf } : {});
  if (pick === 'memory') return new MemoryBackend();
  throw new ConegateError('CG_CONFIG_INVALID', `pmp: backend ${name} is not one of auto, nftables, pf, memory${pick === undefined ? ` (no default on ${process.platform})` : ''}`);
}

/** Where the state file lives when neither --state nor pmp.stateFile says. */
export function defaultStateFile(config: Config): string {
  const dir = config.stateDir ?? (process.platform === 'freebsd' ? '/var/db/conegate' : '/var/lib/conegate');
  return config.pmp.stateFile ?? join(dir, 'pmp-state.json');
}
