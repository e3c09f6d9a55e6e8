/**
 * PF's translation lookup, modelled over the state of the fake pfctl tools: "would this packet be
 * translated (nat, outbound) or redirected (rdr, inbound), and by which rule in which anchor?"
 * It walks the main ruleset (the fake's main.conf) in order, stepping into an anchor only through a
 * reference of the same type (`nat-anchor` for nat, `rdr-anchor` for rdr; `name/*` = each anchor
 * directly under name), first match wins (`no nat`/`no rdr` match too and translate nothing).
 * So rules loaded into an anchor nothing references have no effect, as in PF (pf.conf(5), ANCHORS).
 * Matching covers what our rules and the platform skeletons use: on IF, inet, proto, from/to with
 * any, addresses, CIDRs, `{ lists }`, `!`, `(if)`/`<table>`/self (taken as matching), ports.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Packet {
  dir: 'in' | 'out';
  ifname: string;
  proto: 'udp' | 'tcp';
  src: string;
  sport: number;
  dst: string;
  dport: number;
}

export interface Hit {
  /** '' for the main ruleset. */
  anchor: string;
  rule: string;
  translates: boolean;
}

export interface RulesetView {
  main: string;
  anchor(name: string): string | undefined;
  children(parent: string): string[];
}

const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : undefined);

function childrenIn(dir: string, prefix: string, parent: string): string[] {
  if (!existsSync(dir)) return [];
  const p = `${prefix}${parent.replace(/\//g, '_')}_`;
  return readdirSync(dir)
    .filter((f) => f.startsWith(p) && !f.slice(p.length).includes('_') && !f.endsWith('.tmp'))
    .map((f) => `${parent}/${f.slice(p.length)}`)
    .sort();
}

/** pf-rules/test/fakes/pfctl: FAKE_PFCTL_DIR/main.conf and anchors/<name, "/" as "_">. */
export function applierFakeView(dir: string): RulesetView {
  return { main: read(join(dir, 'main.conf')) ?? '', anchor: (n) => read(join(dir, 'anchors', n.replace(/\//g, '_'))), children: (p) => childrenIn(join(dir, 'anchors'), '', p) };
}

/** agent/src/fw/testdata/fake-pfctl: FAKE_PFCTL_DIR/main.conf and anchor-<name, "/" as "_">. */
export function pmpdFakeView(dir: string): RulesetView {
  return { main: read(join(dir, 'main.conf')) ?? '', anchor: (n) => read(join(dir, `anchor-${n.replace(/\//g, '_')}`)), children: (p) => childrenIn(dir, 'anchor-', p) };
}

/** The first nat (outbound) or rdr (inbound) rule PF would apply to the packet, if any. */
export function firstTranslation(view: RulesetView, kind: 'nat' | 'rdr', pkt: Packet): Hit | undefined {
  return walk(view, view.main, '', kind, pkt, 0);
}

function walk(view: RulesetView, text: string, anchor: string, kind: 'nat' | 'rdr', pkt: Packet, depth: number): Hit | undefined {
  if (depth > 8) return undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const ref = /^(nat|rdr|binat)-anchor\s+"([^"]+)"/.exec(line);
    if (ref) {
      if (ref[1] !== kind) continue;
      const names = ref[2]!.endsWith('/*') ? view.children(ref[2]!.slice(0, -2)) : [ref[2]!];
      for (const n of names) {
        const hit = walk(view, view.anchor(n) ?? '', n, kind, pkt, depth + 1);
        if (hit) return hit;
      }
      continue;
    }
    const rule = new RegExp(`^(no\\s+)?${kind}\\b`).exec(line);
    if (rule && ruleMatches(line, kind, pkt)) return { anchor, rule: line, translates: !rule[1] };
  }
  return undefined;
}

const HOST = String.raw`(?:!\s*)?(?:\{[^}]*\}|\S+)`;
const PORTS = String.raw`(?:=\s*)?(?:\{[^}]*\}|\S+)`;
const RULE = new RegExp(String.raw`^(?:no\s+)?(?:nat|rdr)(?:\s+pass)?(?:\s+on\s+(\S+))?(?:\s+(inet6?))?(?:\s+proto\s+(\{[^}]*\}|\S+))?\s+from\s+(${HOST})(?:\s+port\s+(${PORTS}))?\s+to\s+(${HOST})(?:\s+port\s+(${PORTS}))?`);

function ruleMatches(line: string, kind: 'nat' | 'rdr', pkt: Packet): boolean {
  if ((kind === 'nat') !== (pkt.dir === 'out')) return false;
  const m = RULE.exec(line);
  if (!m) return false;
  const [, on, family, proto, from, fromPorts, to, toPorts] = m;
  if (on && on !== pkt.ifname) return false;
  if (family === 'inet6') return false;
  if (proto && !listOf(proto).includes(pkt.proto)) return false;
  return hostMatches(from!, pkt.src) && portsMatch(fromPorts, pkt.sport) && hostMatches(to!, pkt.dst) && portsMatch(toPorts, pkt.dport);
}

function listOf(text: string): string[] {
  return text.replace(/[{}]/g, ' ').split(/[\s,]+/).filter(Boolean);
}

function hostMatches(spec: string, addr: string): boolean {
  const negated = spec.startsWith('!');
  const items = listOf(negated ? spec.slice(1) : spec);
  const hit = items.some((h) => h === 'any' || h === 'self' || h.startsWith('(') || h.startsWith('<') || inCidr(addr, h));
  return negated ? !hit : hit;
}

function portsMatch(spec: string | undefined, port: number): boolean {
  if (spec === undefined) return true;
  return listOf(spec.replace(/^=\s*/, '')).some((p) => {
    const [a, b] = p.split(':').map(Number);
    return b === undefined ? port === a : port >= a! && port <= b;
  });
}

function v4(a: string): number | undefined {
  const p = a.split('.').map(Number);
  return p.length === 4 && p.every((x) => Number.isInteger(x) && x >= 0 && x <= 255) ? ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0 : undefined;
}

function inCidr(addr: string, cidr: string): boolean {
  const [net, len] = cidr.split('/');
  const a = v4(addr);
  const n = v4(net!);
  if (a === undefined || n === undefined) return false;
  const bits = len === undefined ? 32 : Number(len);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (a & mask) === (n & mask);
}
