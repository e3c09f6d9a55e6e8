/**
 * The declarative shape of a lab topology, NAT behaviour names (RFC 4787) and the built-in presets.
 * Pure: no namespaces are touched here. `normalizeSpec` validates input and fills defaults, so the
 * planner and the CLI (`up --spec FILE`) share one notion of a valid spec.
 */
import { ConegateError } from '../../agent/src/errors.ts';

/** RFC 4787 section 4.1 mapping behaviour: which part of the destination keys the external port. */
export type MappingType = 'eim' | 'adm' | 'apdm';
/** RFC 4787 section 5 filtering behaviour: which remote endpoints may send in through a mapping. */
export type FilteringType = 'eif' | 'adf' | 'apdf';

/** The NAT behaviour of one router (IPv4 NAPT toward its WAN). */
export interface NatSpec {
  /** eim: one external port per internal socket; adm: one per (socket, remote address); apdm: one per remote endpoint. */
  mapping: MappingType;
  /** eif: anyone may send to a mapping; adf: only addresses the socket sent to; apdf: only endpoints it sent to. */
  filtering: FilteringType;
  /** RFC 4787 REQ-9: LAN hosts reach each other through the router's external address. @default false */
  hairpin?: boolean;
  /** Lifetime of an idle mapping record in the router's sets (EIF/ADF/hairpin lookups). @default 120 */
  timeoutSec?: number;
}

/** Short names for common NAT behaviours, accepted wherever a NatSpec is. */
export const NAT_PRESETS = {
  /** Endpoint-independent mapping and filtering with hairpin: the "easy" NAT (full cone). */
  'full-cone': { mapping: 'eim', filtering: 'eif', hairpin: true },
  /** EIM + address-dependent filtering ("restricted cone"). */
  'restricted-cone': { mapping: 'eim', filtering: 'adf', hairpin: true },
  /** EIM + address-and-port-dependent filtering ("port-restricted cone"), like a Linux home router. */
  'port-restricted': { mapping: 'eim', filtering: 'apdf', hairpin: false },
  /** Address-dependent mapping and filtering. */
  'address-dependent': { mapping: 'adm', filtering: 'adf', hairpin: false },
  /** A new external port per destination endpoint ("symmetric", "hard"), like FreeBSD PF's default. */
  symmetric: { mapping: 'apdm', filtering: 'apdf', hairpin: false },
} as const satisfies Record<string, NatSpec>;
export type NatPresetName = keyof typeof NAT_PRESETS;

/** A site: one NAT router (WAN + LAN bridge) and its LAN hosts. Node names: `<site>.router`, `<site>.<host>`. */
export interface SiteSpec {
  /** Short name: letters, digits, '-' (1-12 chars). */
  name: string;
  /** NAT behaviour of the site router. @default 'symmetric' */
  nat?: NatSpec | NatPresetName;
  /** LAN host names. @default ['h1'] */
  hosts?: string[];
  /** Name of the ISP the router's WAN sits behind (CGNAT / double NAT); omitted: directly on the internet. */
  uplink?: string;
  /** 'udp-blocked': the router forwards only TCP to port 443 outbound (a strict corporate firewall). @default 'none' */
  firewall?: 'none' | 'udp-blocked';
  /** Dual-stack LAN: hosts get a routed 2001:db8:<n>::/64 address (no NAT66). Turns on the lab's IPv6. @default false */
  ipv6?: boolean;
  /** IPv6 inbound policy of the router: 'stateful' (only replies and ICMPv6) or 'open'. @default 'stateful' */
  ipv6Inbound?: 'stateful' | 'open';
}

/** A carrier router between sites and the internet: CGNAT (100.64.0.0/10 inside) or a second home router. */
export interface IspSpec {
  /** Node name of the ISP router (letters, digits, '-', 1-12 chars). */
  name: string;
  /** NAT behaviour of the ISP router. @default 'symmetric' */
  nat?: NatSpec | NatPresetName;
  /** 'cgnat': inside is 100.64.<n>.0/24 (RFC 6598); 'private': 192.168.<n>.0/24 (double NAT). @default 'cgnat' */
  inside?: 'cgnat' | 'private';
}

