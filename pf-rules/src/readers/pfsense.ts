/**
 * pfSense `config.xml` (root `<pfsense>`) -> RouterModel. Outbound NAT order as pfSense's
 * filter.inc writes it: manual rules (hybrid, advanced) then automatic rules (automatic, hybrid).
 * pfSense writes an interface address target as a literal `ip/32`; with DHCP/PPPoE the address is
 * not in config.xml, so we fall back to `(if:0)`, which PF resolves to the same address.
 */
import { at, childrenOf, type XmlElement } from '../../../agent/src/xml/xml.ts';
import type { RouterModel, Target } from '../model.ts';
import { automaticRules, invalid, readAliases, readInterfaces, readMode } from './common.ts';
import { readLegacyRule } from './legacy-rule.ts';

const pfsenseTarget = (ifname: string, ipv4: string | undefined): Target =>
  ipv4 ? { kind: 'interface', ifname, style: 'literal', address: ipv4 } : { kind: 'interface', ifname, style: 'dynamic' };

export function readPfsenseConfig(root: XmlElement): RouterModel {
  if (root.name !== 'pfsense') invalid(`not a pfSense config.xml (root element <${root.name}>)`);
  const ifs = readInterfaces(root);
  const aliases = readAliases(root);
  const mode = readMode(root);
  const manualXml = childrenOf(at(root, 'nat/outbound'), 'rule');
  const manual = manualXml.map((r, i) => readLegacyRule(r, i, ifs, aliases, { interfaceTarget: pfsenseTarget })).filter((r) => r !== undefined);
  const automatic = automaticRules(ifs.wans, ifs.lans, (w) => pfsenseTarget(w.ifname, w.ipv4));
  const rules = mode === 'disabled' ? [] : [...(mode === 'automatic' ? [] : manual), ...(mode === 'advanced' ? [] : automatic)];
  const ipv6Nat = rules.some((r) => r.family === 'inet6') || childrenOf(at(root, 'nat'), 'npt').length > 0;
  return { platform: 'pfsense', wans: ifs.wans, lans: ifs.lans, outbound: { mode, rules }, ipv6Nat, warnings: [] };
}
