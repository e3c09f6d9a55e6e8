/**
 * OPNsense `config.xml` (root `<opnsense>`) -> RouterModel. OPNsense sorts NAT rules by priority:
 * MVC Source NAT rules (`OPNsense/Firewall/Filter/snatrules`, priority 50, 26.7+), legacy manual
 * outbound rules (100), automatic rules (200). Source NAT and manual rules apply in hybrid/advanced
 * mode only, automatic rules in automatic/hybrid. An interface-address target is written `(if:0)`.
 * snatrules fields as in OPNsense's model (models/OPNsense/Firewall/Filter.xml): enabled, nonat,
 * sequence, interface, ipprotocol, protocol, source_net/_not/_port, destination_net/_not/_port,
 * target (default `wanip`: an `<if>ip` word is that interface's address), target_port,
 * staticnatport, tagged, description; 26.7.2 adds `endpoint-independent`.
 */
import { at, childrenOf, textAt, type XmlElement } from '../../../agent/src/xml/xml.ts';
import type { OutboundRule, RouterModel, Target } from '../model.ts';
import { canonicalCidr } from '../hosts.ts';
import { commentText } from '../render.ts';
import { parseCidr } from '../../../agent/src/net/ip.ts';
import { automaticRules, familyFrom, flag, hostFromWord, invalid, portsFrom, protocolsFrom, readAliases, readInterfaces, readMode, type Interfaces } from './common.ts';
import { readLegacyRule } from './legacy-rule.ts';

const opnsenseTarget = (ifname: string): Target => ({ kind: 'interface', ifname, style: 'dynamic' });

function readSnatRule(rule: XmlElement, index: number, ifs: Interfaces, aliases: Map<string, string[] | undefined>): OutboundRule | undefined {
  const descr = commentText(textAt(rule, 'description') ?? '', 120);
  const where = `Source NAT rule ${index + 1}${descr ? ` "${descr}"` : ''}`;
  if (textAt(rule, 'enabled') === '0') return undefined;
  const ifaceName = textAt(rule, 'interface') ?? '';
  if (ifs.disabled.has(ifaceName)) return undefined;
  const iface = ifs.byName.get(ifaceName);
  if (!iface) invalid(`${where}: unknown interface "${ifaceName}"`);
  const nonat = flag(rule, 'nonat');
  const targetWord = textAt(rule, 'target') ?? '';
  let target: Target | undefined;
  if (!nonat) {
    const named = targetWord.endsWith('ip') ? ifs.byName.get(targetWord.slice(0, -2)) : undefined;
    if (targetWord === '') target = opnsenseTarget(iface.ifname);
    else if (named) target = opnsenseTarget(named.ifname);
    else if (parseCidr(targetWord, { loose: true })) target = { kind: 'address', address: canonicalCidr(targetWord) };
    else if (aliases.has(targetWord)) target = { kind: 'symbol', text: `<${targetWord}>` };
    else invalid(`${where}: translation target "${targetWord}" is not an address, an interface address or an alias`);
  }
  const natPorts = portsFrom(textAt(rule, 'target_port'), `${where} target_port`)?.[0];
  const srcPorts = portsFrom(textAt(rule, 'source_port'), `${where} source_port`);
  const dstPorts = portsFrom(textAt(rule, 'destination_port'), `${where} destination_port`);
  const staticPort = flag(rule, 'staticnatport');
  return {
    origin: where,
    ifname: iface.ifname,
    family: familyFrom(textAt(rule, 'ipprotocol'), where),
    protocols: protocolsFrom(textAt(rule, 'protocol')),
    source: { host: hostFromWord(textAt(rule, 'source_net') ?? 'any', ifs, aliases, where), not: flag(rule, 'source_not'), ...(srcPorts ? { ports: srcPorts } : {}) },
    destination: { host: hostFromWord(textAt(rule, 'destination_net') ?? 'any', ifs, aliases, where), not: flag(rule, 'destination_not'), ...(dstPorts ? { ports: dstPorts } : {}) },
    nonat,
    ...(target ? { target } : {}),
    ...(nonat || staticPort ? {} : { natPorts: natPorts ?? { from: 1024, to: 65535 } }),
    staticPort,
    eim: flag(rule, 'endpoint-independent'),
    ...(textAt(rule, 'tagged') ? { tagged: textAt(rule, 'tagged')! } : {}),
  };
}

export function readOpnsenseConfig(root: XmlElement): RouterModel {
  if (root.name !== 'opnsense') invalid(`not an OPNsense config.xml (root element <${root.name}>)`);
  const ifs = readInterfaces(root);
  const aliases = readAliases(root);
  const mode = readMode(root);
  const snatXml = childrenOf(at(root, 'OPNsense/Firewall/Filter/snatrules'), 'rule');
  // Source NAT rules are ordered by their sequence field, then by document order.
  const snat = snatXml
    .map((r, i) => ({ r, i, seq: Number(textAt(r, 'sequence') ?? '0') || 0 }))
    .sort((a, b) => a.seq - b.seq || a.i - b.i)
    .map(({ r, i }) => readSnatRule(r, i, ifs, aliases))
    .filter((r) => r !== undefined);
  const manual = childrenOf(at(root, 'nat/outbound'), 'rule')
    .map((r, i) => readLegacyRule(r, i, ifs, aliases, { interfaceTarget: (ifname) => opnsenseTarget(ifname) }))
    .filter((r) => r !== undefined);
  const automatic = automaticRules(ifs.wans, ifs.lans, (w) => opnsenseTarget(w.ifname));
  const rules = mode === 'disabled' ? [] : [...(mode === 'automatic' ? [] : [...snat, ...manual]), ...(mode === 'advanced' ? [] : automatic)];
  const ipv6Nat = rules.some((r) => r.family === 'inet6') || childrenOf(at(root, 'nat'), 'npt').length > 0 || childrenOf(at(root, 'OPNsense/Firewall/Filter/npt'), 'rule').length > 0;
  return { platform: 'opnsense', wans: ifs.wans, lans: ifs.lans, outbound: { mode, rules }, ipv6Nat, warnings: [] };
}
