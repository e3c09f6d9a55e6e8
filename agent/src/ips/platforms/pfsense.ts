/**
 * pfSense's Suricata and Snort packages. Both keep one `rule` element per protected interface in
 * config.xml (Suricata under installedpackages/suricata, Snort under installedpackages/snortglobal)
 * and write the rules each interface loads to its own directory:
 *   /usr/local/etc/suricata/suricata_<uuid>_<nic>/rules/suricata.rules (+ custom.rules)
 *   /usr/local/etc/snort/snort_<uuid>_<nic>/rules/snort.rules (+ custom.rules)
 * The rules file holds the enabled rules with forced actions applied. When it is missing (partial
 * backup) the interface's ruleset files are read from the pool and the SID lists applied here.
 *
 * What blocks (pfSense package source): blocking off = IDS only, nothing blocks, even drop rules.
 * Inline mode: drop/reject rules drop. Legacy mode with blocking on: every alert puts the offender
 * address(es) into pf table snort2c (pass-list addresses excepted), whatever the action word, unless
 * Suricata's block_drops_only limits it to drop rules. Suppression helps only where blocking follows
 * alerts (legacy); in inline mode a suppressed drop rule still drops.
 */
import type { XmlElement } from '../../xml/xml.ts';
import { at, textAt } from '../../xml/xml.ts';
import { all } from './xmlq.ts';
import type { Rule, RuleAction } from '../rules/types.ts';
import { hitLabel, hitNotes, isDropAction, isSilent, judgeRules, ruleFields, severityOf, type BlockMode, type Engine, type Finding, type RuleHits } from '../findings.ts';
import { decodeBase64Text } from './rootfs.ts';
import { meshPassRule, parseRulesText, readRules, sidKey, sidSet, type CheckContext, type PlatformResult } from './context.ts';
import { parseSuppressions, suppressionFor, type Suppression } from './suppress.ts';

interface EngineLayout {
  engine: Engine;
  title: string;
  section: string;
  baseDir: string;
  rulesFile: string;
  pools: string[];
  blockKey: string;
  passListKey: string;
  passListWord: string;
  passListItems: string;
}

const SURICATA: EngineLayout = {
  engine: 'suricata', title: 'Suricata', section: 'installedpackages/suricata', baseDir: '/usr/local/etc/suricata', rulesFile: 'suricata.rules',
  pools: ['/usr/local/share/suricata/rules', '/usr/local/etc/suricata/rules'], blockKey: 'blockoffenders', passListKey: 'passlistname', passListWord: 'Pass Lists', passListItems: 'passlist/item',
};
const SNORT: EngineLayout = {
  engine: 'snort', title: 'Snort', section: 'installedpackages/snortglobal', baseDir: '/usr/local/etc/snort', rulesFile: 'snort.rules',
  pools: ['/usr/local/etc/snort/rules'], blockKey: 'blockoffenders7', passListKey: 'whitelistname', passListWord: 'Pass Lists', passListItems: 'whitelist/item',
};

export const CONFIG_PATHS = ['/cf/conf/config.xml', '/conf/config.xml'];

/** Reads pfSense's config.xml (recording errors); undefined when missing or malformed. */
export async function readPfsenseConfig(ctx: CheckContext): Promise<XmlElement | undefined> {
  for (const p of CONFIG_PATHS) {
    if (await ctx.fs.exists(p)) return ctx.fs.xml(p);
  }
  ctx.fs.error(CONFIG_PATHS[0]!, 'missing: the IPS settings cannot be read');
  return undefined;
}

export async function checkPfsense(ctx: CheckContext, config: XmlElement | undefined): Promise<PlatformResult> {
  const result: PlatformResult = { instances: [], findings: [] };
  if (!config) {
    // Without config.xml the mode is unknown; still judge whatever per-interface rule files exist.
    for (const layout of [SURICATA, SNORT]) {
      for (const dir of (await ctx.fs.list(layout.baseDir)).filter((d) => d.startsWith(`${layout.engine}_`))) {
        await checkInterface(ctx, layout, config, undefined, dir, result);
      }
    }
    return result;
  }
  for (const layout of [SURICATA, SNORT]) {
    for (const iface of all(config, `${layout.section}/rule`)) await checkInterface(ctx, layout, config, iface, undefined, result);
  }
  return result;
}

