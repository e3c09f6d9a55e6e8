/** Custom string formats used by the config schema; each is a pure check with the error text beside it. */
import { isIp, parseCidr, parseHostPort, parseIPv4 } from '../net/ip.ts';
import { IFNAME } from './forms.ts';

export interface FormatSpec {
  validate: (value: string) => boolean;
  /** What a valid value looks like, for error messages. */
  expected: string;
}

/** "N" or "N-M" with 1 <= N <= M <= 65535. */
export function parsePortRange(text: string): { from: number; to: number } | undefined {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) return undefined;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < 1 || to > 65535 || from > to) return undefined;
  return { from, to };
}

export const FORMATS: Record<string, FormatSpec> = {
  // The IPv4 case is pmp.wan's "or that address itself"; forms.ts then tells each field's forms apart.
  ifname: { validate: (v) => IFNAME.test(v) || parseIPv4(v) !== undefined, expected: 'an interface name (a letter, then up to 14 letters, digits, _ . = + -)' },
  cidr: { validate: (v) => parseCidr(v) !== undefined, expected: 'a network in CIDR form with host bits zero, e.g. 192.168.1.0/24 or 2001:db8::/48' },
  'cidr-loose': { validate: (v) => parseCidr(v, { loose: true }) !== undefined, expected: 'an address with prefix length, e.g. 10.64.0.1/24' },
  ip: { validate: isIp, expected: 'an IPv4 or IPv6 address' },
  'host-port': { validate: (v) => parseHostPort(v) !== undefined, expected: 'host:port or [IPv6]:port with port 1-65535' },
  'port-range': { validate: (v) => parsePortRange(v) !== undefined, expected: 'a port or range like 1024-65535 (1-65535, low to high)' },
};
