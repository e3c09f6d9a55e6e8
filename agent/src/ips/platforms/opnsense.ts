/**
 * OPNsense's built-in Suricata. Settings in /conf/config.xml under opnsense/OPNsense/IDS; the rules
 * Suricata loads are /usr/local/etc/suricata/opnsense.rules/*.rules, rebuilt on "Apply" with the
 * effective action already written in (policies and per-SID adjustments applied, disabled rules
 * commented out). When that copy is missing (a partial backup) the effective action is computed
 * from the downloaded files the same way: original line -> first matching enabled policy by prio ->
 * per-SID adjustment (rules/rule).
 */
import type { XmlElement } from '../../xml/xml.ts';
import { at, textAt } from '../../xml/xml.ts';
import { all } from './xmlq.ts';
import type { Rule, RuleAction } from '../rules/types.ts';
import { hitLabel, hitNotes, isDropAction, judgeRules, ruleFields, severityOf, type BlockMode, type Finding } from '../findings.ts';
import { meshPassRule, readRules, type CheckContext, type PlatformResult } from './context.ts';

const CONFIG = '/conf/config.xml';
const INSTALLED_DIR = '/usr/local/etc/suricata/opnsense.rules';
const DOWNLOAD_DIR = '/usr/local/etc/suricata/rules';
const MENU = 'Services > Intrusion Detection > Administration';

interface Policy {
  description: string;
  prio: number;
  rulesets: string[];
  actions: string[];
  content: string[];
  newAction: string;
}

interface Adjustment {
  enabled: boolean;
  action: string | undefined;
}

/** Up to 25.7 `general/ips` 1 = inline (netmap); from 26.1 `general/mode` pcap | netmap | divert. */
export function opnsenseMode(general: XmlElement | undefined): BlockMode {
  const mode = textAt(general, 'mode');
  if (mode) return mode === 'netmap' || mode === 'divert' ? 'inline' : 'ids-only';
  return textAt(general, 'ips') === '1' ? 'inline' : 'ids-only';
}

function readPolicies(ids: XmlElement | undefined, fileNames: Map<string, string>): Policy[] {
  const list = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  return all(ids, 'policies/policy')
    .filter((p) => textAt(p, 'enabled') === '1')
    .map((p) => ({
      description: textAt(p, 'description') ?? '',
      prio: Number(textAt(p, 'prio') ?? '0') || 0,
      // The GUI stores ruleset references by file uuid; accept plain file names too.
      rulesets: list(textAt(p, 'rulesets')).map((r) => fileNames.get(r) ?? r),
      actions: list(textAt(p, 'action')),
      content: list(textAt(p, 'content')),
      newAction: textAt(p, 'new_action') || 'default',
    }))
    .sort((a, b) => a.prio - b.prio);
}

function policyMatches(p: Policy, rule: Rule, fileName: string): boolean {
  if (p.rulesets.length > 0 && !p.rulesets.includes(fileName)) return false;
  if (p.actions.length > 0 && !p.actions.includes(rule.action)) return false;
  if (p.content.length > 0) {
    // "metadatakey.value": any listed pair present in the rule's metadata.
    const ok = p.content.some((kv) => {
      const dot = kv.indexOf('.');
      const key = kv.slice(0, dot);
      const value = kv.slice(dot + 1).toLowerCase();
      return (rule.metadata[key] ?? []).some((v) => v.toLowerCase() === value);
    });
    if (!ok) return false;
  }
  return true;
}

function readAdjustments(ids: XmlElement | undefined): Map<number, Adjustment> {
  const out = new Map<number, Adjustment>();
  for (const r of all(ids, 'rules/rule')) {
    const sid = Number(textAt(r, 'sid'));
    if (!Number.isInteger(sid)) continue;
    out.set(sid, { enabled: textAt(r, 'enabled') !== '0', action: textAt(r, 'action') || undefined });
  }
  return out;
}

interface Effective {
  rule: Rule;
  policy?: Policy;
  adjusted: boolean;
}

/** The download-copy path: apply policies then adjustments to the original lines. */
function effectiveFromDownloads(rules: Rule[], fileName: string, policies: Policy[], adj: Map<number, Adjustment>): Effective[] {
  return rules.map((orig) => {
    const rule: Rule = { ...orig };
    const e: Effective = { rule, adjusted: false };
    const policy = policies.find((p) => policyMatches(p, orig, fileName));
    if (policy && policy.newAction !== 'default') {
      e.policy = policy;
      // A policy changes the action of the rules it selects; it does not enable disabled ones.
      if (policy.newAction === 'disable') rule.enabled = false;
      else rule.action = policy.newAction as RuleAction;
    }
    const a = orig.sid === undefined ? undefined : adj.get(orig.sid);
    if (a) {
      e.adjusted = true;
      rule.enabled = a.enabled;
      if (a.action) {
        rule.action = a.action as RuleAction;
        delete e.policy; // the adjustment, not the policy, decides the action now
      }
    }
    return e;
  });
}

async function explainFromDownloads(ctx: CheckContext, name: string, policies: Policy[], adj: Map<number, Adjustment>): Promise<Map<number, Effective>> {
  const path = `${DOWNLOAD_DIR}/${name}`;
  if (!(await ctx.fs.exists(path))) return new Map();
  const rules = (await readRules(ctx, path)) ?? [];
  return new Map(effectiveFromDownloads(rules, name, policies, adj).filter((e) => e.rule.sid !== undefined).map((e) => [e.rule.sid!, e]));
}

