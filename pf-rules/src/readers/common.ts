/**
 * What OPNsense and pfSense `config.xml` share: `<interfaces>`, `<virtualip>`, `<aliases>`, the
 * outbound NAT mode, and the automatic outbound rules both generate from them.
 */
import { ConegateError } from '../../../agent/src/errors.ts';
import { parseCidr, parseIPv4 } from '../../../agent/src/net/ip.ts';
import { at, childrenOf, textAt, type XmlElement } from '../../../agent/src/xml/xml.ts';
import { canonicalCidr, parsePortText } from '../hosts.ts';
import type { AddrMatch, HostSpec, LanNetwork, OutboundMode, OutboundRule, PortRange, Target, WanInterface } from '../model.ts';

export function invalid(message: string): never {
  throw new ConegateError('CG_INPUT_INVALID', message);
}

/** config.xml flags: pfSense writes `<x/>`, OPNsense `<x>1</x>`; `<x>0</x>` means off. */
export function flag(el: XmlElement | undefined, name: string): boolean {
  const t = textAt(el, name);
  return t !== undefined && t !== '0';
}

export interface Interfaces {
  wans: WanInterface[];
  lans: LanNetwork[];
  /** config name -> interface info, for resolving `lan`, `lanip`, `opt1` in rules. */
  byName: Map<string, { ifname: string; ipv4?: string; subnet?: string }>;
  /** Config names of disabled interfaces: rules on them are left out, as the appliance does. */
  disabled: Set<string>;
}

/**
 * Both appliances build their interface list with `isset($iface['enable'])` (pfSense util.inc
 * get_configured_interface_list(), OPNsense config.inc legacy_config_get_interfaces(['enable' => true])):
 * an interface without `<enable>` is disabled, its subnet is not NATed automatically and its rules
 * are not generated. `<enable>0</enable>` is never written by either; we read it as off too.
 */
export function interfaceEnabled(el: XmlElement): boolean {
  const t = textAt(el, 'enable');
  return t !== undefined && t.trim() !== '0';
}

/** Reads `<interfaces>`: WANs are interfaces with a gateway (or a dynamic address), LANs the rest with a static subnet. */
export function readInterfaces(root: XmlElement): Interfaces {
  const ifs = at(root, 'interfaces');
  if (!ifs || ifs.children.length === 0) invalid('config.xml has no <interfaces>');
  const vips = childrenOf(at(root, 'virtualip'), 'vip');
  const wans: WanInterface[] = [];
  const lans: LanNetwork[] = [];
  const byName = new Map<string, { ifname: string; ipv4?: string; subnet?: string }>();
  const disabled = new Set<string>();
  for (const el of ifs.children) {
    const ifname = textAt(el, 'if');
    if (!ifname) continue;
    if (!interfaceEnabled(el)) {
      disabled.add(el.name);
      continue;
    }
    const addr = textAt(el, 'ipaddr') ?? '';
    const bits = textAt(el, 'subnet') ?? '';
    const ipv4 = parseIPv4(addr) ? addr : undefined;
    let subnet: string | undefined;
    if (ipv4 && /^\d{1,2}$/.test(bits)) subnet = canonicalCidr(`${ipv4}/${bits}`);
    byName.set(el.name, { ifname, ...(ipv4 ? { ipv4 } : {}), ...(subnet ? { subnet } : {}) });
    const dynamic = ['dhcp', 'pppoe', 'pptp', 'l2tp'].includes(addr);
    const hasGateway = dynamic || (textAt(el, 'gateway') ?? '') !== '';
    if (hasGateway) {
      const own = vips.filter((v) => textAt(v, 'interface') === el.name).map((v) => textAt(v, 'subnet') ?? '').filter((a) => parseIPv4(a));
      wans.push({ name: el.name, ifname, ...(ipv4 ? { ipv4 } : {}), hasGateway, vips: own });
    } else if (subnet) {
      lans.push({ name: el.name, ifname, cidr: subnet });
    }
  }
  if (wans.length === 0) invalid('config.xml defines no enabled WAN interface (no enabled interface has a gateway or a dynamic address)');
  return { wans, lans, byName, disabled };
}

const MODES: Record<string, OutboundMode> = { automatic: 'automatic', hybrid: 'hybrid', advanced: 'advanced', disabled: 'disabled' };