function modeOf(layout: EngineLayout, iface: XmlElement | undefined): BlockMode {
  if (!iface) return 'unknown';
  if (textAt(iface, layout.blockKey) !== 'on') return 'ids-only';
  return textAt(iface, 'ips_mode') === 'ips_mode_inline' ? 'inline' : 'legacy-blocking';
}

async function interfaceDir(ctx: CheckContext, layout: EngineLayout, config: XmlElement, iface: XmlElement): Promise<string | undefined> {
  const uuid = textAt(iface, 'uuid') ?? '';
  const nic = textAt(config, `interfaces/${textAt(iface, 'interface') ?? ''}/if`);
  const prefix = `${layout.engine}_${uuid}_`;
  if (nic && (await ctx.fs.exists(`${layout.baseDir}/${prefix}${nic}`))) return `${prefix}${nic}`;
  return (await ctx.fs.list(layout.baseDir)).find((d) => d.startsWith(prefix));
}

async function checkInterface(ctx: CheckContext, layout: EngineLayout, config: XmlElement | undefined, iface: XmlElement | undefined, dirName: string | undefined, result: PlatformResult): Promise<void> {
  const name = iface ? (textAt(iface, 'descr') || textAt(iface, 'interface') || '?') : (dirName ?? '?');
  const enabled = iface ? textAt(iface, 'enable') === 'on' : true;
  const mode = modeOf(layout, iface);
  const dir = dirName ?? (config && iface ? await interfaceDir(ctx, layout, config, iface) : undefined);
  const rules = await loadInterfaceRules(ctx, layout, iface, dir, mode);
  const instance = { engine: layout.engine, interface: name, enabled, mode, rulesChecked: rules.filter((r) => r.enabled).length, addressDependentRules: 0 };
  result.instances.push(instance);
  if (!enabled) return;
  const suppressions = await loadSuppressions(ctx, layout, config, iface, dir);
  const passList = iface ? textAt(iface, layout.passListKey) || 'default' : undefined;
  const dropsOnly = layout.engine === 'suricata' && iface !== undefined && textAt(iface, 'block_drops_only') === 'on';
  const blockIp = iface ? textAt(iface, 'blockoffendersip') || 'both' : 'both';
  const stats = { addressDependent: 0 };
  const judged = judgeRules(rules, ctx.samples, stats);
  instance.addressDependentRules = stats.addressDependent;
  for (const h of judged) {
    const supp = suppressionFor(suppressions, h.rule);
    const notes = hitNotes(h);
    let would: boolean | 'maybe';
    let why: string;
    const drop = isDropAction(h.rule.action);
    const hits = hitLabel(h.hits);
    if (mode === 'inline') {
      would = drop;
      why = drop ? `inline IPS mode and the rule's action is ${h.rule.action}: ${hits} packets are dropped` : `inline IPS mode but the rule only alerts: ${hits} packets pass`;
      if (supp && drop) notes.push('the SID is suppressed, but suppression only silences the alert: a drop rule still drops');
    } else if (mode === 'legacy-blocking') {
      if (isSilent(h)) {
        would = false;
        why = 'the rule only sets flowbits (noalert): it raises no alert, so legacy blocking ignores it';
      } else if (dropsOnly && !drop) {
        would = false;
        why = `legacy blocking with "Block On DROP Only": this alert rule does not block`;
      } else if (supp === 'all') {
        continue; // suppressed for every address: no alert, so no block either
      } else {
        const remote = blocksRemote(ctx, h, blockIp);
        would = supp === 'some' || !remote ? 'maybe' : true;
        why = `legacy blocking mode: an alert on ${hits} puts the offender's address (${blockIp}) into the snort2c table for the block period`;
        if (!remote) notes.push(`only the LAN side's address would be blocked (blockoffendersip ${blockIp}); the pass list "${passList ?? 'default'}" normally holds local networks`);
        if (supp === 'some') notes.push('the SID is suppressed for some addresses only');
        notes.push(`addresses in the pass list "${passList ?? 'default'}" are never blocked: if it covers the mesh peers and relays, they are safe`);
      }
    } else if (mode === 'unknown') {
      would = 'maybe';
      why = `config.xml could not be read: blocking may be on (rule action ${h.rule.action})`;
    } else {
      would = false;
      why = `blocking is off on this interface (IDS only): nothing blocks, even drop rules`;
    }
    const finding: Finding = {
      engine: layout.engine, platform: 'pfsense', interface: name, ...ruleFields(h.rule), action: h.rule.action, mode,
      severity: severityOf(would, h), hits: h.hits, why, fix: [], notes,
    };
    finding.fix = pfFixes(layout, finding, h.rule, name, dropsOnly, iface ? textAt(iface, 'suppresslistname') : undefined, ctx.meshPorts);
    if (mode === 'legacy-blocking' && finding.severity !== 'alert-only' && passList && passList !== 'default' && config) {
      // A custom pass list without "WAN IPs" lets the block hit the firewall's own address: its own mesh traffic.
      const item = all(config, `${layout.section}/${layout.passListItems}`).find((i) => textAt(i, 'name') === passList);
      if (item && textAt(item, 'wanips') !== 'yes') finding.fix.push(`Exempt the router's own address: ${'Services > ' + layout.title} > ${layout.passListWord} > edit "${passList}": check "WAN IPs" (this firewall's own addresses), so its own mesh traffic is never blocked.`);
    }
    result.findings.push(finding);
  }
}

