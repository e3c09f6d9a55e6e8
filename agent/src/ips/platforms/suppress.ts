/**
 * Suricata/Snort threshold files: `suppress gen_id G, sig_id S[, track by_src|by_dst|by_either, ip X]`.
 * A suppression without `track` silences the SID for every address; with one, only for those.
 */
import type { Rule } from '../rules/types.ts';

export interface Suppression {
  gid: number;
  sid: number;
  /** Undefined = every address. */
  track?: string;
  ip?: string;
}

export function parseSuppressions(text: string): Suppression[] {
  const out: Suppression[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^suppress\s+(.*)$/i.exec(line);
    if (!m) continue;
    const fields: Record<string, string> = {};
    for (const part of m[1]!.split(',')) {
      const [k, ...v] = part.trim().split(/\s+/);
      if (k) fields[k.toLowerCase()] = v.join(' ');
    }
    const gid = Number(fields.gen_id ?? '1');
    const sid = Number(fields.sig_id);
    if (!Number.isInteger(gid) || !Number.isInteger(sid)) continue;
    const s: Suppression = { gid, sid };
    if (fields.track) s.track = fields.track;
    if (fields.ip) s.ip = fields.ip;
    out.push(s);
  }
  return out;
}

/** 'all' when the rule is suppressed for every address, 'some' when only for some, else undefined. */
export function suppressionFor(list: Suppression[], rule: Rule): 'all' | 'some' | undefined {
  let some = false;
  for (const s of list) {
    // sig_id 0 with a gen_id suppresses the whole generator.
    if (s.gid !== rule.gid || (s.sid !== 0 && s.sid !== rule.sid)) continue;
    if (s.track === undefined) return 'all';
    some = true;
  }
  return some ? 'some' : undefined;
}