export function readMode(root: XmlElement): OutboundMode {
  const raw = textAt(root, 'nat/outbound/mode');
  if (raw === undefined || raw === '') return 'automatic';
  const mode = MODES[raw];
  if (!mode) invalid(`unknown outbound NAT mode "${raw}" in <nat><outbound><mode> (expected automatic, hybrid, advanced or disabled)`);
  return mode;
}

/** Literal members of host/network aliases; undefined when an alias holds names, URLs or other aliases. */
export function readAliases(root: XmlElement): Map<string, string[] | undefined> {
  const out = new Map<string, string[] | undefined>();
  for (const a of childrenOf(at(root, 'aliases'), 'alias')) {
    const name = textAt(a, 'name');
    if (!name) continue;
    const type = textAt(a, 'type') ?? '';
    const items = (textAt(a, 'address') ?? textAt(a, 'content') ?? '').split(/[\s,]+/).filter(Boolean);
    const literal = (type === 'host' || type === 'network') && items.length > 0 && items.every((i) => parseCidr(i, { loose: true }));
    out.set(name, literal ? items.map(canonicalCidr) : undefined);
  }
  return out;
}

/** A source/destination word from a rule: any, a CIDR, an interface name (its subnet), `<if>ip`, or an alias. */
export function hostFromWord(word: string, ifs: Interfaces, aliases: Map<string, string[] | undefined>, where: string): HostSpec {
  if (word === '' || word === 'any' || word === '*') return { kind: 'any' };
  if (parseCidr(word, { loose: true })) return { kind: 'cidrs', cidrs: [canonicalCidr(word)] };
  const iface = ifs.byName.get(word);
  if (iface) {
    if (!iface.subnet) invalid(`${where}: interface "${word}" has no static subnet to match on`);
    return { kind: 'cidrs', cidrs: [iface.subnet] };
  }
  if (word.endsWith('ip')) {
    const named = ifs.byName.get(word.slice(0, -2));
    if (named?.ipv4) return { kind: 'cidrs', cidrs: [named.ipv4] };
    if (named) return { kind: 'symbol', text: `(${named.ifname})` };
  }
  if (aliases.has(word)) {
    const members = aliases.get(word);
    return members ? { kind: 'cidrs', cidrs: members } : { kind: 'symbol', text: `<${word}>` };
  }
  if (word === '(self)') return { kind: 'symbol', text: 'self' };
  invalid(`${where}: "${word}" is neither an address, an interface nor an alias`);
}

export function portsFrom(text: string | undefined, where: string): PortRange[] | undefined {
  if (text === undefined || text === '' || text === 'any') return undefined;
  const r = parsePortText(text);
  if (!r) invalid(`${where}: port "${text}" is not a number or range (names and aliases are not supported here)`);
  return [r];
}

export function protocolsFrom(text: string | undefined): 'any' | string[] {
  if (text === undefined || text === '' || text === 'any') return 'any';
  return text.split('/').map((p) => p.trim().toLowerCase());
}

export function familyFrom(text: string | undefined, where: string): 'inet' | 'inet6' | 'any' {
  if (text === undefined || text === '' || text === 'inet46') return 'any';
  if (text === 'inet' || text === 'inet6') return text;
  invalid(`${where}: unknown ipprotocol "${text}"`);
}

/**
 * The automatic outbound rules both appliances generate per WAN with a gateway: first ISAKMP
 * (`to any port 500`, static-port, so IPsec peers keep seeing port 500), then the catch-all with
 * `port 1024:65535`, sourced from all local networks.
 */
export function automaticRules(wans: WanInterface[], lans: LanNetwork[], target: (w: WanInterface) => Target): OutboundRule[] {
  if (lans.length === 0) return [];
  const source: AddrMatch = { host: { kind: 'cidrs', cidrs: lans.map((l) => l.cidr) }, not: false };
  const out: OutboundRule[] = [];
  for (const w of wans.filter((x) => x.hasGateway)) {
    const base = { ifname: w.ifname, family: 'inet' as const, protocols: 'any' as const, source, nonat: false, target: target(w), eim: false };
    out.push({ ...base, origin: `automatic: ISAKMP on ${w.name}`, destination: { host: { kind: 'any' }, not: false, ports: [{ from: 500, to: 500 }] }, staticPort: true });
    out.push({ ...base, origin: `automatic: catch-all on ${w.name}`, destination: { host: { kind: 'any' }, not: false }, natPorts: { from: 1024, to: 65535 }, staticPort: false });
  }
  return out;
}