/** Does some matching packet put a remote (not LAN) address into the block table? */
function blocksRemote(ctx: CheckContext, h: RuleHits, blockIp: string): boolean {
  const names = new Set(h.hits.flatMap((x) => x.packets));
  return ctx.samples.some((s) => names.has(s.name) && ((blockIp !== 'dst' && s.packet.src.side === 'remote') || (blockIp !== 'src' && s.packet.dst.side === 'remote')));
}

async function loadInterfaceRules(ctx: CheckContext, layout: EngineLayout, iface: XmlElement | undefined, dir: string | undefined, mode: BlockMode): Promise<Rule[]> {
  const base = dir ? `${layout.baseDir}/${dir}/rules` : undefined;
  const loaded = base ? await readRules(ctx, `${base}/${layout.rulesFile}`) : undefined;
  const rules: Rule[] = loaded ?? (iface ? await rulesFromPool(ctx, layout, iface, mode) : []);
  const custom = base ? await readRules(ctx, `${base}/custom.rules`) : undefined;
  if (custom) rules.push(...custom);
  else if (iface && textAt(iface, 'customrules')) {
    const text = decodeBase64Text(textAt(iface, 'customrules')!);
    if (text === undefined) ctx.fs.error(CONFIG_PATHS[0]!, `${layout.section}/rule[${textAt(iface, 'interface') ?? '?'}]/customrules is not valid base64`);
    else rules.push(...parseRulesText(ctx, text, `${CONFIG_PATHS[0]!}:${layout.section}/rule[${textAt(iface, 'interface') ?? '?'}]/customrules`));
  }
  return rules;
}

/** The rules file is missing: rebuild it from the pool with the interface's SID lists. */
async function rulesFromPool(ctx: CheckContext, layout: EngineLayout, iface: XmlElement, mode: BlockMode): Promise<Rule[]> {
  const files = (textAt(iface, 'rulesets') ?? '').split('||').map((s) => s.trim()).filter((s) => s !== '');
  const on = sidSet(textAt(iface, 'rule_sid_on'));
  const off = sidSet(textAt(iface, 'rule_sid_off'));
  // Forced actions only take effect with blocking on (the package applies them then).
  const blocking = mode === 'inline' || mode === 'legacy-blocking';
  const force: [Set<string>, RuleAction][] = blocking ? [[sidSet(textAt(iface, 'rule_sid_force_alert')), 'alert'], [sidSet(textAt(iface, 'rule_sid_force_drop')), 'drop'], [sidSet(textAt(iface, 'rule_sid_force_reject')), 'reject']] : [];
  const out: Rule[] = [];
  for (const file of files) {
    let rules: Rule[] | undefined;
    for (const pool of layout.pools) {
      rules = await readRules(ctx, `${pool}/${file}`);
      if (rules) break;
    }
    if (!rules) {
      ctx.fs.error(`${layout.pools[0]}/${file}`, `ruleset enabled on interface ${textAt(iface, 'interface') ?? '?'} but missing`);
      continue;
    }
    for (const r of rules) {
      const key = sidKey(r);
      const rule = { ...r };
      if (on.has(key)) rule.enabled = true;
      if (off.has(key)) rule.enabled = false;
      for (const [set, action] of force) if (set.has(key)) rule.action = action;
      out.push(rule);
    }
  }
  return out;
}

