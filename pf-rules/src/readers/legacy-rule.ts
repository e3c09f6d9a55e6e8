/**
 * One `<nat><outbound><rule>` element, the format pfSense and OPNsense's legacy outbound page share
 * (pfSense `filter.inc`, OPNsense `filter.lib.inc`). Their few differences are parameters:
 * how an empty target (the interface address) is written, and where the source port lives.
 */
import { parseCidr, parseIPv4 } from '../../../agent/src/net/ip.ts';
import { at, textAt, type XmlElement } from '../../../agent/src/xml/xml.ts';
import type { AddrMatch, OutboundRule, Target } from '../model.ts';
import { canonicalCidr } from '../hosts.ts';
import { commentText } from '../render.ts';
import { familyFrom, flag, hostFromWord, invalid, portsFrom, protocolsFrom, type Interfaces } from './common.ts';

export interface LegacyDialect {
  /** pfSense writes the interface address as a literal `ip/32`; OPNsense as `(if:0)`. */
  interfaceTarget: (ifname: string, ipv4: string | undefined) => Target;
}

function matchOf(el: XmlElement | undefined, portText: string | undefined, ifs: Interfaces, aliases: Map<string, string[] | undefined>, where: string): AddrMatch {
  const word = el ? (flag(el, 'any') ? 'any' : (textAt(el, 'network') ?? textAt(el, 'address') ?? 'any')) : 'any';
  const ports = portsFrom(portText ?? textAt(el, 'port'), where);
  return { host: hostFromWord(word, ifs, aliases, where), not: flag(el, 'not'), ...(ports ? { ports } : {}) };
}

function targetOf(rule: XmlElement, iface: { ifname: string; ipv4?: string }, dialect: LegacyDialect, aliases: Map<string, string[] | undefined>, where: string): Target {
  const raw = textAt(rule, 'target') ?? '';
  if (raw === '') return dialect.interfaceTarget(iface.ifname, iface.ipv4);
  let addr = raw;
  let bits = textAt(rule, 'target_subnet') ?? '';
  if (raw === 'other-subnet') {
    addr = textAt(rule, 'targetip') ?? '';
    bits = textAt(rule, 'targetip_subnet') ?? bits;
  }
  if (parseIPv4(addr) || parseCidr(addr, { loose: true })) {
    const withBits = /^\d{1,3}$/.test(bits) && !addr.includes('/') ? `${addr}/${bits}` : addr;
    return { kind: 'address', address: canonicalCidr(withBits) };
  }
  if (aliases.has(raw)) return { kind: 'symbol', text: `<${raw}>` };
  invalid(`${where}: translation target "${raw}" is not an address, a subnet or an alias`);
}

/** Reads one rule; undefined for a disabled rule (the appliance leaves it out of the ruleset). */
export function readLegacyRule(rule: XmlElement, index: number, ifs: Interfaces, aliases: Map<string, string[] | undefined>, dialect: LegacyDialect): OutboundRule | undefined {
  const descr = commentText(textAt(rule, 'descr') ?? '', 120);
  const where = `outbound rule ${index + 1}${descr ? ` "${descr}"` : ''}`;
  if (flag(rule, 'disabled')) return undefined;
  const ifaceName = textAt(rule, 'interface') ?? '';
  // A rule on a disabled interface is not in the appliance's ruleset either.
  if (ifs.disabled.has(ifaceName)) return undefined;
  const iface = ifs.byName.get(ifaceName);
  if (!iface) invalid(`${where}: unknown interface "${ifaceName}"`);
  const nonat = flag(rule, 'nonat');
  const poolType = textAt(rule, 'poolopts') ?? '';
  const hashKey = textAt(rule, 'source_hash_key') ?? textAt(rule, 'poolopts_sourcehashkey') ?? '';
  if (poolType && !/^(round-robin|round-robin sticky-address|random|random sticky-address|source-hash|bitmask)$/.test(poolType)) invalid(`${where}: unknown pool option "${poolType}"`);
  if (hashKey && !/^0x[0-9a-fA-F]{32}$/.test(hashKey)) invalid(`${where}: source-hash key "${hashKey}" is not 0x followed by 32 hex digits`);
  const pool = poolType === 'source-hash' && hashKey ? `source-hash ${hashKey}` : poolType || undefined;
  const natPorts = portsFrom(textAt(rule, 'natport'), `${where} natport`)?.[0];
  const tag = textAt(rule, 'tag');
  const tagged = textAt(rule, 'tagged');
  return {
    origin: `manual ${where}`,
    ifname: iface.ifname,
    family: familyFrom(textAt(rule, 'ipprotocol'), where),
    protocols: protocolsFrom(textAt(rule, 'protocol')),
    source: matchOf(at(rule, 'source'), textAt(rule, 'sourceport'), ifs, aliases, `${where} source`),
    destination: matchOf(at(rule, 'destination'), textAt(rule, 'dstport'), ifs, aliases, `${where} destination`),
    nonat,
    ...(nonat ? {} : { target: targetOf(rule, iface, dialect, aliases, where) }),
    // Both appliances write `port 1024:65535` when no natport is set (keeps translated ports off the low range).
    ...(nonat || flag(rule, 'staticnatport') ? {} : { natPorts: natPorts ?? { from: 1024, to: 65535 } }),
    staticPort: flag(rule, 'staticnatport'),
    eim: flag(rule, 'eimnat'),
    ...(pool ? { pool } : {}),
    ...(tag ? { tag } : {}),
    ...(tagged ? { tagged } : {}),
  };
}
