/**
 * Checks only the host can answer, each by the value's form (forms.ts): an interface name must exist
 * here, or, where the platform itself uses them (nat.wan on OPNsense and pfSense, whose PF rules name
 * `wan`, `opt1`), be one of its config.xml interface names; an address given as a pmp.lan entry
 * (ADDR or ADDR/LEN) must be assigned here. A public pmp.wan address need not be local.
 */
import { classifyIfname, classifyLan, classifyPmpWan } from './forms.ts';
import type { Config } from './types.ts';

export interface HostFacts {
  /** Interface name -> its addresses (no zone suffix). */
  interfaces: Record<string, string[]>;
  /** OPNsense / pfSense config.xml names (wan, lan, opt1) -> the interface they stand for. */
  configNames?: Record<string, string>;
}

export function hostProblems(config: Config, facts: HostFacts | string[]): string[] {
  const f: HostFacts = Array.isArray(facts) ? { interfaces: Object.fromEntries(facts.map((n) => [n, []])) } : facts;
  const names = Object.keys(f.interfaces);
  const have = `(have: ${names.join(', ') || 'none'})`;
  const local = new Set(Object.values(f.interfaces).flat());
  const problems: string[] = [];
  const iface = (path: string, name: string, configNamesCount: boolean) => {
    if (name in f.interfaces) return;
    const meant = f.configNames?.[name];
    if (meant !== undefined && configNamesCount) return;
    if (meant !== undefined) problems.push(`${path}: "${name}" is this appliance's name for ${meant}; give the interface itself here: "${meant}"`);
    else problems.push(`${path}: "${name}" is not an interface on this host ${have}`);
  };
  config.pmp.lan.forEach((v, i) => {
    const form = classifyLan(v);
    if (form.kind === 'ifname') iface(`pmp.lan[${i}]`, form.name, false);
    if ((form.kind === 'ipv4' || form.kind === 'ipv4-cidr') && !local.has(form.address)) problems.push(`pmp.lan[${i}]: ${v} is not an address of this host (NAT-PMP listens on it)`);
  });
  if (config.pmp.wan !== undefined) {
    const form = classifyPmpWan(config.pmp.wan);
    if (form.kind === 'ifname') iface('pmp.wan', form.name, false);
  }
  config.nat.wan.forEach((v, i) => {
    const form = classifyIfname(v);
    if (form.kind === 'ifname') iface(`nat.wan[${i}]`, form.name, true);
  });
  return problems;
}
