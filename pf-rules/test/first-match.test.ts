/**
 * The generator's central claim, checked by evaluation: PF's NAT is first-match and our anchor comes
 * first, so for every UDP packet in scope, the first matching rule of (ours + the appliance's) must
 * translate to the same address with the same pool as the appliance's own first match, and `no nat`
 * must stay `no nat`; for packets out of scope none of our rules may match. Random packets (fast-check)
 * over every golden case whose hosts are literal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { GOLDEN_CASES } from './cases.ts';
import { readConfigXml, readPfConf } from '../src/readers/index.ts';
import { generateAnchor } from '../src/generate.ts';
import { eimCapability } from '../src/capability.ts';
import { checkAnchorText } from '../src/grammar.ts';
import { renderTarget } from '../src/render.ts';
import type { AddrMatch, OutboundRule } from '../src/model.ts';
import { cidrContains, parseCidr, parseIPv4 } from '../../agent/src/net/ip.ts';

interface Packet {
  ifname: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
}

function hostMatches(m: AddrMatch, addr: string, port: number): boolean {
  let hit: boolean;
  if (m.host.kind === 'any') hit = true;
  // `(if)` = that interface's own addresses (the router's own socket rule): the packets here come from
  // the LAN networks and the appliance's rules, never from the router's WAN address.
  else if (m.host.kind === 'symbol' && /^\([A-Za-z0-9_.]+\)$/.test(m.host.text)) hit = false;
  else if (m.host.kind === 'symbol') throw new Error('symbolic host in an evaluated case');
  else hit = m.host.cidrs.some((c) => cidrContains(parseCidr(c, { loose: true })!, parseIPv4(addr)!));
  if (m.not) hit = !hit;
  return hit && (!m.ports || m.ports.some((r) => port >= r.from && port <= r.to));
}

interface Verdict {
  nonat: boolean;
  target?: string;
  pool?: string;
  staticPort: boolean;
}

function appliesTo(r: { ifname: string; family: string; protocols: 'any' | string[]; source: AddrMatch; destination: AddrMatch }, p: Packet): boolean {
  return r.ifname === p.ifname && r.family !== 'inet6' && (r.protocols === 'any' || r.protocols.includes('udp')) && hostMatches(r.source, p.src, p.sport) && hostMatches(r.destination, p.dst, p.dport);
}

function applianceVerdict(rules: OutboundRule[], p: Packet): Verdict | undefined {
  const r = rules.find((x) => appliesTo(x, p));
  if (!r) return undefined;
  return { nonat: r.nonat, ...(r.target ? { target: renderTarget(r.target) } : {}), ...(r.pool ? { pool: r.pool } : {}), staticPort: r.staticPort };
}

const LITERAL_CASES = GOLDEN_CASES.filter((c) => !c.name.startsWith('freebsd-no-hook'));

for (const c of LITERAL_CASES) {
  test(`first match is preserved: ${c.name}`, () => {
    const text = readFileSync(new URL(`./fixtures/${c.input}`, import.meta.url), 'utf8');
    const model = c.kind === 'config-xml' ? readConfigXml(text, c.platform) : readPfConf(text);
    const out = generateAnchor(model, c.policy, eimCapability({ platform: c.platform, version: c.version }));
    const ours = checkAnchorText(out.text).rules;
    const scope = c.policy.scope.sources.map((s) => parseCidr(s, { loose: true })!);
    const scopePorts = c.policy.scope.ports.map((s) => Number(s));
    const wans = out.wans;
    // Addresses from every network the case mentions, plus outsiders.
    const pool = [...new Set([...model.lans.map((l) => l.cidr), ...c.policy.scope.sources, '10.99.1.1/32', '198.51.100.53/32', '10.8.3.3/32', '172.16.5.9/32', '192.168.1.50/32', '192.168.1.60/32', '192.168.20.7/32', '8.8.8.8/32'])]
      .filter((s) => parseIPv4(s.split('/')[0]!))
      .map((s) => s.split('/')[0]!.replace(/\.0$/, '.77'));
    const ports = [500, 3478, 41641, 51820, 1024, 65535];
    const ifnames = [...new Set(model.outbound.rules.map((r) => r.ifname))];
    fc.assert(
      fc.property(fc.constantFrom(...ifnames), fc.constantFrom(...pool), fc.constantFrom(...ports), fc.constantFrom(...pool), fc.constantFrom(...ports), (ifname, src, sport, dst, dport) => {
        const p: Packet = { ifname, src, sport, dst, dport };
        const inScope = wans.includes(ifname) && (scope.length === 0 || scope.some((s) => cidrContains(s, parseIPv4(src)!))) && (scopePorts.length === 0 || scopePorts.includes(sport));
        const mine = ours.find((r) => appliesTo({ ifname: r.on!, family: r.af ?? 'inet', protocols: r.protocols ?? 'any', source: r.from, destination: r.to }, p));
        const theirs = applianceVerdict(model.outbound.rules, p);
        if (!mine) return; // falls through to the appliance: its own verdict, trivially preserved
        assert.ok(inScope, `our rule matched an out-of-scope packet ${JSON.stringify(p)}`);
        assert.ok(theirs, `our rule matched a packet the appliance does not translate ${JSON.stringify(p)}`);
        assert.equal(mine.no, theirs.nonat, JSON.stringify(p));
        if (mine.no) return;
        assert.equal(mine.redirect!.target, theirs.target, JSON.stringify(p));
        const pool = [mine.redirect!.pool, mine.redirect!.stickyAddress ? 'sticky-address' : ''].filter(Boolean).join(' ') || undefined;
        assert.equal(pool, theirs.pool, JSON.stringify(p));
        if (theirs.staticPort) assert.equal(mine.redirect!.staticPort, true, 'admin static-port kept');
      }),
      { numRuns: 400, seed: 11 },
    );
  });
}