/** The whole topology. */
export interface LabSpec {
  sites?: SiteSpec[];
  isps?: IspSpec[];
  /** Internet servers, each with a primary (203.0.113.x) and an alternate (198.51.100.x) address. @default ['s1','s2'] */
  servers?: string[];
  /** IPv6 on the internet segment, servers, ISPs and routers (hosts only where their site says so). @default false */
  ipv6?: boolean;
}

/** A spec with every default filled in and every name checked. */
export interface NormalizedSpec {
  sites: Array<Required<Omit<SiteSpec, 'nat' | 'uplink'>> & { nat: Required<NatSpec>; uplink: string | null }>;
  isps: Array<{ name: string; nat: Required<NatSpec>; inside: 'cgnat' | 'private' }>;
  servers: string[];
  ipv6: boolean;
}

const NAME = /^[a-z][a-z0-9-]{0,11}$/;
const RESERVED = new Set(['inet', 'router', 'internet']);

function bad(message: string): never {
  throw new ConegateError('CG_CONFIG_INVALID', `lab spec: ${message}`);
}

/** Resolves a preset name or checks a NatSpec, filling hairpin and timeout defaults. */
export function resolveNat(nat: NatSpec | string | undefined, where: string): Required<NatSpec> {
  const raw: unknown = nat === undefined ? NAT_PRESETS.symmetric : typeof nat === 'string' ? NAT_PRESETS[nat as NatPresetName] : nat;
  if (raw === undefined) bad(`${where}: unknown NAT preset "${String(nat)}" (known: ${Object.keys(NAT_PRESETS).join(', ')})`);
  if (typeof raw !== 'object' || raw === null) bad(`${where}: nat must be an object or a preset name`);
  const n = raw as Partial<NatSpec>;
  for (const key of Object.keys(n)) {
    if (!['mapping', 'filtering', 'hairpin', 'timeoutSec'].includes(key)) bad(`${where}: unknown nat key "${key}"`);
  }
  if (!['eim', 'adm', 'apdm'].includes(n.mapping as string)) bad(`${where}: nat.mapping must be eim, adm or apdm`);
  if (!['eif', 'adf', 'apdf'].includes(n.filtering as string)) bad(`${where}: nat.filtering must be eif, adf or apdf`);
  if (n.hairpin !== undefined && typeof n.hairpin !== 'boolean') bad(`${where}: nat.hairpin must be a boolean`);
  const timeoutSec = n.timeoutSec ?? 120;
  if (!Number.isInteger(timeoutSec) || timeoutSec < 1 || timeoutSec > 86400) bad(`${where}: nat.timeoutSec must be 1..86400`);
  return { mapping: n.mapping as MappingType, filtering: n.filtering as FilteringType, hairpin: n.hairpin ?? false, timeoutSec };
}

function checkKeys(obj: object, allowed: string[], where: string): void {
  for (const key of Object.keys(obj)) if (!allowed.includes(key)) bad(`${where}: unknown key "${key}"`);
}

