/**
 * The grammar check for the filter rules conegate emits (the subnet router's anchor), from pf.conf(5)
 * (FreeBSD 15.0), the subset used:
 *   pf-rule   = action [ "in" | "out" ] [ "quick" ] [ "on" ifspec ] [ af ] hosts [ filteropt ... ]
 *   action    = "pass" | "block" [ "drop" | "return" ]
 *   hosts     = "all" | "from" host "to" host
 *   host      = "any" | [ "!" ] ( address [ "/" bits ] | "(" interface ")" )
 *   filteropt = "tag" string | "tagged" string | "keep state"
 * Translation rules in the same anchor go to the nat grammar (grammar.ts). An address must match the
 * rule's address family (pfctl: "rule af (inet) and address af (inet6) mismatch").
 */
import { DecodeError } from '../../agent/src/errors.ts';
import { parseCidr } from '../../agent/src/net/ip.ts';
import { parseNatRule, tokenize, type NatRule } from './grammar.ts';

export interface FilterRule {
  action: 'pass' | 'block';
  direction?: 'in' | 'out';
  quick: boolean;
  on?: string;
  af?: 'inet' | 'inet6';
  from: string;
  to: string;
  tag?: string;
  tagged?: string;
  keepState: boolean;
}

const IFNAME = /^[A-Za-z][A-Za-z0-9_.]{0,14}$/;
const TAG = /^[A-Za-z0-9_]{1,63}$/;

export function parseFilterRule(line: string): FilterRule {
  const toks = tokenize(line);
  let i = 0;
  const fail = (why: string): never => {
    throw new DecodeError(`pf.conf: ${why}: ${line}`);
  };
  const peek = () => toks[i];
  const accept = (t: string) => (toks[i] === t ? (i++, true) : false);
  const next = (what: string) => toks[i++] ?? fail(`expected ${what} at end of rule`);
  const action = next('an action');
  if (action !== 'pass' && action !== 'block') fail(`"${action}" is not pass or block`);
  if (action === 'block' && !accept('drop')) accept('return');
  const rule: FilterRule = { action: action as 'pass' | 'block', quick: false, from: 'any', to: 'any', keepState: false };
  if (peek() === 'in' || peek() === 'out') rule.direction = next('a direction') as 'in' | 'out';
  rule.quick = accept('quick');
  if (accept('on')) {
    const ifname = next('an interface');
    if (!IFNAME.test(ifname)) fail(`"${ifname}" is not an interface name`);
    rule.on = ifname;
  }
  if (peek() === 'inet' || peek() === 'inet6') rule.af = next('an address family') as 'inet' | 'inet6';
  const host = (): string => {
    if (accept('any')) return 'any';
    const not = accept('!') ? '!' : '';
    if (accept('(')) {
      const ifname = next('an interface');
      if (!IFNAME.test(ifname) || !accept(')')) fail(`"(${ifname}" is not "(interface)"`);
      return `${not}(${ifname})`;
    }
    const text = next('an address');
    const c = parseCidr(text) ?? fail(`"${text}" is not an address or a prefix with zero host bits`);
    if (rule.af && (c.family === 4) !== (rule.af === 'inet')) fail(`rule af (${rule.af}) and address af mismatch`);
    return not + text;
  };
  if (!accept('all')) {
    if (!accept('from')) fail('expected "from" or "all"');
    rule.from = host();
    if (!accept('to')) fail('expected "to"');
    rule.to = host();
  }
  while (peek() !== undefined) {
    const opt = next('an option');
    if (opt === 'tag' || opt === 'tagged') {
      const tag = next('a tag');
      if (!TAG.test(tag) || rule[opt] !== undefined) fail(`bad or repeated ${opt} "${tag}"`);
      rule[opt] = tag;
    } else if (opt === 'keep' && accept('state')) {
      if (rule.keepState) fail('state option repeated');
      rule.keepState = true;
    } else fail(`unexpected "${opt}"`);
  }
  if (rule.action === 'block' && (rule.tag || rule.keepState)) fail('block rules take no tag or state');
  return rule;
}

/** Every non-comment line of an anchor: a nat rule (nat grammar) or a filter rule (above). */
export function checkMixedAnchorText(text: string): { nat: NatRule[]; filter: FilterRule[] } {
  const nat: NatRule[] = [];
  const filter: FilterRule[] = [];
  let seenFilter = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (/^(no\s+)?nat\b/.test(line)) {
      // pf.conf(5): translation rules come before filter rules in one ruleset (pfctl "Rules must be in order").
      if (seenFilter) throw new DecodeError(`pf.conf: translation rule after a filter rule: ${line}`);
      nat.push(parseNatRule(line));
    } else {
      seenFilter = true;
      filter.push(parseFilterRule(line));
    }
  }
  return { nat, filter };
}
