/**
 * UniFi OS Threat Management / CyberSecure. The vendor publishes no source: the layout here is the
 * reported one (appliance-facts.md) and the reader is lenient about shapes, naming the file when it
 * cannot understand one.
 *   /data/udapi-config/ubios-udapi-server/ubios-udapi-server.state, else /data/udapi-config/udapi-net-cfg.json:
 *     services.idsIps { enabled, mode, signatures [{category, action block|alert}], suppress, interfaces }
 *   /run/ips/config/daemon_config.json { block_category, block_sid, block_time }
 *   /run/ips/config/config.json (alert/drop categories and SIDs, whitelist), threshold.config
 *   /run/ips/rules/suricata.ui_rules: the rules Suricata runs.
 * Suricata runs in pcap mode on the LAN bridges and a vendor daemon blocks on alerts in blocked
 * categories or SIDs, so suppression and the Allow List do lift a block here.
 */
import type { Rule } from '../rules/types.ts';
import { hitLabel, hitNotes, isSilent, judgeRules, ruleFields, severityOf, type BlockMode, type Finding } from '../findings.ts';
import { TRAFFIC_KINDS } from '../traffic.ts';
import { readRules, type CheckContext, type PlatformResult } from './context.ts';
import { parseSuppressions, suppressionFor, type Suppression } from './suppress.ts';

const STATE = '/data/udapi-config/ubios-udapi-server/ubios-udapi-server.state';
const NET_CFG = '/data/udapi-config/udapi-net-cfg.json';
const RUN = '/run/ips/config';
const UI_RULES = '/run/ips/rules/suricata.ui_rules';
const MENU = 'UniFi Network > Settings > CyberSecure (Security) > Intrusion Prevention';

/** Categories whose ET rules are known to cover STUN or peer-to-peer traffic (STUN rules live in emerging-info). */
const P2P_RELEVANT = new Set(['P2P', 'INFO', 'POLICY', 'TOR']);

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** "emerging-p2p", "p2p", "P2P" -> "P2P". */
export function normalizeCategory(c: string): string {
  return c.trim().replace(/^emerging[-_]/i, '').replace(/\.rules$/, '').replace(/-/g, '_').toUpperCase();
}

/** The category of an ET-style rule from its message prefix ("ET P2P ...", "GPL POLICY ..."). */
export function categoryOfRule(rule: Rule): string | undefined {
  const m = /^(?:ET|ETPRO|GPL)\s+([A-Z0-9_]+)/.exec(rule.msg ?? '');
  return m ? m[1] : undefined;
}

interface UnifiSettings {
  enabled: boolean;
  mode: BlockMode;
  modeText: string;
  blockCategories: Set<string>;
  alertCategories: Set<string>;
  blockSids: Set<number>;
  suppress: Suppression[];
  allowList: string[];
  interfaces: string;
}

function modeFrom(text: string): BlockMode {
  const t = text.toLowerCase();
  if (t.includes('blocking') || t === 'ips' || t === 'ipsinline') return 'alert-blocking';
  if (t.includes('ids') || t.includes('detect') || t.includes('alert') || t.includes('notify')) return 'ids-only';
  return 'unknown';
}

