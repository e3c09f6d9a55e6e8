/**
 * Rule matcher: does this rule fire on this packet? Answers 'match', 'no-match' or 'unknown' and why.
 * All of a rule's conditions are ANDed, so one definite miss decides 'no-match' even when the rule
 * also uses keywords we cannot evaluate (pcre, flowbits:isset, byte_extract, app-layer buffers...);
 * otherwise any such keyword makes the answer 'unknown'. We never guess.
 */
import type { ContentOption, PlainOption, Rule } from './types.ts';
import type { Packet, Tri } from './packet.ts';
import { evalAddress, evalPort, evalProtocol, triAnd, triOr } from './header.ts';
import { isStickyBuffer } from './parse.ts';
import { inspectionBuffer } from './buffers.ts';
import { evalByteTest, evalDsize, evalFlow, evalIsdataat, type PayloadCursor } from './keywords.ts';

/** The reason given when only the rule's literal addresses (reputation lists, known hosts) are undecided. */
export const ADDRESS_DEPENDENT = 'depends on the remote address (the rule names specific addresses)';

export interface MatchResult {
  verdict: Tri;
  /** Why not (for 'no-match') or what could not be evaluated (for 'unknown'). */
  reasons: string[];
  /** Conditions that do not change the verdict but matter for blocking (thresholds, noalert...). */
  notes: string[];
  /** True when the rule fires only after several matching packets (threshold/detection_filter count > 1). */
  needsRate: boolean;
}

/** Keywords with no effect on whether a packet matches. */
const INERT = new Set(['msg', 'sid', 'gid', 'rev', 'classtype', 'metadata', 'reference', 'priority', 'target', 'fast_pattern', 'rawbytes', 'tag', 'pkt_data', 'bypass', 'config']);
/** Keywords that limit how often a match fires, not whether the packet matches. */
const RATE = new Set(['threshold', 'detection_filter']);

/** Judges one rule against one packet. */
export function matchRule(rule: Rule, pkt: Packet): MatchResult {
  const reasons: string[] = [];
  const notes: string[] = [];
  const needsRate = ruleNeedsRate(rule);
  const header = matchHeader(rule, pkt, reasons);
  if (header === 'no-match') return { verdict: 'no-match', reasons, notes, needsRate };
  let verdict: Tri = header;
  // Payload keywords grouped by the buffer they inspect, in rule order within each buffer.
  const byBuffer = new Map<string, (ContentOption | PlainOption)[]>();
  let sticky = 'pkt_data';
  for (const opt of rule.options) {
    if (opt.kind === 'content') {
      pushTo(byBuffer, opt.buffer, opt);
      continue;
    }
    if (isStickyBuffer(opt.name)) {
      sticky = opt.name;
      continue;
    }
    if (opt.name === 'isdataat' || opt.name === 'byte_test') {
      pushTo(byBuffer, sticky, opt);
      continue;
    }
    const r = evalOption(opt, pkt, notes);
    if (r.verdict !== 'match') reasons.push(r.why);
    verdict = triAnd(verdict, r.verdict);
  }
  for (const [name, ops] of byBuffer) {
    const buf = inspectionBuffer(name, pkt.payload, pkt.appProto);
    let p: Tri;
    if (buf === undefined) p = 'unknown';
    else if (buf === null) p = ops.every((o) => o.kind === 'content' && o.negated) ? 'match' : 'no-match';
    else p = matchPayload(ops, 0, { prevEnd: 0 }, buf);
    if (p !== 'match') reasons.push(p === 'no-match' ? `${name} content does not match` : `content on ${name} not evaluated`);
    verdict = triAnd(verdict, p);
  }
  if (verdict === 'no-match') return { verdict, reasons: reasons.filter((r) => !r.includes('not evaluated')), notes, needsRate };
  return { verdict, reasons, notes, needsRate };
}

function matchHeader(rule: Rule, pkt: Packet, reasons: string[]): Tri {
  const proto = evalProtocol(rule.protocol, pkt.transport, pkt.payload, pkt.appProto);
  if (proto === 'no-match') {
    reasons.push(`protocol ${rule.protocol} is not ${pkt.transport}`);
    return 'no-match';
  }
  const both = (literal: Tri): Tri => {
    const oneWay = (s: typeof pkt.src, d: typeof pkt.dst): Tri =>
      [evalAddress(rule.src, s, literal), evalPort(rule.srcPorts, s.port), evalAddress(rule.dst, d, literal), evalPort(rule.dstPorts, d.port)].reduce(triAnd, 'match' as Tri);
    const there = oneWay(pkt.src, pkt.dst);
    return rule.bidirectional ? triOr(there, oneWay(pkt.dst, pkt.src)) : there;
  };
  const addr = both('unknown');
  if (addr === 'no-match') reasons.push(`addresses/ports do not cover ${pkt.src.side}:${pkt.src.port} -> ${pkt.dst.side}:${pkt.dst.port}`);
  if (proto === 'unknown') reasons.push(`app-layer protocol ${rule.protocol} detection not evaluated`);
  if (addr === 'unknown') {
    // If deciding the literal addresses either way settles it, the rule is about specific hosts.
    const settled = both('match') !== 'unknown' && both('no-match') !== 'unknown';
    reasons.push(settled ? ADDRESS_DEPENDENT : 'address or port variable not evaluated');
  }
  return triAnd(proto, addr);
}

