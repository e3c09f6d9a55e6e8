/** PF text for the parts of a rule; one place decides spelling so the grammar check has one shape to accept. */
import type { AddrMatch, HostSpec, PortRange, Target } from './model.ts';
import { formatPortRange } from './hosts.ts';

export function renderHost(h: HostSpec): string {
  if (h.kind === 'any') return 'any';
  if (h.kind === 'symbol') return h.text;
  return h.cidrs.length === 1 ? h.cidrs[0]! : `{ ${h.cidrs.join(', ')} }`;
}

export function renderPorts(ports: PortRange[]): string {
  return ports.length === 1 ? `port ${formatPortRange(ports[0]!)}` : `port { ${ports.map(formatPortRange).join(', ')} }`;
}

export function renderMatch(side: 'from' | 'to', m: AddrMatch): string {
  return [side, m.not ? `! ${renderHost(m.host)}` : renderHost(m.host), m.ports ? renderPorts(m.ports) : ''].filter(Boolean).join(' ');
}

/** `(igb0:0)` keeps following the interface's first address; a literal is what pfSense itself writes. */
export function renderTarget(t: Target): string {
  if (t.kind === 'interface') return t.style === 'literal' && t.address ? t.address : `(${t.ifname}:0)`;
  if (t.kind === 'address') return t.address;
  return t.text;
}

export interface PoolOptions {
  ports?: PortRange;
  pool?: string;
  endpointIndependent?: boolean;
  staticPort?: boolean;
}

/** Pool options in the order `pfctl -sn` prints them: pool type, sticky-address, endpoint-independent, static-port. */
export function renderPool(o: PoolOptions): string {
  const parts: string[] = [];
  if (o.ports) parts.push(`port ${formatPortRange(o.ports)}`);
  if (o.pool) parts.push(o.pool);
  if (o.endpointIndependent) parts.push('endpoint-independent');
  if (o.staticPort) parts.push('static-port');
  return parts.join(' ');
}

/**
 * User text (a rule's description, an interface name) made safe for a `#` comment line. pf.conf and
 * nft end a comment at the newline, and pfctl's lexer joins a line ending in a backslash with the
 * next one even inside a comment (parse.y lgetc), so a description holding "\n", "\r", another
 * control character, U+2028/2029 or a trailing backslash would turn the rest into rule text. C-style
 * terminators are dropped too, for readers that copy our text into other formats.
 */
export function commentText(text: string, maxChars = Number.POSITIVE_INFINITY): string {
  const flat = text
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .replace(/\\/g, '/')
    .replace(/\*\/|\/\*/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return flat.length > maxChars ? `${flat.slice(0, maxChars - 1)}…` : flat;
}
