/**
 * A parser for the `nat` rules of pf.conf(5), the subset conegate emits and reads from a plain
 * pf.conf. It is the grammar check every generated line must pass, and the pf.conf reader.
 *
 * BNF from pf.conf(5) (FreeBSD 15.0), with the option added by FreeBSD commit 390dc369
 * (2024-09-06, https://reviews.freebsd.org/D11137, PR 219803):
 *   nat-rule = [ "no" ] "nat" [ "pass" [ "log" ] ] [ "on" ifspec ] [ af ] [ protospec ] hosts
 *              [ "tag" string ] [ "tagged" string ]
 *              [ "->" ( redirhost | "{" redirhost-list "}" ) [ portspec ] [ pooltype ]
 *                [ "static-port" ] [ "endpoint-independent" ] [ "map-e-portset" n/n/n ] ]
 * pfctl's parse.y reads the pool options (pooltype, sticky-address, static-port,
 * endpoint-independent, map-e-portset) in a loop, so their order is free, but each may appear once:
 * a repeat is a parse error ("... cannot be redefined"). `portspec` must follow the target directly.
 */
import { parseCidr } from '../../agent/src/net/ip.ts';
import { DecodeError } from '../../agent/src/errors.ts';
import type { AddrMatch, HostSpec, PortRange } from './model.ts';

export type Token = string;

/** Splits one logical pf.conf line into tokens; comments already removed. */
export function tokenize(line: string): Token[] {
  const out: Token[] = [];
  const re = /\s*(->|"[^"]*"|<[^>\s]+>|[{}(),!]|[^\s{}(),!"<]+)/y;
  let m: RegExpExecArray | null;
  re.lastIndex = 0;
  while (re.lastIndex < line.length && (m = re.exec(line))) {
    if (m[1] === undefined) break;
    out.push(m[1]);
  }
  if (line.slice(re.lastIndex).trim() !== '') throw new DecodeError(`cannot tokenize near "${line.slice(re.lastIndex, re.lastIndex + 20)}"`);
  return out;
}

export interface Redirect {
  /** Target as written: `203.0.113.2`, `203.0.113.8/29`, `(igb0:0)`, `<pool>`, or a `{ }` list joined by ", ". */
  target: string;
  targetKind: 'address' | 'interface' | 'table' | 'list';
  ports?: PortRange;
  pool?: string;
  stickyAddress: boolean;
  staticPort: boolean;
  endpointIndependent: boolean;
  mapE?: string;
}

export interface NatRule {
  no: boolean;
  pass: boolean;
  on?: string;
  af?: 'inet' | 'inet6';
  protocols?: string[];
  from: AddrMatch;
  to: AddrMatch;
  tag?: string;
  tagged?: string;
  redirect?: Redirect;
}

const KEYWORDS = new Set(['no', 'nat', 'pass', 'log', 'on', 'inet', 'inet6', 'proto', 'from', 'to', 'port', 'tag', 'tagged', '->', 'all', 'any', 'static-port', 'endpoint-independent', 'sticky-address', 'round-robin', 'random', 'bitmask', 'source-hash', 'map-e-portset']);
const POOL_TYPES = new Set(['round-robin', 'random', 'bitmask', 'source-hash']);
const IFNAME = /^[A-Za-z][A-Za-z0-9_.]{0,14}$/;

class Cursor {
  i = 0;
  constructor(readonly toks: Token[], readonly line: string) {}
  peek(): Token | undefined {
    return this.toks[this.i];
  }
  next(what: string): Token {
    const t = this.toks[this.i++];
    if (t === undefined) this.fail(`expected ${what} at end of rule`);
    return t;
  }
  accept(t: Token): boolean {
    if (this.toks[this.i] === t) {
      this.i++;
      return true;
    }
    return false;
  }
  fail(reason: string): never {
    throw new DecodeError(`pf.conf: ${reason}: ${this.line}`);
  }
}

function portNumber(c: Cursor, t: Token): number {
  if (!/^\d{1,5}$/.test(t) || Number(t) < 1 || Number(t) > 65535) c.fail(`"${t}" is not a port number`);
  return Number(t);
}