async function readSettings(ctx: CheckContext): Promise<UnifiSettings | undefined> {
  let ids: Json | undefined;
  for (const path of [STATE, NET_CFG]) {
    const doc = await ctx.fs.json(path);
    if (doc === undefined) continue;
    const services = isObj(doc) ? doc.services : undefined;
    const found = isObj(services) ? services.idsIps : undefined;
    if (!isObj(found)) {
      ctx.fs.error(path, 'no services.idsIps object');
      continue;
    }
    ids = found;
    break;
  }
  const daemon = await ctx.fs.json(`${RUN}/daemon_config.json`);
  const runtime = await ctx.fs.json(`${RUN}/config.json`);
  if (!ids && !isObj(daemon) && !isObj(runtime)) return undefined;
  const s: UnifiSettings = {
    enabled: ids ? ids.enabled !== false : true,
    mode: 'unknown',
    modeText: ids && typeof ids.mode === 'string' ? ids.mode : '',
    blockCategories: new Set(),
    alertCategories: new Set(),
    blockSids: new Set(),
    suppress: [],
    allowList: [],
    interfaces: '',
  };
  if (ids) {
    s.mode = modeFrom(s.modeText);
    if (s.mode === 'unknown') ctx.fs.error(STATE, `services.idsIps.mode "${s.modeText}" not understood`);
    for (const sig of arr(ids.signatures)) {
      if (!isObj(sig) || typeof sig.category !== 'string') continue;
      (sig.action === 'block' ? s.blockCategories : s.alertCategories).add(normalizeCategory(sig.category));
    }
    readSuppress(ids.suppress, s);
    const ifs = arr(ids.interfaces).length > 0 ? arr(ids.interfaces) : arr(ids.netAddresses);
    s.interfaces = ifs.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(', ');
  }
  if (isObj(daemon)) {
    for (const c of arr(daemon.block_category)) if (typeof c === 'string') s.blockCategories.add(normalizeCategory(c));
    for (const sid of arr(daemon.block_sid)) if (Number.isInteger(Number(sid))) s.blockSids.add(Number(sid));
    if (!ids) s.mode = 'alert-blocking';
  } else if (daemon !== undefined) ctx.fs.error(`${RUN}/daemon_config.json`, 'expected a JSON object');
  if (isObj(runtime)) {
    for (const [key, value] of Object.entries(runtime)) {
      const blocking = /drop|block/i.test(key);
      if (!isObj(value)) continue;
      for (const c of arr(value.categories)) if (typeof c === 'string') (blocking ? s.blockCategories : s.alertCategories).add(normalizeCategory(c));
      if (blocking) for (const sid of arr(value.sids)) if (Number.isInteger(Number(sid))) s.blockSids.add(Number(sid));
    }
    for (const w of arr(runtime.whitelist)) s.allowList.push(typeof w === 'string' ? w : JSON.stringify(w));
  }
  // The allow list as the daemon loaded it: a list of addresses, or an object holding such lists.
  const reputation = await ctx.fs.json(`${RUN}/ip_reputation.json`);
  const rep = Array.isArray(reputation) ? reputation : isObj(reputation) ? Object.values(reputation).flatMap(arr) : [];
  for (const w of rep) if (typeof w === 'string' && !s.allowList.includes(w)) s.allowList.push(w);
  const threshold = await ctx.fs.text(`${RUN}/threshold.config`);
  if (threshold) s.suppress.push(...parseSuppressions(threshold));
  return s;
}

function readSuppress(v: unknown, s: UnifiSettings): void {
  const alerts = isObj(v) ? arr(v.alerts) : arr(v);
  for (const a of alerts) {
    if (!isObj(a)) continue;
    const sid = Number(a.id ?? a.sid);
    if (!Number.isInteger(sid)) continue;
    const entry: Suppression = { gid: Number(a.gid ?? 1) || 1, sid };
    if (a.type === 'track') entry.track = 'by_either';
    s.suppress.push(entry);
  }
  if (isObj(v)) for (const w of arr(v.whitelist)) s.allowList.push(isObj(w) ? `${String(w.value ?? '?')} (${String(w.direction ?? 'both')})` : String(w));
}