/** Validates a spec (from code or a JSON file) and fills defaults. Throws CG_CONFIG_INVALID with the reason. */
export function normalizeSpec(input: unknown): NormalizedSpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) bad('must be an object');
  const spec = input as LabSpec;
  checkKeys(spec, ['sites', 'isps', 'servers', 'ipv6'], 'spec');
  const names = new Set<string>();
  const claim = (name: unknown, where: string): string => {
    if (typeof name !== 'string' || !NAME.test(name) || RESERVED.has(name)) bad(`${where}: name must match ${NAME} and not be inet/router`);
    if (names.has(name)) bad(`${where}: duplicate name "${name}"`);
    names.add(name);
    return name;
  };
  const servers = spec.servers ?? ['s1', 's2'];
  if (!Array.isArray(servers) || servers.length > 50) bad('servers must be an array of at most 50 names');
  servers.forEach((s, i) => claim(s, `servers[${i}]`));
  const isps = (spec.isps ?? []).map((isp, i) => {
    checkKeys(isp, ['name', 'nat', 'inside'], `isps[${i}]`);
    const inside = isp.inside ?? 'cgnat';
    if (inside !== 'cgnat' && inside !== 'private') bad(`isps[${i}].inside must be cgnat or private`);
    return { name: claim(isp.name, `isps[${i}]`), nat: resolveNat(isp.nat, `isps[${i}]`), inside };
  });
  if (isps.length > 50) bad('at most 50 isps');
  const sites = (spec.sites ?? []).map((site, i) => {
    const where = `sites[${i}]`;
    checkKeys(site, ['name', 'nat', 'hosts', 'uplink', 'firewall', 'ipv6', 'ipv6Inbound'], where);
    const name = claim(site.name, where);
    const hosts = site.hosts ?? ['h1'];
    if (!Array.isArray(hosts) || hosts.length < 1 || hosts.length > 50) bad(`${where}.hosts must list 1..50 names`);
    const hostNames = new Set<string>();
    for (const h of hosts) {
      if (typeof h !== 'string' || !NAME.test(h) || h === 'router' || hostNames.has(h)) bad(`${where}.hosts: bad or duplicate host name "${String(h)}"`);
      hostNames.add(h);
    }
    if (site.uplink !== undefined && !isps.some((isp) => isp.name === site.uplink)) bad(`${where}.uplink names no isp: "${site.uplink}"`);
    const firewall = site.firewall ?? 'none';
    if (firewall !== 'none' && firewall !== 'udp-blocked') bad(`${where}.firewall must be none or udp-blocked`);
    const ipv6Inbound = site.ipv6Inbound ?? 'stateful';
    if (ipv6Inbound !== 'stateful' && ipv6Inbound !== 'open') bad(`${where}.ipv6Inbound must be stateful or open`);
    if (site.ipv6 !== undefined && typeof site.ipv6 !== 'boolean') bad(`${where}.ipv6 must be a boolean`);
    return { name, nat: resolveNat(site.nat, where), hosts, uplink: site.uplink ?? null, firewall, ipv6: site.ipv6 ?? false, ipv6Inbound };
  });
  if (sites.length > 50) bad('at most 50 sites');
  if (spec.ipv6 !== undefined && typeof spec.ipv6 !== 'boolean') bad('ipv6 must be a boolean');
  const ipv6 = spec.ipv6 === true || sites.some((s) => s.ipv6);
  return { sites, isps, servers, ipv6 };
}

/** Topology presets for the CLI (`up --preset NAME`), the demo and tests. */
export const LAB_PRESETS: Record<string, LabSpec> = {
  /** One site per NAT behaviour preset, all directly on the internet. */
  'all-nats': {
    sites: Object.keys(NAT_PRESETS).map((p, i) => ({ name: `n${i + 1}`, nat: p as NatPresetName })),
    servers: ['s1', 's2'],
  },
  /** Site a behind a hard (symmetric) NAT, site b behind a home router behind a CGNAT carrier. */
  'two-sites': {
    sites: [
      { name: 'a', nat: 'symmetric', hosts: ['h1'] },
      { name: 'b', nat: 'port-restricted', hosts: ['h1'], uplink: 'isp' },
    ],
    isps: [{ name: 'isp', nat: 'symmetric', inside: 'cgnat' }],
    servers: ['s1', 's2'],
  },
  /** Double NAT: a home router behind another home router. */
  'double-nat': {
    sites: [{ name: 'a', nat: 'port-restricted', uplink: 'outer' }],
    isps: [{ name: 'outer', nat: 'port-restricted', inside: 'private' }],
  },
  /** A site whose firewall passes only TCP 443 outbound, and a dual-stack site. */
  'restrictive': {
    sites: [
      { name: 'corp', nat: 'symmetric', firewall: 'udp-blocked' },
      { name: 'home', nat: 'port-restricted', ipv6: true },
    ],
    ipv6: true,
  },
};
