/**
 * Host patterns as Ansible's --limit takes them (inventory/manager.py, "Patterns: targeting hosts and
 * groups"): `a,b` or `a:b` union, `a:&b` intersection, `a:!b` exclusion (unions first, then
 * intersections, then exclusions, whatever the written order; only &/! terms start from `all`),
 * names of hosts or groups, `all` / `*`, shell globs, `~regex` (Python re.search), and subscripts
 * `g[0]`, `g[-1]`, `g[0:2]` (inclusive), `g[1:]`. A glob or regex matches group names and host names.
 * The result keeps inventory order, so the first host of a batch is the first in the file.
 */
import { ConegateError } from '../errors.ts';
import { hostsOfGroup, type InventoryModel } from './model.ts';

export interface PatternResult {
  hosts: string[];
  /** Terms that matched nothing (Ansible warns "Could not match supplied host pattern"). */
  unmatched: string[];
}

/** Splits on commas, else on colons outside [..] (a bare IPv6 address is one term). */
export function splitPattern(pattern: string): string[] {
  const trimmed = pattern.trim();
  if (trimmed.includes(',')) return trimmed.split(',').map((s) => s.trim()).filter(Boolean);
  if (/^~/.test(trimmed) || /^[0-9a-fA-F]*:[0-9a-fA-F:]*:[0-9a-fA-F:.]*$/.test(trimmed)) return [trimmed];
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of trimmed) {
    if (c === '[') depth++;
    if (c === ']') depth--;
    if (c === ':' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter(Boolean);
}

/** fnmatch.fnmatchcase: `*`, `?`, `[seq]`, `[!seq]`. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let body = glob.slice(i + 1, end);
        const negate = body.startsWith('!');
        if (negate) body = body.slice(1);
        re += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
        i = end;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  try {
    return new RegExp(`^${re}$`, 's');
  } catch {
    // e.g. a range out of order, [z-a]: Python's fnmatch matches nothing there; we say so instead.
    throw new ConegateError('CG_USAGE', `invalid glob in host pattern '${glob}'`);
  }
}

const SUBSCRIPT = /^(.+)\[(?:(-?\d+)|(\d+)?:(\d+)?)\]$/;

function matcher(term: string): (name: string) => boolean {
  if (term.startsWith('~')) {
    let re: RegExp;
    try {
      re = new RegExp(term.slice(1));
    } catch (e) {
      throw new ConegateError('CG_USAGE', `invalid regular expression in host pattern '${term}': ${(e as Error).message}`);
    }
    return (n) => re.test(n);
  }
  const re = globToRegExp(term);
  return (n) => re.test(n);
}

function matchTerm(m: InventoryModel, term: string): string[] {
  const sub = SUBSCRIPT.exec(term);
  if (sub && !term.startsWith('~')) {
    const base = matchTerm(m, sub[1]!);
    if (sub[2] !== undefined) {
      const i = Number(sub[2]);
      const h = base.at(i);
      return h === undefined ? [] : [h];
    }
    const from = Number(sub[3] ?? 0);
    const to = sub[4] === undefined ? base.length : Number(sub[4]) + 1;
    return base.slice(from, to);
  }
  if (term === 'all' || term === '*') return [...m.hosts.keys()];
  const match = matcher(term);
  const groups = [...m.groups.keys()].filter(match);
  const found = new Set<string>();
  for (const g of groups) for (const h of hostsOfGroup(m, g)) found.add(h);
  // Host names are tried when no group matched, or the term is a glob/regex (manager.py _enumerate_matches).
  if (groups.length === 0 || term.startsWith('~') || /[.?*[]/.test(term)) {
    for (const h of m.hosts.keys()) if (match(h)) found.add(h);
  }
  return [...m.hosts.keys()].filter((h) => found.has(h));
}

export function selectHosts(m: InventoryModel, pattern: string): PatternResult {
  const terms = splitPattern(pattern);
  if (terms.length === 0) throw new ConegateError('CG_USAGE', 'empty host pattern');
  const plain = terms.filter((t) => !t.startsWith('&') && !t.startsWith('!'));
  const ordered = [...(plain.length ? plain : ['all']), ...terms.filter((t) => t.startsWith('&')), ...terms.filter((t) => t.startsWith('!'))];
  let selected = new Set<string>();
  const unmatched: string[] = [];
  for (const t of ordered) {
    const op = t[0] === '&' || t[0] === '!' ? t[0] : '';
    const body = op ? t.slice(1) : t;
    if (body === '') throw new ConegateError('CG_USAGE', `empty term in host pattern '${pattern}'`);
    const hosts = matchTerm(m, body);
    if (hosts.length === 0) unmatched.push(t);
    if (op === '&') selected = new Set(hosts.filter((h) => selected.has(h)));
    else if (op === '!') for (const h of hosts) selected.delete(h);
    else for (const h of hosts) selected.add(h);
  }
  return { hosts: [...m.hosts.keys()].filter((h) => selected.has(h)), unmatched };
}
