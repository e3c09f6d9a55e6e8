/**
 * Rule header evaluation against a concrete packet: protocol, addresses (as LAN/remote sides, since a
 * rule's $HOME_NET is the router's own networks) and ports. Tri-state: a literal address when the
 * packet's address is not known, or a variable we cannot resolve, gives 'unknown'.
 */
import { cidrContains, parseCidr, parseIp } from '../../net/ip.ts';
import type { ListItem, Spec } from './types.ts';
import type { Endpoint, Tri } from './packet.ts';

/** Port variables as suricata.yaml and the pfSense/OPNsense defaults ship them. */
export const DEFAULT_PORT_VARS: Record<string, string> = {
  HTTP_PORTS: '80', SHELLCODE_PORTS: '!80', ORACLE_PORTS: '1521', SSH_PORTS: '22', DNP3_PORTS: '20000',
  MODBUS_PORTS: '502', FILE_DATA_PORTS: '[$HTTP_PORTS,110,143]', FTP_PORTS: '21', GENEVE_PORTS: '6081',
  VXLAN_PORTS: '4789', TEREDO_PORTS: '3544', SIP_PORTS: '[5060,5061]',
};

export function triAnd(a: Tri, b: Tri): Tri {
  if (a === 'no-match' || b === 'no-match') return 'no-match';
  if (a === 'unknown' || b === 'unknown') return 'unknown';
  return 'match';
}

export function triOr(a: Tri, b: Tri): Tri {
  if (a === 'match' || b === 'match') return 'match';
  if (a === 'unknown' || b === 'unknown') return 'unknown';
  return 'no-match';
}

export function triNot(a: Tri): Tri {
  return a === 'match' ? 'no-match' : a === 'no-match' ? 'match' : 'unknown';
}

/**
 * A list means: (any positive item matches, or there are no positive items) and no negated item
 * matches — Suricata's "[10.0.0.0/8,!10.1.1.1]" is the /8 without that host.
 */
function evalList(items: ListItem[], one: (v: string) => Tri, depth: number): Tri {
  if (depth > 16) return 'unknown';
  const evalItem = (it: ListItem): Tri => (typeof it.value === 'string' ? one(it.value) : evalList(it.value, one, depth + 1));
  const positives = items.filter((i) => !i.negated);
  let result: Tri = positives.length === 0 ? 'match' : 'no-match';
  for (const p of positives) result = triOr(result, evalItem(p));
  for (const n of items.filter((i) => i.negated)) result = triAnd(result, triNot(evalItem(n)));
  return result;
}

/** Does the address field cover this endpoint? $HOME_NET = LAN side, $EXTERNAL_NET = the rest (the default `!$HOME_NET`). */
export function evalAddress(spec: Spec, ep: Endpoint, literalWhenUnknown: Tri = 'unknown'): Tri {
  if (spec.any) return 'match';
  return evalList(spec.items, (v) => addressValue(v, ep, literalWhenUnknown), 0);
}

function addressValue(v: string, ep: Endpoint, literalWhenUnknown: Tri): Tri {
  if (v === 'any') return 'match';
  if (v.startsWith('$')) {
    const name = v.slice(1);
    if (name === 'HOME_NET' || /_SERVERS$/.test(name)) return ep.side === 'lan' ? 'match' : 'no-match';
    if (name === 'EXTERNAL_NET') return ep.side === 'remote' ? 'match' : 'no-match';
    return 'unknown';
  }
  if (ep.ip === undefined) return literalWhenUnknown;
  const addr = parseIp(ep.ip);
  if (!addr) return 'unknown';
  const cidr = parseCidr(v.includes('/') ? v : `${v}/${parseIp(v)?.family === 6 ? 128 : 32}`, { loose: true });
  if (!cidr) return 'unknown';
  return cidrContains(cidr, addr.bytes) ? 'match' : 'no-match';
}