export async function checkOpnsense(ctx: CheckContext): Promise<PlatformResult> {
  const config = await ctx.fs.xml(CONFIG);
  if (!config && !(await ctx.fs.exists(CONFIG))) ctx.fs.error(CONFIG, 'missing: the IDS mode (inline or not) cannot be told');
  const ids = at(config, 'OPNsense/IDS');
  const general = at(ids, 'general');
  const enabled = config ? textAt(general, 'enabled') === '1' : true;
  const mode: BlockMode = config ? opnsenseMode(general) : 'unknown';
  const iface = textAt(general, 'interfaces') || 'all IDS interfaces';
  const fileNames = new Map(all(ids, 'files/file').map((f) => [f.attrs.uuid ?? '', textAt(f, 'filename') ?? '']));
  const policies = readPolicies(ids, fileNames);
  const adj = readAdjustments(ids);

  const effective: Effective[] = [];
  const installed = (await ctx.fs.list(INSTALLED_DIR)).filter((n) => n.endsWith('.rules'));
  if (installed.length > 0) {
    for (const name of installed) {
      // The download copy, when present, tells which policy or adjustment made the loaded action.
      const origin = await explainFromDownloads(ctx, name, policies, adj);
      for (const rule of (await readRules(ctx, `${INSTALLED_DIR}/${name}`)) ?? []) {
        const o = rule.sid === undefined ? undefined : origin.get(rule.sid);
        const e: Effective = { rule, adjusted: rule.sid !== undefined && adj.has(rule.sid) };
        if (o?.policy && o.rule.action === rule.action) e.policy = o.policy;
        effective.push(e);
      }
    }
  } else {
    const enabledFiles = all(ids, 'files/file').filter((f) => textAt(f, 'enabled') === '1').map((f) => textAt(f, 'filename') ?? '');
    for (const name of enabledFiles) {
      const rules = await readRules(ctx, `${DOWNLOAD_DIR}/${name}`);
      if (rules === undefined) ctx.fs.error(`${DOWNLOAD_DIR}/${name}`, 'enabled in config.xml but missing');
      else effective.push(...effectiveFromDownloads(rules, name, policies, adj));
    }
  }

  const passRules = all(ids, 'userDefinedRules/rule').filter((r) => textAt(r, 'enabled') !== '0' && textAt(r, 'action') === 'pass');
  const rules = effective.map((e) => e.rule);
  const instance = { engine: 'suricata' as const, interface: iface, enabled, mode, rulesChecked: rules.filter((r) => r.enabled).length, addressDependentRules: 0 };
  const result: PlatformResult = { instances: [instance], findings: [] };
  if (!enabled) return result;
  const bySid = new Map(effective.map((e) => [e.rule, e]));
  const stats = { addressDependent: 0 };
  const judged = judgeRules(rules, ctx.samples, stats);
  instance.addressDependentRules = stats.addressDependent;
  for (const h of judged) {
    const e = bySid.get(h.rule)!;
    const drop = isDropAction(h.rule.action);
    const would = mode === 'inline' ? drop : mode === 'unknown' ? (drop ? 'maybe' : false) : false;
    const notes = hitNotes(h);
    for (const p of passRules) notes.push(`user-defined pass rule "${textAt(p, 'description') ?? ''}" (${textAt(p, 'source') || 'any'} -> ${textAt(p, 'destination') || 'any'}) wins over this rule for the hosts it covers`);
    const a = h.rule.sid === undefined ? undefined : adj.get(h.rule.sid);
    if (installed.length > 0 && a && a.action && a.action !== h.rule.action) notes.push(`config.xml sets action ${a.action} for this SID but the loaded rules still say ${h.rule.action}: press Apply`);
    const finding: Finding = {
      engine: 'suricata', platform: 'opnsense', interface: iface, ...ruleFields(h.rule), action: h.rule.action, mode,
      severity: severityOf(would, h), hits: h.hits, why: whyText(mode, h.rule.action, hitLabel(h.hits), e), fix: [], notes,
    };
    finding.fix = fixes(finding, e, ctx.meshPorts);
    result.findings.push(finding);
  }
  return result;
}

function whyText(mode: BlockMode, action: string, hits: string, e: Effective): string {
  const origin = e.policy ? ` (set by policy "${e.policy.description}")` : e.adjusted ? ' (set by a rule adjustment)' : '';
  if (mode === 'inline') return isDropAction(action) ? `inline IPS mode and the rule's action is ${action}${origin}: ${hits} packets are dropped` : `inline IPS mode but the rule only alerts${origin}: ${hits} packets pass`;
  if (mode === 'unknown') return `rule action ${action}${origin}; whether IPS mode is on could not be read`;
  return `IDS mode (not inline): the rule can only alert, ${hits} packets pass`;
}

function fixes(f: Finding, e: Effective, meshPorts: number[]): string[] {
  const sid = f.sid ?? 0;
  if (f.severity === 'alert-only') return [`Nothing blocks. To stop the alerts: ${MENU} > Rules, search SID ${sid}, disable it, then Apply.`];
  const out = [`${MENU} > Rules: search SID ${sid}, set its action to Alert (or disable it), then Apply.`];
  if (e.policy) out.push(`Services > Intrusion Detection > Policy: the policy "${e.policy.description}" (priority ${e.policy.prio}) turns this rule into ${e.policy.newAction}; exclude its ruleset or set the policy's new action to Alert.`);
  out.push(`${MENU} > User defined: add a rule with action Pass and Bypass checked for the mesh peers and relays, or this router's own address when conegate runs on it (source/destination), so Suricata stops inspecting that traffic; for the mesh port as a rule: ${meshPassRule(meshPorts, 9_000_001)}`);
  return out;
}
