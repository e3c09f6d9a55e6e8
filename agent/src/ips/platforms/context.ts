/** What every platform reader gets and gives back. */
import type { EngineInstance, Finding } from '../findings.ts';
import type { SamplePacket } from '../traffic.ts';
import type { RootFs } from './rootfs.ts';
import { parseRuleFile } from '../rules/parse.ts';
import type { Rule } from '../rules/types.ts';

export interface CheckContext {
  fs: RootFs;
  samples: SamplePacket[];
  meshPorts: number[];
  relayPorts: number[];
}

export interface PlatformResult {
  instances: EngineInstance[];
  findings: Finding[];
}

/** Reads and parses one rule file; parse errors go to the file's error list. Undefined when missing. */
export async function readRules(ctx: CheckContext, path: string): Promise<Rule[] | undefined> {
  const text = await ctx.fs.text(path);
  if (text === undefined) return undefined;
  return parseRulesText(ctx, text, path);
}

/** Parses rule text that came from `path` (a file or a config field), recording per-line errors. */
export function parseRulesText(ctx: CheckContext, text: string, path: string): Rule[] {
  const { rules, errors } = parseRuleFile(text, path);
  for (const e of errors) ctx.fs.error(path, `rule not understood: ${e.message}`, e.line);
  return rules;
}

/** "2016149", "1:2016149", "gid:sid" lists joined by "||" or ",": the set of "gid:sid" keys. */
export function sidSet(value: string | undefined): Set<string> {
  const out = new Set<string>();
  for (const part of (value ?? '').split(/\|\||,|\s+/)) {
    const p = part.trim();
    if (p === '') continue;
    out.add(p.includes(':') ? p : `1:${p}`);
  }
  return out;
}

export function sidKey(rule: Rule): string {
  return `${rule.gid}:${rule.sid ?? 0}`;
}

/** A pass rule for the mesh port, in the rule syntax, for fixes that add one. */
export function meshPassRule(meshPorts: number[], sid: number): string {
  const ports = meshPorts.length === 1 ? String(meshPorts[0]) : `[${meshPorts.join(',')}]`;
  return `pass udp $HOME_NET ${ports} <> $EXTERNAL_NET any (msg:"conegate mesh traffic"; sid:${sid}; rev:1;)`;
}