/** Does the port field cover this port? Ranges "a:b", "a:", ":b"; variables from DEFAULT_PORT_VARS. */
export function evalPort(spec: Spec, port: number, vars: Record<string, string> = DEFAULT_PORT_VARS): Tri {
  if (spec.any) return 'match';
  return evalList(spec.items, (v) => portValue(v, port, vars, 0), 0);
}

function portValue(v: string, port: number, vars: Record<string, string>, depth: number): Tri {
  if (v === 'any') return 'match';
  if (v.startsWith('$')) {
    const def = vars[v.slice(1)];
    if (def === undefined || depth > 8) return 'unknown';
    const t = def.trim();
    if (t === 'any') return 'match';
    // Re-parse the variable's value as its own list, resolving nested variables.
    const items = t.startsWith('[') || t.startsWith('!') || t.includes(',') ? t : `[${t}]`;
    return evalPortText(items, port, vars, depth + 1);
  }
  const range = /^(\d*):(\d*)$/.exec(v);
  if (range) {
    const lo = range[1] === '' ? 0 : Number(range[1]);
    const hi = range[2] === '' ? 65535 : Number(range[2]);
    return port >= lo && port <= hi ? 'match' : 'no-match';
  }
  if (/^\d+$/.test(v)) return Number(v) === port ? 'match' : 'no-match';
  return 'unknown';
}

function evalPortText(text: string, port: number, vars: Record<string, string>, depth: number): Tri {
  const inner = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const items: ListItem[] = inner.split(',').map((p) => {
    const s = p.trim();
    return s.startsWith('!') ? { negated: true, value: s.slice(1) } : { negated: false, value: s };
  });
  return evalList(items, (v) => portValue(v, port, vars, depth), 0);
}

/** Application-layer protocols and the transports they run on (Suricata's protocol field). */
const APP_TRANSPORT: Record<string, ('tcp' | 'udp')[]> = {
  http: ['tcp'], http1: ['tcp'], http2: ['tcp'], tls: ['tcp'], ssh: ['tcp'], smtp: ['tcp'], ftp: ['tcp'], imap: ['tcp'],
  smb: ['tcp', 'udp'], dns: ['tcp', 'udp'], dcerpc: ['tcp', 'udp'], krb5: ['tcp', 'udp'], ntp: ['udp'], dhcp: ['udp'],
  snmp: ['udp'], tftp: ['udp'], sip: ['udp', 'tcp'], quic: ['udp'], ike: ['udp'], rdp: ['tcp'], mqtt: ['tcp'], nfs: ['tcp', 'udp'],
  modbus: ['tcp'], dnp3: ['tcp'], enip: ['tcp', 'udp'], rfb: ['tcp'], pgsql: ['tcp'], ldap: ['tcp', 'udp'], websocket: ['tcp'],
  'tcp-pkt': ['tcp'], 'tcp-stream': ['tcp'], 'udp-pkt': ['udp'],
};

/**
 * Does the protocol field admit this packet? Transport protocols are exact; an app-layer protocol on
 * the right transport depends on Suricata's protocol detection: judged for TLS (record header
 * 0x16 0x03) and for packets whose protocol we know (our own), 'unknown' otherwise.
 */
export function evalProtocol(proto: string, transport: 'tcp' | 'udp', payload: Uint8Array, appProto?: string): Tri {
  if (proto === 'ip' || proto === 'pkthdr') return 'match';
  if (proto === 'tcp' || proto === 'udp') return proto === transport ? 'match' : 'no-match';
  if (proto === 'icmp' || proto === 'icmpv6' || proto === 'sctp') return 'no-match';
  const transports = APP_TRANSPORT[proto];
  if (!transports) return 'unknown';
  if (!transports.includes(transport)) return 'no-match';
  if (proto === 'tls') return payload.length >= 2 && payload[0] === 0x16 && payload[1] === 0x03 ? 'match' : 'no-match';
  if (appProto !== undefined) return proto.replace(/^http[12]$/, 'http') === appProto ? 'match' : 'no-match';
  return 'unknown';
}
