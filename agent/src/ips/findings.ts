/**
 * The report model of `ips check` and the shared step every platform reader uses: run each enabled
 * rule against our traffic samples and keep the ones that match (or may match).
 */
import { ADDRESS_DEPENDENT, matchRule, ruleNeedsRate } from './rules/match.ts';
import type { Rule } from './rules/types.ts';
import type { Tri } from './rules/packet.ts';
import { TRAFFIC_KINDS, type SamplePacket, type TrafficKind } from './traffic.ts';

export type Engine = 'suricata' | 'snort' | 'unifi';

/**
 * How the engine turns a match into a block:
 * - inline: the engine sits in the packet path; drop/reject rules drop, alerts pass.
 * - legacy-blocking: pfSense legacy mode with blocking on: an alert puts the offender into a pf table.
 * - alert-blocking: UniFi: a vendor daemon blocks on alerts of blocked categories/SIDs.
 * - ids-only: nothing blocks.
 * - unknown: the settings that decide it could not be read.
 */
export type BlockMode = 'inline' | 'legacy-blocking' | 'alert-blocking' | 'ids-only' | 'unknown';

/** blocks: our traffic is dropped; may-block: depends on what we cannot see (pcre, addresses, rates); alert-only: logged only. */
export type Severity = 'blocks' | 'may-block' | 'alert-only';

export interface TrafficHit {
  kind: TrafficKind;
  verdict: Exclude<Tri, 'no-match'>;
  /** Names of the sample packets that matched (or may match). */
  packets: string[];
}

export interface Finding {
  engine: Engine;
  platform: 'opnsense' | 'pfsense' | 'unifi';
  interface: string;
  sid?: number;
  gid?: number;
  msg?: string;
  /** Rule file (relative to the root) and line, or the UniFi category. */
  source: string;
  category?: string;
  /** The rule's action as the engine runs it (after policies and overrides). */
  action: string;
  mode: BlockMode;
  severity: Severity;
  hits: TrafficHit[];
  /** Why this severity, in a sentence. */
  why: string;
  /** The exact steps that fix it on this platform, best first. */
  fix: string[];
  notes: string[];
}

/** A file that could not be read or understood; the check goes on with the rest. */
export interface FileError {
  file: string;
  line?: number;
  message: string;
}

/** One IPS instance found (per interface), and whether it is on. */
export interface EngineInstance {
  engine: Engine;
  interface: string;
  enabled: boolean;
  mode: BlockMode;
  rulesChecked: number;
  /**
   * Rules that would hit our traffic only if a peer or relay has one of the specific addresses they
   * name (IP reputation lists: ET DROP/CINS/Tor...). Counted, not reported one by one.
   */
  addressDependentRules: number;
}

export interface IpsReport {
  platform: string;
  root: string;
  instances: EngineInstance[];
  findings: Finding[];
  errors: FileError[];
  /** True when at least one finding blocks or may block. */
  blocking: boolean;
  /** False when some file could not be read: "nothing blocks" is then not proven. */
  complete: boolean;
}

export interface RuleHits {
  rule: Rule;
  hits: TrafficHit[];
  notes: string[];
  reasons: string[];
  /** The rule fires only after several matches (threshold/detection_filter). */
  needsRate: boolean;
}

/**
 * Runs every enabled, non-pass rule against every sample; returns the rules that hit something.
 * Rules that could hit only through the specific addresses they name are counted in `stats`.
 */
export function judgeRules(rules: Rule[], samples: SamplePacket[], stats: { addressDependent: number } = { addressDependent: 0 }): RuleHits[] {
  const out: RuleHits[] = [];
  for (const rule of rules) {
    if (!rule.enabled || rule.action === 'pass') continue;
    const byKind = new Map<TrafficKind, TrafficHit>();
    const notes = new Set<string>();
    const reasons = new Set<string>();
    for (const s of samples) {
      const r = matchRule(rule, s.packet);
      if (r.verdict === 'no-match') continue;
      const hit = byKind.get(s.kind) ?? { kind: s.kind, verdict: r.verdict, packets: [] };
      if (r.verdict === 'match') hit.verdict = 'match';
      hit.packets.push(s.name);
      byKind.set(s.kind, hit);
      r.notes.forEach((n) => notes.add(n));
      if (r.verdict === 'unknown') r.reasons.forEach((x) => reasons.add(x));
    }
    if (byKind.size === 0) continue;
    if (reasons.has(ADDRESS_DEPENDENT) && ![...byKind.values()].some((h) => h.verdict === 'match')) {
      stats.addressDependent++;
      continue;
    }
    const hits = TRAFFIC_KINDS.flatMap((k) => (byKind.has(k) ? [byKind.get(k)!] : []));
    out.push({ rule, hits, notes: [...notes], reasons: [...reasons], needsRate: ruleNeedsRate(rule) });
  }
  return out;
}

/** The rule never raises an alert (flowbits:noalert / noalert): engines that block on alerts ignore it. */
export function isSilent(h: RuleHits): boolean {
  return h.notes.some((n) => n.startsWith('noalert') || n.startsWith('flowbits:noalert'));
}

/** Actions that drop the packet in an inline engine (Snort's sdrop drops silently). */
export function isDropAction(action: string): boolean {
  return action === 'drop' || action === 'sdrop' || action.startsWith('reject');
}

/** Severity from "would the engine block on this rule" plus how sure the match is. */
export function severityOf(wouldBlock: boolean | 'maybe', h: Pick<RuleHits, 'hits' | 'needsRate'>): Severity {
  if (wouldBlock === false) return 'alert-only';
  if (wouldBlock === 'maybe') return 'may-block';
  const sure = h.hits.some((x) => x.verdict === 'match') && !h.needsRate;
  return sure ? 'blocks' : 'may-block';
}

/** Short label of what a finding hits, e.g. "STUN, WireGuard". */
export function hitLabel(hits: TrafficHit[]): string {
  const names: Record<TrafficKind, string> = { stun: 'STUN', wireguard: 'WireGuard', relay: 'relay', coordinator: 'coordinator', natpmp: 'NAT-PMP/PCP' };
  return hits.map((h) => names[h.kind] + (h.verdict === 'unknown' ? '?' : '')).join(', ');
}

/** Finding fields taken from a rule: SID, gid, message and where it is written. */
export function ruleFields(rule: Rule): Pick<Finding, 'sid' | 'gid' | 'msg' | 'source'> {
  const file = rule.file ?? 'rules';
  const out: Pick<Finding, 'sid' | 'gid' | 'msg' | 'source'> = { gid: rule.gid, source: `${file}:${rule.line}` };
  if (rule.sid !== undefined) out.sid = rule.sid;
  if (rule.msg !== undefined) out.msg = rule.msg;
  return out;
}

/** The notes every finding carries: unknown reasons and rate conditions. */
export function hitNotes(h: RuleHits): string[] {
  return [...h.reasons.map((r) => `could not evaluate: ${r}`), ...h.notes];
}
