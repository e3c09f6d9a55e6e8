/**
 * Host names as written in an Ansible inventory: `name:port`, `[2001:db8::1]:22`, and ranges
 * `www[01:50].example.com`, `www[01:50:2]...`, `db-[a:f]...` (ansible/inventory/helpers and
 * plugins/inventory/__init__.py `_expand_hostpattern`): inclusive, leading zeros kept when the begin
 * has them (then begin and end must have the same width), letters from a single ASCII alphabet run.
 */
import { ConegateError } from '../errors.ts';

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
/** Bound on one pattern's expansion, so a typo like [1:99999999] is an error, not an out-of-memory. */
export const MAX_RANGE_HOSTS = 100_000;

export interface HostPatternParts {
  names: string[];
  port?: number;
}

function bad(message: string): never {
  throw new ConegateError('CG_CONFIG_INVALID', message);
}

/** Splits an optional `:port` off (outside any [..] range) and expands ranges. */
export function expandHostPattern(pattern: string): HostPatternParts {
  const { host, port } = splitPort(pattern.trim());
  if (host === '') bad(`empty host name in '${pattern}'`);
  if (host === '---') bad(`host '---' looks like a YAML document marker`);
  return { names: host.includes('[') ? expandRange(host) : [host], ...(port === undefined ? {} : { port }) };
}

function splitPort(p: string): { host: string; port?: number } {
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(p);
  if (v6 && v6[1]!.includes(':')) return { host: v6[1]!, ...(v6[2] ? { port: toPort(v6[2], p) } : {}) };
  // Colons outside brackets: one = host:port; more = a bare IPv6 address.
  const outside = p.replace(/\[[^\]]*\]/g, (m) => '_'.repeat(m.length));
  const colons = [...outside].filter((c) => c === ':').length;
  if (colons !== 1) return { host: p };
  const at = outside.indexOf(':');
  const tail = p.slice(at + 1);
  if (!/^\d+$/.test(tail)) bad(`invalid host pattern '${p}': a ':' must be followed by a port number`);
  return { host: p.slice(0, at), port: toPort(tail, p) };
}

function toPort(text: string, p: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) bad(`invalid port in '${p}'`);
  return n;
}

/** Expands the first [..] range, then recurses for any further ones (as Ansible does). */
export function expandRange(name: string, budget = { left: MAX_RANGE_HOSTS }): string[] {
  const m = /^([^[]*)\[([^\]]*)\](.*)$/.exec(name);
  if (!m) bad(`unbalanced '[' in host pattern '${name}'`);
  const [, head, range, tail] = m as unknown as [string, string, string, string];
  const bounds = range.split(':');
  if (bounds.length !== 2 && bounds.length !== 3) bad(`host range '[${range}]' must be begin:end or begin:end:step`);
  const beg = bounds[0] === '' ? '0' : bounds[0]!;
  const end = bounds[1]!;
  const step = bounds.length === 3 ? Number(bounds[2]) : 1;
  if (end === '') bad(`host range '[${range}]' must specify an end value`);
  if (!Number.isInteger(step) || step < 1) bad(`host range '[${range}]' has an invalid step`);
  const seq = rangeValues(beg, end, step, range);
  const out: string[] = [];
  for (const v of seq) {
    const full = head + v + tail;
    if (full.includes('[')) out.push(...expandRange(full, budget));
    else out.push(full);
    if (--budget.left < 0) bad(`host range in '${name}' expands to more than ${MAX_RANGE_HOSTS} hosts`);
  }
  return out;
}

function rangeValues(beg: string, end: string, step: number, range: string): string[] {
  const ib = LETTERS.indexOf(beg);
  const ie = LETTERS.indexOf(end);
  if (beg.length === 1 && end.length === 1 && ib >= 0 && ie >= 0) {
    if (ib > ie) bad(`host range '[${range}]' must have begin <= end`);
    const out: string[] = [];
    for (let i = ib; i <= ie; i += step) out.push(LETTERS[i]!);
    return out;
  }
  if (!/^\d+$/.test(beg) || !/^\d+$/.test(end)) bad(`host range '[${range}]' is neither numeric nor a letter range`);
  const width = beg.length > 1 && beg.startsWith('0') ? beg.length : 0;
  if (width && width !== end.length) bad(`host range '[${range}]' must have equal-width begin and end`);
  const b = Number(beg);
  const e = Number(end);
  // Ansible silently expands [5:1] to no hosts; an empty range is always a typo, so say so.
  if (b > e) bad(`host range '[${range}]' must have begin <= end`);
  if ((e - b) / step > MAX_RANGE_HOSTS) bad(`host range '[${range}]' expands to more than ${MAX_RANGE_HOSTS} hosts`);
  const out: string[] = [];
  for (let i = b; i <= e; i += step) out.push(width ? String(i).padStart(width, '0') : String(i));
  return out;
}