async function loadSuppressions(ctx: CheckContext, layout: EngineLayout, config: XmlElement | undefined, iface: XmlElement | undefined, dir: string | undefined): Promise<Suppression[]> {
  const listName = iface ? textAt(iface, 'suppresslistname') : undefined;
  if (listName && listName !== 'default' && config) {
    const item = all(config, `${layout.section}/suppress/item`).find((i) => textAt(i, 'name') === listName);
    if (!item) ctx.fs.error(CONFIG_PATHS[0]!, `suppress list "${listName}" of interface ${textAt(iface, 'interface') ?? '?'} is not defined`);
    else {
      const text = decodeBase64Text(textAt(item, 'suppresspassthru') ?? '');
      if (text === undefined) ctx.fs.error(CONFIG_PATHS[0]!, `suppress list "${listName}": suppresspassthru is not valid base64`);
      else return parseSuppressions(text);
    }
  }
  // Not in config.xml (or unreadable there): fall back to the file the engine loaded.
  // The interface's file is what the engine loaded (Suricata: threshold.config; Snort: supp<listname>).
  const name = layout.engine === 'suricata' ? 'threshold.config' : listName ? `supp${listName}` : undefined;
  const file = dir && name ? await ctx.fs.text(`${layout.baseDir}/${dir}/${name}`) : undefined;
  return file ? parseSuppressions(file) : [];
}

function pfFixes(layout: EngineLayout, f: Finding, rule: Rule, iface: string, dropsOnly: boolean, suppressList: string | undefined, meshPorts: number[]): string[] {
  const menu = `Services > ${layout.title}`;
  const id = `${f.gid ?? 1}:${f.sid ?? 0}`;
  const rulesPage = `${menu} > Interfaces > edit ${iface} > ${iface} Rules`;
  // Custom rules are written verbatim into the interface's rules: SID lists do not reach them.
  const custom = (rule.file ?? '').includes('custom');
  const where = custom ? `${rulesPage}, category custom.rules` : rulesPage;
  if (f.severity === 'alert-only') {
    return [custom ? `Nothing blocks. To stop the alerts: ${where}: delete or comment out SID ${id}, then Save.` : `Nothing blocks. To stop the alerts: ${rulesPage}: disable SID ${id}.`];
  }
  const out: string[] = [];
  if (f.mode === 'inline') {
    out.push(custom
      ? `${where}: change SID ${id}'s action from ${rule.action} to alert (or delete it), then Save and restart ${layout.title} on ${iface}.`
      : `${rulesPage}: set SID ${id} to Alert (force alert, rule_sid_force_alert) or disable it (rule_sid_off), then Save and restart ${layout.title} on ${iface}. Suppressing it does not help in inline mode.`);
    out.push(`Or add a pass rule to ${iface}'s custom rules: ${meshPassRule(meshPorts, 9_000_001)}`);
    return out;
  }
  const list = suppressList && suppressList !== 'default' ? `the list "${suppressList}"` : `a suppress list and select it as ${iface}'s Suppress List`;
  if (custom) out.push(`${where}: delete or comment out SID ${id} (in legacy mode every alert blocks, so changing the action word does not help), then Save.`);
  out.push(`${menu} > Suppress: add "suppress gen_id ${f.gid ?? 1}, sig_id ${f.sid ?? 0}" to ${list} (or use the suppress icon on ${menu} > Alerts).`);
  if (!custom) out.push(`Or ${rulesPage}: disable SID ${id} (rule_sid_off).`);
  out.push(`Or ${menu} > ${layout.passListWord}: add the mesh peers and relays to ${iface}'s pass list, so they are never blocked.`);
  if (layout.engine === 'suricata' && !dropsOnly && !isDropAction(rule.action)) out.push(`Or check "Block On DROP Only" on ${iface}: alert rules then no longer block.`);
  return out;
}