/** `port N`, `port = N`, `port N:M`, `port { a, b:c }` (match side). */
function portOps(c: Cursor): PortRange[] {
  const one = (t: Token): PortRange => {
    if (t === '=') return one(c.next('a port'));
    const m = /^(\d+):(\d+)$/.exec(t);
    if (m) {
      const r = { from: portNumber(c, m[1]!), to: portNumber(c, m[2]!) };
      if (r.from > r.to) c.fail(`port range ${t} runs backwards`);
      return r;
    }
    const p = portNumber(c, t);
    return { from: p, to: p };
  };
  if (!c.accept('{')) return [one(c.next('a port'))];
  const out: PortRange[] = [];
  while (!c.accept('}')) {
    out.push(one(c.next('a port or }')));
    c.accept(',');
  }
  if (out.length === 0) c.fail('empty port list');
  return out;
}

function hostWord(c: Cursor, t: Token): HostSpec {
  if (t === 'any') return { kind: 'any' };
  if (t === 'self') return { kind: 'symbol', text: 'self' };
  if (/^<[A-Za-z0-9_.:-]+>$/.test(t)) return { kind: 'symbol', text: t };
  if (parseCidr(t, { loose: true })) return { kind: 'cidrs', cidrs: [t] };
  if (/^[A-Za-z][A-Za-z0-9_.]*:(network|broadcast|peer|0)$/.test(t)) return { kind: 'symbol', text: t };
  if (t === '(') {
    const inner = c.next('an interface');
    if (!/^[A-Za-z][A-Za-z0-9_.]*(:(network|broadcast|peer|0))*$/.test(inner)) c.fail(`"${inner}" is not an interface`);
    if (!c.accept(')')) c.fail('missing )');
    return { kind: 'symbol', text: `(${inner})` };
  }
  if (KEYWORDS.has(t)) c.fail(`expected a host, got "${t}"`);
  c.fail(`"${t}" is not an address, network, table or interface`);
}

function addrMatch(c: Cursor, side: 'from' | 'to'): AddrMatch {
  if (!c.accept(side)) c.fail(`expected "${side}"`);
  const not = c.accept('!');
  let host: HostSpec;
  if (c.accept('{')) {
    const cidrs: string[] = [];
    while (!c.accept('}')) {
      const h = hostWord(c, c.next('a host or }'));
      if (h.kind !== 'cidrs') c.fail('only addresses are supported inside a host list');
      cidrs.push(...h.cidrs);
      c.accept(',');
    }
    if (cidrs.length === 0) c.fail('empty host list');
    host = { kind: 'cidrs', cidrs };
  } else host = hostWord(c, c.next('a host'));
  if (not && host.kind === 'any') c.fail('"! any" matches nothing');
  const ports = c.accept('port') ? portOps(c) : undefined;
  return { host, not, ...(ports ? { ports } : {}) };
}