export async function checkUnifi(ctx: CheckContext): Promise<PlatformResult> {
  const result: PlatformResult = { instances: [], findings: [] };
  const s = await readSettings(ctx);
  const rules = await readRules(ctx, UI_RULES);
  if (!s && !rules) return result;
  const settings = s ?? { enabled: true, mode: 'unknown' as BlockMode, modeText: '', blockCategories: new Set<string>(), alertCategories: new Set<string>(), blockSids: new Set<number>(), suppress: [], allowList: [], interfaces: '' };
  const iface = settings.interfaces || 'LAN networks';
  const instance = { engine: 'unifi' as const, interface: iface, enabled: settings.enabled, mode: settings.mode, rulesChecked: (rules ?? []).filter((r) => r.enabled).length, addressDependentRules: 0 };
  result.instances.push(instance);
  if (!settings.enabled) return result;
  const baseNotes = ['traffic the gateway itself sends is not inspected: this hits mesh nodes on the LAN, not conegate running on the gateway'];
  if (settings.allowList.length > 0) baseNotes.push(`Allow List entries (${settings.allowList.join(', ')}) are never blocked: if they cover the mesh hosts, they are safe`);
  if (rules) {
    const stats = { addressDependent: 0 };
    const judged = judgeRules(rules, ctx.samples, stats);
    instance.addressDependentRules = stats.addressDependent;
    for (const h of judged) {
      const category = categoryOfRule(h.rule);
      const supp = suppressionFor(settings.suppress, h.rule);
      if (supp === 'all') continue;
      const blockedBy = h.rule.sid !== undefined && settings.blockSids.has(h.rule.sid) ? `SID ${h.rule.sid} is set to block` : category && settings.blockCategories.has(category) ? `category ${category} is set to block` : undefined;
      // The vendor daemon blocks on alerts: a noalert rule never triggers it.
      let would: boolean | 'maybe' = settings.mode === 'alert-blocking' && blockedBy !== undefined && !isSilent(h);
      if (settings.mode === 'unknown' && blockedBy) would = 'maybe';
      if (would === true && supp === 'some') would = 'maybe';
      const why = settings.mode === 'ids-only' ? `detection only (mode ${settings.modeText || '?'}): nothing blocks` : blockedBy ? `${blockedBy}: an alert on ${hitLabel(h.hits)} blocks the offender for the block time` : `the rule's category ${category ?? '?'} only notifies`;
      const finding: Finding = {
        engine: 'unifi', platform: 'unifi', interface: iface, ...ruleFields(h.rule), action: blockedBy ? 'block' : 'alert', mode: settings.mode,
        severity: severityOf(would, h), hits: h.hits, why, fix: [], notes: [...hitNotes(h), ...baseNotes],
      };
      if (category) finding.category = category;
      finding.fix = unifiFixes(finding, blockedBy?.startsWith('SID') === true);
      result.findings.push(finding);
    }
  } else if (settings.mode !== 'ids-only') {
    // No rules file (settings-only backup): judge by category.
    for (const category of [...settings.blockCategories].filter((c) => P2P_RELEVANT.has(c)).sort()) {
      const finding: Finding = {
        engine: 'unifi', platform: 'unifi', interface: iface, source: `${STATE} services.idsIps.signatures`, category, action: 'block', mode: settings.mode,
        severity: 'may-block', hits: TRAFFIC_KINDS.filter((k) => k === 'stun' || k === 'wireguard').map((kind) => ({ kind, verdict: 'unknown' as const, packets: [] })),
        why: `category ${category} is set to block and its rules cover STUN/peer-to-peer traffic; the rules file ${UI_RULES} is not in this tree, so single rules could not be checked`,
        fix: [], notes: baseNotes,
      };
      finding.fix = unifiFixes(finding, false);
      result.findings.push(finding);
    }
  }
  return result;
}

function uiGroup(category: string | undefined): string {
  return category === 'P2P' || category === 'TOR' ? 'Peer to Peer and Dark Web' : (category ?? 'its category');
}

function unifiFixes(f: Finding, bySid: boolean): string[] {
  if (f.severity === 'alert-only') return [`Nothing blocks. To stop the notifications: ${MENU} > Signature Suppression: add SID ${f.sid ?? '?'}.`];
  const suppress = f.sid !== undefined ? `${MENU} > Signature Suppression: add SID ${f.sid} (gid ${f.gid ?? 1}) for all traffic.` : undefined;
  const category = `${MENU}: set the category "${uiGroup(f.category)}" to notify only (or turn it off).`;
  const out: string[] = [];
  // A SID set to block on its own is lifted by suppressing it; its category setting does not matter.
  if (bySid && suppress) out.push(suppress);
  else {
    out.push(category);
    if (suppress) out.push(`Or ${suppress}`);
  }
  out.push(`Or ${MENU} > Allow List: add the mesh host's address (direction both).`);
  return out;
}
