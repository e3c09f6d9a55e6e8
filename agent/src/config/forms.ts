/**
 * Values whose meaning depends on their form, checked by that form: a `pmp.lan` entry is an interface
 * name, an IPv4 address or ADDR/LEN; `pmp.wan` and `nat.wan` entries are interface names (or, for
 * pmp.wan, the public IPv4 address itself). The schema only says "a string" for some of these
 * (its sections belong to their areas); this module classifies and checks them for load.ts and
 * host-checks.ts, so each value is judged as what it is, never an address as an interface.
 */
import { parseCidr, parseIPv4, parseIp } from '../net/ip.ts';
import { parseProxyUrl } from '../relay/client/proxy.ts';

export type ValueForm = { kind: 'ifname'; name: string } | { kind: 'ipv4'; address: string } | { kind: 'ipv4-cidr'; address: string; prefixLen: number } | { kind: 'invalid'; why: string };

/**
 * Interface names as the platforms write them: Linux (eth0, enp3s0f1, br0, eth0.10, wg-mesh), FreeBSD
 * and its appliances (igb0, vtnet1, em0.100, lagg0_vlan20, ix0), UniFi (br0, eth8, switch0.10) and the
 * appliance config names PF rules use (wan, lan, opt1). IFNAMSIZ is 16 on both kernels: 15 characters.
 */
export const IFNAME = /^[A-Za-z][A-Za-z0-9_.=+-]{0,14}$/;

export function classifyLan(value: string): ValueForm {
  if (value.includes('/')) {
    const cidr = parseCidr(value, { loose: true });
    if (!cidr) return { kind: 'invalid', why: 'is not ADDR/LEN' };
    if (cidr.family !== 4) return { kind: 'invalid', why: 'is IPv6; NAT-PMP and PCP serve IPv4 LANs here' };
    return { kind: 'ipv4-cidr', address: value.split('/')[0]!, prefixLen: cidr.prefixLen };
  }
  if (parseIPv4(value)) return { kind: 'ipv4', address: value };
  if (parseIp(value)) return { kind: 'invalid', why: 'is IPv6; NAT-PMP and PCP serve IPv4 LANs here' };
  if (IFNAME.test(value)) return { kind: 'ifname', name: value };
  return { kind: 'invalid', why: 'is not an interface name, an IPv4 address or ADDR/LEN (e.g. igb1, 192.168.1.1, 192.168.1.1/24)' };
}

export function classifyPmpWan(value: string): ValueForm {
  if (parseIPv4(value)) return { kind: 'ipv4', address: value };
  if (parseIp(value)) return { kind: 'invalid', why: 'is IPv6; the NAT-PMP public address is IPv4' };
  if (IFNAME.test(value)) return { kind: 'ifname', name: value };
  return { kind: 'invalid', why: 'is not an interface name or an IPv4 address (e.g. igb0, 203.0.113.5)' };
}

export function classifyIfname(value: string): ValueForm {
  if (parseIp(value)) return { kind: 'invalid', why: 'is an address; an interface name is expected (e.g. igb0, eth0.10, wan)' };
  if (IFNAME.test(value)) return { kind: 'ifname', name: value };
  return { kind: 'invalid', why: 'is not an interface name (a letter, then up to 14 letters, digits, _ . = + -)' };
}

/** Problems with the form of every form-dependent value, in the config's field-path notation. */
/** `mesh.proxy`: "none" or an http:// proxy URL with a port; the why never repeats a password. */
export function classifyProxy(value: string): { kind: 'none' } | { kind: 'url' } | { kind: 'invalid'; why: string } {
  if (value === 'none') return { kind: 'none' };
  try {
    parseProxyUrl(value, 'mesh.proxy');
    return { kind: 'url' };
  } catch (err) {
    return { kind: 'invalid', why: (err as Error).message.replace(/^mesh\.proxy: /, '') };
  }
}

export function formProblems(config: { pmp: { lan: string[]; wan?: string }; nat: { wan: string[] }; mesh?: { proxy?: string } }): string[] {
  const out: string[] = [];
  const check = (path: string, value: string, f: ValueForm) => {
    if (f.kind === 'invalid') out.push(`${path}: ${JSON.stringify(value)} ${f.why}`);
  };
  config.pmp.lan.forEach((v, i) => check(`pmp.lan[${i}]`, v, classifyLan(v)));
  if (config.pmp.wan !== undefined) check('pmp.wan', config.pmp.wan, classifyPmpWan(config.pmp.wan));
  config.nat.wan.forEach((v, i) => check(`nat.wan[${i}]`, v, classifyIfname(v)));
  const proxy = config.mesh?.proxy;
  if (proxy !== undefined) {
    const f = classifyProxy(proxy);
    if (f.kind === 'invalid') out.push(`mesh.proxy: ${f.why}`);
  }
  return out;
}