function redirect(c: Cursor): Redirect {
  let target: string;
  let targetKind: Redirect['targetKind'];
  const t = c.next('a translation address');
  if (t === '{') {
    const items: string[] = [];
    while (!c.accept('}')) {
      const a = c.next('an address or }');
      if (!parseCidr(a, { loose: true })) c.fail(`"${a}" is not an address`);
      items.push(a);
      c.accept(',');
    }
    if (items.length < 2) c.fail('an address list needs two or more addresses');
    target = `{ ${items.join(', ')} }`;
    targetKind = 'list';
  } else {
    const h = hostWord(c, t);
    if (h.kind === 'any') c.fail('"any" is not a translation address');
    target = h.kind === 'cidrs' ? h.cidrs[0]! : h.text;
    targetKind = h.kind === 'cidrs' ? 'address' : target.startsWith('<') ? 'table' : 'interface';
    if (target === 'self') c.fail('"self" is not a translation address');
  }
  const r: Redirect = { target, targetKind, stickyAddress: false, staticPort: false, endpointIndependent: false };
  if (c.accept('port')) {
    const m = /^(\d+)(?::(\d+|\*))?$/.exec(c.next('a port'));
    if (!m) c.fail('translation port must be N or N:M');
    const from = portNumber(c, m[1]!);
    const to = m[2] === undefined ? from : m[2] === '*' ? 65535 : portNumber(c, m[2]);
    if (from > to) c.fail('translation port range runs backwards');
    r.ports = { from, to };
  }
  for (let t2 = c.peek(); t2 !== undefined; t2 = c.peek()) {
    c.i++;
    const once = (set: boolean, name: string) => {
      if (set) c.fail(`${name} given twice (pfctl: cannot be redefined)`);
    };
    if (POOL_TYPES.has(t2)) {
      once(r.pool !== undefined, 'pool type');
      r.pool = t2;
      if (t2 === 'source-hash' && c.peek() !== undefined && /^(0x[0-9a-fA-F]{32}|"[^"]*")$/.test(c.peek()!)) r.pool += ` ${c.next('key')}`;
    } else if (t2 === 'sticky-address') {
      once(r.stickyAddress, 'sticky-address');
      r.stickyAddress = true;
    } else if (t2 === 'static-port') {
      once(r.staticPort, 'static-port');
      r.staticPort = true;
    } else if (t2 === 'endpoint-independent') {
      once(r.endpointIndependent, 'endpoint-independent');
      r.endpointIndependent = true;
    } else if (t2 === 'map-e-portset') {
      once(r.mapE !== undefined, 'map-e-portset');
      r.mapE = c.next('psid-offset/psid-len/psid');
    } else c.fail(`unexpected "${t2}" after the translation address`);
  }
  if (r.targetKind === 'list' && r.pool !== undefined && r.pool !== 'round-robin') c.fail('an address list allows only round-robin');
  return r;
}

/** Parses one `nat` / `no nat` rule (tokens of one logical line); throws DecodeError naming the problem. */
export function parseNatRule(line: string): NatRule {
  const c = new Cursor(tokenize(line), line);
  const no = c.accept('no');
  if (!c.accept('nat')) c.fail('not a nat rule');
  const pass = c.accept('pass');
  if (pass) c.accept('log');
  let on: string | undefined;
  if (c.accept('on')) {
    on = c.next('an interface');
    if (!IFNAME.test(on) || KEYWORDS.has(on)) c.fail(`"${on}" is not an interface name`);
  }
  const afTok = c.peek();
  const af = afTok === 'inet' || afTok === 'inet6' ? (c.i++, afTok) : undefined;
  let protocols: string[] | undefined;
  if (c.accept('proto')) {
    if (c.accept('{')) {
      protocols = [];
      while (!c.accept('}')) {
        protocols.push(c.next('a protocol'));
        c.accept(',');
      }
    } else protocols = [c.next('a protocol')];
    for (const p of protocols) if (!/^[a-z][a-z0-9-]*$|^\d{1,3}$/.test(p) || KEYWORDS.has(p)) c.fail(`"${p}" is not a protocol`);
  }
  let from: AddrMatch;
  let to: AddrMatch;
  if (c.accept('all')) {
    from = { host: { kind: 'any' }, not: false };
    to = { host: { kind: 'any' }, not: false };
  } else {
    from = addrMatch(c, 'from');
    to = addrMatch(c, 'to');
  }
  const rule: NatRule = { no, pass, ...(on ? { on } : {}), ...(af ? { af } : {}), ...(protocols ? { protocols } : {}), from, to };
  if (c.accept('tag')) rule.tag = c.next('a tag');
  if (c.accept('tagged')) rule.tagged = c.next('a tag');
  if (c.accept('->')) {
    if (no) c.fail('"no nat" takes no translation address');
    rule.redirect = redirect(c);
  } else if (!no) c.fail('a nat rule needs "-> address"');
  if (c.peek() !== undefined) c.fail(`unexpected "${c.peek()}"`);
  return rule;
}

/** The grammar check for generated anchor text: every non-comment line must be a valid nat rule. */
export function checkAnchorText(text: string): { rules: NatRule[] } {
  const rules: NatRule[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    rules.push(parseNatRule(line));
  }
  return { rules };
}
