/**
 * A plain FreeBSD `pf.conf` -> RouterModel, enough for NAT: macros (`name = "value"`), line
 * continuations, `nat` / `no nat` rules (parsed with the same grammar that checks our output) and
 * the `nat-anchor` lines. WANs are the interfaces nat rules translate on; LAN networks are the
 * literal sources of those rules. `nat-to` on pass/match rules (FreeBSD 15 style) is refused with a
 * clear error rather than half understood.
 */
import { DecodeError } from '../../../agent/src/errors.ts';
import { parseNatRule } from '../grammar.ts';
import type { OutboundRule, RouterModel, Target, WanInterface, LanNetwork } from '../model.ts';
import { invalid } from './common.ts';

/** Logical lines: comments stripped (outside quotes), backslash continuations joined, with first line numbers. */
export function logicalLines(text: string): { line: string; no: number }[] {
  const out: { line: string; no: number }[] = [];
  let acc = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    let s = raw;
    const hash = s.search(/#(?=(?:[^"]*"[^"]*")*[^"]*$)/);
    if (hash >= 0) s = s.slice(0, hash);
    if (acc === '') start = i + 1;
    if (/\\\s*$/.test(s)) {
      acc += s.replace(/\\\s*$/, ' ');
      return;
    }
    acc += s;
    if (acc.trim()) out.push({ line: acc.trim(), no: start });
    acc = '';
  });
  if (acc.trim()) out.push({ line: acc.trim(), no: start });
  return out;
}

function expandMacros(line: string, macros: Map<string, string>, no: number): string {
  return line.replace(/\$([A-Za-z][A-Za-z0-9_]*)/g, (_, name: string) => {
    const v = macros.get(name);
    if (v === undefined) invalid(`pf.conf line ${no}: macro $${name} is used before it is defined`);
    return v;
  });
}

function targetOf(t: string, kind: string): Target {
  if (kind === 'interface') {
    const m = /^\(([^:)]+)(?::0)?\)$/.exec(t);
    if (m) return { kind: 'interface', ifname: m[1]!, style: 'dynamic' };
    return { kind: 'symbol', text: t };
  }
  if (kind === 'address') return { kind: 'address', address: t };
  return { kind: 'symbol', text: t };
}

export function readPfConf(text: string, anchor = 'conegate'): RouterModel {
  const macros = new Map<string, string>();
  const rules: OutboundRule[] = [];
  const warnings: string[] = [];
  let hookAt: number | undefined;
  let firstNatAt: number | undefined;
  for (const { line: rawLine, no } of logicalLines(text)) {
    const macro = /^([A-Za-z][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(rawLine);
    if (macro) {
      macros.set(macro[1]!, expandMacros(macro[2]!.trim(), macros, no).replace(/^"(.*)"$/, '$1'));
      continue;
    }
    const line = expandMacros(rawLine, macros, no);
    const hook = /^nat-anchor\s+"?([^"\s]+)"?/.exec(line);
    if (hook) {
      if (hook[1] === anchor && hookAt === undefined) hookAt = no;
      continue;
    }
    if (/\bnat-to\b|\bbinat-to\b/.test(line)) invalid(`pf.conf line ${no}: nat-to on pass/match rules is not supported by the reader; use nat rules or config.xml`);
    if (!/^(no\s+)?nat\s/.test(line)) continue;
    if (firstNatAt === undefined) firstNatAt = no;
    let r;
    try {
      r = parseNatRule(line);
    } catch (e) {
      if (e instanceof DecodeError) invalid(`pf.conf line ${no}: ${e.reason}`);
      throw e;
    }
    if (!r.on) invalid(`pf.conf line ${no}: nat rule without "on <interface>" cannot be scoped per WAN`);
    const red = r.redirect;
    rules.push({
      origin: `pf.conf line ${no}`,
      ifname: r.on,
      family: r.af ?? 'any',
      protocols: r.protocols ?? 'any',
      source: r.from,
      destination: r.to,
      nonat: r.no,
      ...(red ? { target: targetOf(red.target, red.targetKind) } : {}),
      ...(red?.ports && !red.staticPort ? { natPorts: red.ports } : {}),
      staticPort: red?.staticPort ?? false,
      eim: red?.endpointIndependent ?? false,
      ...(red?.pool || red?.stickyAddress ? { pool: [red.pool, red.stickyAddress ? 'sticky-address' : ''].filter(Boolean).join(' ') } : {}),
      ...(r.tag ? { tag: r.tag } : {}),
      ...(r.tagged ? { tagged: r.tagged } : {}),
    });
  }
  if (rules.length === 0) invalid('pf.conf has no nat rules: nothing to make endpoint-independent');
  const wans: WanInterface[] = [...new Set(rules.map((r) => r.ifname))].map((ifname) => ({ name: ifname, ifname, hasGateway: true, vips: [] }));
  const lans: LanNetwork[] = [];
  for (const r of rules) if (r.source.host.kind === 'cidrs' && !r.source.not) for (const c of r.source.host.cidrs) if (!lans.some((l) => l.cidr === c)) lans.push({ name: c, ifname: '', cidr: c });
  return {
    platform: 'freebsd',
    wans,
    lans,
    outbound: { mode: 'advanced', rules },
    ipv6Nat: rules.some((r) => r.family === 'inet6'),
    anchorHook: { anchor, present: hookAt !== undefined, first: hookAt !== undefined && (firstNatAt === undefined || hookAt < firstNatAt) },
    warnings,
  };
}
