/**
 * Set operations on the match parts of NAT rules, so a rule can be narrowed to our scope without
 * changing which packets it matches inside that scope (PF's first match stays the same rule).
 */
import { parseCidr, formatCidr, cidrContains } from '../../agent/src/net/ip.ts';
import { ConegateError } from '../../agent/src/errors.ts';
import type { HostSpec, PortRange } from './model.ts';

/** Normalises "10.0.0.5" to "10.0.0.5/32"-equivalent checks; throws for text that is not a network. */
function cidrOf(text: string) {
  const c = parseCidr(text, { loose: true });
  if (!c) throw new ConegateError('CG_INPUT_INVALID', `"${text}" is not an address or network`);
  return c;
}

/** a ⊆ b for CIDR text. */
export function cidrWithin(a: string, b: string): boolean {
  const ca = cidrOf(a);
  const cb = cidrOf(b);
  return ca.family === cb.family && ca.prefixLen >= cb.prefixLen && cidrContains(cb, ca.bytes);
}

export function cidrFamily(text: string): 4 | 6 {
  return cidrOf(text).family;
}

/** Canonical text: host bits cleared, /32 and /128 written as the bare address. */
export function canonicalCidr(text: string): string {
  const c = cidrOf(text);
  const s = formatCidr(c);
  return c.prefixLen === (c.family === 4 ? 32 : 128) ? s.slice(0, s.indexOf('/')) : s;
}

export interface Narrowed {
  host: HostSpec;
  /** Set when exactness could not be proven (symbolic host narrowed by an explicit scope). */
  assumption?: string;
}

/**
 * The part of `rule` (a rule's source) that lies in `scope` (a list of CIDRs), or undefined if none.
 * `explicitScope` false means no narrowing at all: the rule is mirrored as the admin wrote it, which is
 * exact. With an explicit scope every mirrored rule lies inside it, so traffic outside the scope
 * matches none of ours and falls through to the appliance's rules in their own order.
 */
export function narrowHosts(rule: HostSpec, scope: string[], explicitScope: boolean): Narrowed | undefined {
  if (!explicitScope) return { host: rule };
  if (rule.kind === 'any') return scope.length ? { host: { kind: 'cidrs', cidrs: scope.map(canonicalCidr) } } : undefined;
  if (rule.kind === 'symbol') {
    if (scope.length === 0) return undefined;
    return { host: { kind: 'cidrs', cidrs: scope.map(canonicalCidr) }, assumption: `assumes ${scope.join(', ')} lies inside ${rule.text}` };
  }
  const out: string[] = [];
  for (const r of rule.cidrs) {
    for (const q of scope) {
      if (cidrFamily(r) !== cidrFamily(q)) continue;
      if (cidrWithin(q, r)) out.push(canonicalCidr(q));
      else if (cidrWithin(r, q)) out.push(canonicalCidr(r));
    }
  }
  const unique = [...new Set(out)];
  return unique.length ? { host: { kind: 'cidrs', cidrs: unique } } : undefined;
}

/** Intersection of two port sets (undefined = all ports); [] means disjoint. */
export function intersectPorts(a: PortRange[] | undefined, b: PortRange[] | undefined): PortRange[] | undefined {
  if (!a) return b;
  if (!b) return a;
  const out: PortRange[] = [];
  for (const x of a) for (const y of b) {
    const from = Math.max(x.from, y.from);
    const to = Math.min(x.to, y.to);
    if (from <= to) out.push({ from, to });
  }
  return out;
}

/** "500", "1024:65535", "1024-65535" -> range; undefined for anything else (names, operators). */
export function parsePortText(text: string): PortRange | undefined {
  const m = /^(\d{1,5})(?:[:-](\d{1,5}))?$/.exec(text.trim());
  if (!m) return undefined;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  return from >= 1 && to <= 65535 && from <= to ? { from, to } : undefined;
}

export function formatPortRange(r: PortRange): string {
  return r.from === r.to ? String(r.from) : `${r.from}:${r.to}`;
}

/** Scope cidrs left after removing those inside any negated network; undefined if one only partly overlaps. */
export function subtractNegated(scope: string[], negated: string[]): string[] | undefined {
  const out: string[] = [];
  for (const q of scope) {
    const fam = negated.filter((x) => cidrFamily(x) === cidrFamily(q));
    if (fam.some((x) => cidrWithin(q, x))) continue;
    if (fam.some((x) => cidrWithin(x, q))) return undefined;
    out.push(canonicalCidr(q));
  }
  return out;
}