/** Options outside the content chain. */
function evalOption(opt: PlainOption, pkt: Packet, notes: string[]): { verdict: Tri; why: string } {
  const { name, value } = opt;
  if (INERT.has(name)) return { verdict: 'match', why: '' };
  if (RATE.has(name)) {
    notes.push(rateNeedsSeveral(name, value) ? `${name}: fires only after several matches (${value ?? ''})` : `${name}: alerts limited per period (${value ?? ''})`);
    return { verdict: 'match', why: '' };
  }
  switch (name) {
    case 'dsize': return evalDsize(value, pkt.payload.length);
    case 'flow': return evalFlow(value, pkt);
    case 'app-layer-protocol': {
      const v = (value ?? '').trim();
      const negated = v.startsWith('!');
      const proto = v.replace(/^!/, '').split(',')[0]!.trim();
      if (pkt.appProto === undefined || proto === 'failed') return { verdict: 'unknown', why: `app-layer-protocol:${v} not evaluated` };
      const same = proto.replace(/^http[12]$/, 'http') === pkt.appProto;
      return same !== negated ? { verdict: 'match', why: '' } : { verdict: 'no-match', why: `app-layer-protocol is not ${v}` };
    }
    case 'noalert':
      notes.push('noalert: the rule never raises an alert by itself');
      return { verdict: 'match', why: '' };
    case 'flowbits': case 'xbits': {
      const cmd = (value ?? '').split(',')[0]!.trim();
      if (cmd === 'set' || cmd === 'unset' || cmd === 'toggle') return { verdict: 'match', why: '' };
      if (cmd === 'noalert') {
        notes.push('flowbits:noalert: the rule only sets state and never raises an alert by itself');
        return { verdict: 'match', why: '' };
      }
      return { verdict: 'unknown', why: `${name}:${value ?? ''} depends on earlier packets (not evaluated)` };
    }
    default:
      return { verdict: 'unknown', why: `${name} not evaluated` };
  }
}

/**
 * The content chain with backtracking, as Suricata's content inspection does: when a later relative
 * match fails, the earlier content is retried at its next occurrence.
 */
function matchPayload(ops: (ContentOption | PlainOption)[], i: number, cur: PayloadCursor, buf: Uint8Array): Tri {
  if (i >= ops.length) return 'match';
  const op = ops[i]!;
  if (op.kind === 'option') {
    const r = op.name === 'isdataat' ? evalIsdataat(op.value, cur, buf) : evalByteTest(op.value, cur, buf);
    if (r === 'no-match') return 'no-match';
    return triAnd(r, matchPayload(ops, i + 1, cur, buf));
  }
  const relative = op.distance !== undefined || op.within !== undefined;
  let start = relative ? cur.prevEnd + (op.distance ?? 0) : (op.offset ?? 0);
  let end = buf.length;
  if (relative && op.within !== undefined) end = Math.min(end, cur.prevEnd + (op.distance ?? 0) + op.within);
  if (!relative && op.depth !== undefined) end = Math.min(end, start + op.depth);
  if (start < 0) start = 0;
  const len = op.pattern.length;
  if (op.startsWith) end = Math.min(end, start + len);
  let result: Tri = 'no-match';
  let found = false;
  for (let p = start; p + len <= end; p++) {
    if (!bytesAt(buf, p, op.pattern, op.nocase)) continue;
    if (op.endsWith && p + len !== buf.length) continue;
    found = true;
    if (op.negated) break;
    result = triOr(result, matchPayload(ops, i + 1, { prevEnd: p + len }, buf));
    if (result === 'match') return 'match';
  }
  if (op.negated) return found ? 'no-match' : matchPayload(ops, i + 1, cur, buf);
  return result;
}

/** Does the rule fire only after several matching packets? */
export function ruleNeedsRate(rule: Rule): boolean {
  return rule.options.some((o) => o.kind === 'option' && RATE.has(o.name) && rateNeedsSeveral(o.name, o.value));
}

/**
 * threshold type limit fires on the first match; type threshold/both and detection_filter fire only
 * once `count` matches were seen in the period.
 */
function rateNeedsSeveral(name: string, value: string | undefined): boolean {
  const v = value ?? '';
  const count = Number(/count\s+(\d+)/.exec(v)?.[1] ?? '1');
  if (name === 'threshold' && /type\s+limit/.test(v)) return false;
  return count > 1;
}

function pushTo<T>(m: Map<string, T[]>, key: string, v: T): void {
  const list = m.get(key);
  if (list) list.push(v);
  else m.set(key, [v]);
}

function bytesAt(buf: Uint8Array, at: number, pat: Uint8Array, nocase: boolean): boolean {
  for (let j = 0; j < pat.length; j++) {
    let a = buf[at + j]!;
    let b = pat[j]!;
    if (nocase) {
      if (a >= 0x41 && a <= 0x5a) a += 0x20;
      if (b >= 0x41 && b <= 0x5a) b += 0x20;
    }
    if (a !== b) return false;
  }
  return true;
}
