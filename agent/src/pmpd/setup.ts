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

export interface LanOptions {
  /** The WAN spec (pmp.wan / --wan): an interface name or an address. The LAN may never be the WAN. */
  wan?: string | undefined;
  /** How the specs are named in messages: `pmp.lan` (the config) or `--lan`. @default 'pmp.lan' */
  field?: string;
}

type IfAddr = { name: string; address: string; prefixLen: number; internal: boolean };

function ipv4Addresses(ifs: Interfaces): IfAddr[] {
  return Object.entries(ifs).flatMap(([name, list]) =>
    (list ?? []).filter((a) => a.family === 'IPv4').map((a) => ({ name, address: a.address, prefixLen: Number(a.cidr?.split('/')[1] ?? 32), internal: a.internal })),
  );
}

/** The interface the WAN spec names or whose address it is (undefined: an address not on this host). */
function wanInterface(wan: string | undefined, all: IfAddr[], ifs: Interfaces): string | undefined {
  if (wan === undefined) return undefined;
  if (!parseIPv4(wan)) return ifs[wan] ? wan : undefined;
  return all.find((a) => a.address === wan)?.name;
}

const invalid = (msg: string) => new ConegateError('CG_CONFIG_INVALID', msg);

/**
 * One LAN spec → its addresses, or a CG_CONFIG_INVALID naming the field. Safe by construction: the
 * server only ever listens on an address this host has, on an interface that is not the WAN, with a
 * real subnet around it (RFC 6886 3.3: requests on the external interface MUST NOT be accepted).
 */
function resolveOne(spec: string, field: string, ifs: Interfaces, opts: LanOptions): LanAddress[] {
  const all = ipv4Addresses(ifs);
  const wanIf = wanInterface(opts.wan, all, ifs);
  const notWan = (a: IfAddr): void => {
    if (a.name === wanIf) throw invalid(`${field}: "${spec}" is on ${a.name}, the WAN interface (pmp.wan ${opts.wan}); the server must never listen on the WAN`);
    if (opts.wan !== undefined && a.address === opts.wan) throw invalid(`${field}: "${spec}" is the WAN address (pmp.wan); the server must never listen on the WAN`);
  };
  const slash = spec.indexOf('/');
  const addrText = slash < 0 ? spec : spec.slice(0, slash);
  if (parseIPv4(addrText)) {
    const cidr = slash < 0 ? undefined : parseCidr(spec, { loose: true });
    if (slash >= 0 && (!cidr || cidr.family !== 4)) throw invalid(`${field}: "${spec}" is not an IPv4 address with a prefix length`);
    if (cidr && cidr.prefixLen === 0) throw invalid(`${field}: "${spec}" covers every address (prefix /0); name a LAN interface or an address on one`);
    if (addrText === '0.0.0.0') throw invalid(`${field}: "${spec}" is the unspecified address, which listens on every interface including the WAN; name a LAN interface or an address on one`);
    const hit = all.find((a) => a.address === addrText);
    if (!hit) throw invalid(`${field}: "${spec}" is not an address of any interface on this host`);
    notWan(hit);
    const prefixLen = cidr ? cidr.prefixLen : hit.prefixLen;
    if (prefixLen < hit.prefixLen) throw invalid(`${field}: "${spec}" is wider than the subnet on ${hit.name} (/${hit.prefixLen})`);
    return [{ address: addrText, prefixLen, ifname: hit.name }];
  }
  if (wanIf !== undefined && spec === wanIf) throw invalid(`${field}: "${spec}" is the WAN interface (pmp.wan ${opts.wan}); the server must never listen on the WAN`);
  const list = all.filter((a) => a.name === spec && !a.internal);
  if (list.length === 0) throw invalid(`${field}: LAN interface "${spec}" does not exist or has no IPv4 address`);
  for (const a of list) notWan(a);
  return list.map((a) => ({ address: a.address, prefixLen: a.prefixLen, ifname: spec }));
}

/** `IF`, `ADDR` or `ADDR/LEN` → the IPv4 LAN addresses to listen on, with their subnets. */
export function resolveLan(specs: string[], ifs: Interfaces = networkInterfaces(), opts: LanOptions = {}): LanAddress[] {
  const field = opts.field ?? 'pmp.lan';
  return specs.flatMap((spec, i) => resolveOne(spec, `${field}[${i}]`, ifs, opts));
}

/**
 * The problems `conegate config validate` reports for pmp.lan on this host (empty when fine). Names
 * that are not interfaces here are left to the generic interface check, so each is reported once.
 */
export function lanProblems(specs: string[], wan: string | undefined, ifs: Interfaces = networkInterfaces()): string[] {
  const problems: string[] = [];
  specs.forEach((spec, i) => {
    const isAddress = parseIPv4(spec.split('/')[0]!) !== undefined;
    if (!isAddress && ifs[spec] === undefined) return;
    try {
      resolveOne(spec, `pmp.lan[${i}]`, ifs, { wan });
    } catch (err) {
      if (err instanceof ConegateError) problems.push(err.message);
      else throw err;
    }
  });
  return problems;
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
