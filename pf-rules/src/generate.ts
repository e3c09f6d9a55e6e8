/**
 * The rule generator: RouterModel + policy + capabilities -> the text of conegate's NAT anchor.
 *
 * Method: mirror. For each selected WAN we copy the appliance's own outbound NAT rules, in PF's
 * evaluation order, restricted to UDP and to our scope, keeping each rule's translation address,
 * pool and port choice, and add `endpoint-independent` (pf.conf(5), FreeBSD 15.0; FreeBSD commit
 * 390dc369, https://reviews.freebsd.org/D11137). Our anchor is evaluated before the appliance's
 * rules (pfSense `natearly/*`, OPNsense head `nat` anchor), and PF's NAT is first-match, so for
 * every UDP packet in scope the first of our rules that matches is the mirror of the rule the
 * appliance would have used: same address, same port range, only the mapping becomes
 * endpoint-independent. Packets outside the scope match none of ours and fall through unchanged.
 * `no nat` exceptions and the admin's `static-port` rules are mirrored as they are, so they keep
 * winning where they did. A rule that cannot be narrowed exactly ends the mirror for that WAN
 * (everything after it falls through to the appliance, still in its own order).
 * Filtering is not touched: PF's filter rules and state matching stay address-and-port-dependent,
 * so nothing inbound is opened (RFC 4787 "port-restricted cone").
 */
import { ConegateError } from '../../agent/src/errors.ts';
import { EIM_ANCHOR } from '../../agent/src/fw/pf-anchors.ts';
import type { NatConfig } from '../../agent/src/config/types.ts';
import type { OutboundRule, Platform, PortRange, RouterModel, WanInterface } from './model.ts';
import { cidrFamily, intersectPorts, narrowHosts, parsePortText, subtractNegated } from './hosts.ts';
import { commentText, renderMatch, renderPool, renderTarget, renderHost } from './render.ts';
import { checkAnchorText } from './grammar.ts';
import type { EimCapability } from './capability.ts';

export type EffectiveMode = 'endpoint-independent' | 'static-port' | 'dynamic' | 'none';

/** What to generate: the `nat` config section's policy fields, and the router's own UDP ports. */
export type NatPolicy = Pick<NatConfig, 'mode' | 'wan' | 'scope'> & {
  /** UDP ports of sockets on the router itself (the mesh port when the router is a mesh node): what
   * it sends from its own WAN address must keep that port for every destination too. */
  ownPorts?: number[];
};

export interface EmittedRule {
  why: string;
  line: string;
}

export interface GenerateResult {
  platform: Platform;
  anchor: string;
  mode: EffectiveMode;
  /** WAN interfaces (ifnames) our rules cover. */
  wans: string[];
  rules: EmittedRule[];
  /** The anchor file: a header, then each rule after a comment saying why it is there. */
  text: string;
  warnings: string[];
}

/** Where each platform evaluates our rules first (pfSense natearly/*, OPNsense head nat anchor): see pf-anchors.ts. */
export const ANCHOR: Record<Platform, string> = EIM_ANCHOR;

function usage(message: string): never {
  throw new ConegateError('CG_CONFIG_INVALID', message);
}

function selectWans(model: RouterModel, policy: NatPolicy, mode: EffectiveMode, warnings: string[]): WanInterface[] {
  if (policy.wan.length) {
    const chosen = policy.wan.map((w) => model.wans.find((x) => x.name === w || x.ifname === w) ?? usage(`nat.wan: "${w}" is not a WAN interface of this router (have: ${model.wans.map((x) => `${x.name}=${x.ifname}`).join(', ')})`));
    if (mode === 'endpoint-independent' && chosen.length > 1)
      warnings.push('endpoint-independent on several WANs: PF keys its mapping table by internal address:port only, so a socket that leaves by a second WAN can be given the first WAN\'s address. Use it only where each socket sticks to one WAN.');
    return chosen;
  }
  const withGw = model.wans.filter((w) => w.hasGateway);
  if (mode === 'endpoint-independent' && withGw.length > 1) {
    warnings.push(`several WANs (${withGw.map((w) => w.name).join(', ')}): endpoint-independent applied to ${withGw[0]!.name} only, because PF's mapping table is global per internal socket; list WANs in nat.wan to choose otherwise.`);
    return withGw.slice(0, 1);
  }
  return withGw;
}

function scopePorts(policy: NatPolicy): PortRange[] | undefined {
  if (!policy.scope.ports.length) return undefined;
  return policy.scope.ports.map((p) => parsePortText(p) ?? usage(`nat.scope.ports: "${p}" is not a port or range`));
}

interface Mirror {
  rule: OutboundRule;
  family: 'inet' | 'inet6';
}

/** One mirrored rule, or 'skip' (no in-scope UDP matches it), or 'stop' (cannot narrow exactly). */
function mirror(m: Mirror, policy: NatPolicy, mode: EffectiveMode, ports: PortRange[] | undefined, warnings: string[]): EmittedRule | 'skip' | 'stop' {
  const r = m.rule;
  const explicit = policy.scope.sources.length > 0;
  const scope = policy.scope.sources.filter((s) => cidrFamily(s) === (m.family === 'inet' ? 4 : 6));
  let source = r.source;
  if (explicit) {
    if (r.source.not) {
      if (r.source.host.kind !== 'cidrs') return 'stop';
      const left = subtractNegated(scope, r.source.host.cidrs);
      if (left === undefined) return 'stop';
      if (left.length === 0) return 'skip';
      source = { host: { kind: 'cidrs', cidrs: left }, not: false, ...(r.source.ports ? { ports: r.source.ports } : {}) };
    } else {
      const n = narrowHosts(r.source.host, scope, true);
      if (!n) return 'skip';
      if (n.assumption) warnings.push(`${r.origin}: ${n.assumption}`);
      source = { ...r.source, host: n.host };
    }
  }
  const srcPorts = intersectPorts(source.ports, ports);
  if (srcPorts && srcPorts.length === 0) return 'skip';
  source = { ...source, ...(srcPorts ? { ports: srcPorts } : {}) };
  const head = `${r.nonat ? 'no nat' : 'nat'} on ${r.ifname} ${m.family} proto udp ${renderMatch('from', source)} ${renderMatch('to', r.destination)}${r.tag ? ` tag ${r.tag}` : ''}${r.tagged ? ` tagged ${r.tagged}` : ''}`;
  if (r.nonat) return { why: `${r.origin}: no-NAT exception, mirrored so it keeps winning over the rules below (first match)`, line: head };
  const target = renderTarget(r.target!);
  const targetWhy = r.target!.kind === 'interface' ? (r.target!.style === 'literal' ? 'interface address as the appliance writes it' : 'interface address, followed as it changes') : `translation address ${target} kept`;
  if (r.staticPort) {
    return { why: `${r.origin}: admin's static-port rule kept as set (${targetWhy}); no endpoint-independent: with static-port it would refuse a second LAN host using the same source port`, line: `${head} -> ${target} ${renderPool({ ...(r.pool ? { pool: r.pool } : {}), endpointIndependent: r.eim, staticPort: true })}` };
  }
  if (mode === 'static-port') {
    return { why: `${r.origin}: static-port for chosen hosts (this PF has no endpoint-independent); ${targetWhy}. Two hosts sending from the same source port to the same destination collide`, line: `${head} -> ${target} ${renderPool({ ...(r.pool ? { pool: r.pool } : {}), staticPort: true })}` };
  }
  return {
    why: `${r.origin}: same translation (${targetWhy}${r.natPorts ? `, ports ${r.natPorts.from}-${r.natPorts.to}` : ''}), mapping made endpoint-independent for UDP`,
    line: `${head} -> ${target} ${renderPool({ ...(r.natPorts ? { ports: r.natPorts } : {}), ...(r.pool ? { pool: r.pool } : {}), endpointIndependent: true })}`.trimEnd(),
  };
}

function resolveMode(policy: NatPolicy, cap: EimCapability): EffectiveMode {
  if (policy.mode === 'auto') return cap.eim ? 'endpoint-independent' : 'dynamic';
  if (policy.mode === 'endpoint-independent' && !cap.eim) throw new ConegateError('CG_UNSUPPORTED', `endpoint-independent NAT is not available here: ${cap.reason}. Use nat.mode "dynamic" or "static-port".`);
  if (policy.mode === 'static-port' && policy.scope.sources.length === 0) usage('nat.mode "static-port" needs nat.scope.sources (the chosen hosts): static-port on whole networks breaks when two hosts use the same source port');
  return policy.mode;
}

/** Generates the anchor text; throws ConegateError (and generates nothing) for a policy that does not fit the router. */
export function generateAnchor(model: RouterModel, policy: NatPolicy, cap: EimCapability): GenerateResult {
  const warnings = [...model.warnings];
  for (const s of policy.scope.sources) cidrFamily(s);
  let mode = resolveMode(policy, cap);
  const ports = scopePorts(policy);
  const wans = selectWans(model, policy, mode, warnings);
  const rules: EmittedRule[] = [];
  if (model.outbound.mode === 'disabled') {
    warnings.push('outbound NAT is disabled on this router: nothing to make endpoint-independent');
    mode = 'none';
  } else {
    rules.push(...ownSocketRules(wans, policy.ownPorts ?? []));
  }
  if (mode === 'endpoint-independent' || mode === 'static-port') {
    for (const w of wans) {
      for (const r of model.outbound.rules.filter((x) => x.ifname === w.ifname)) {
        if (r.protocols !== 'any' && !r.protocols.includes('udp')) continue;
        if (r.family === 'inet6' && !model.ipv6Nat) continue;
        const out = mirror({ rule: r, family: r.family === 'inet6' ? 'inet6' : 'inet' }, policy, mode, ports, warnings);
        if (out === 'skip') continue;
        if (out === 'stop') {
          warnings.push(`${r.origin}: cannot be narrowed to the scope exactly; rules from here on for ${w.name} are left to the appliance`);
          break;
        }
        rules.push(out);
      }
    }
    if (mode === 'static-port')
      warnings.push(`static-port for ${policy.scope.sources.join(', ')}: if two of these hosts send from the same source port to the same destination address and port, the second cannot be translated and its packets are dropped; keep the list to hosts with distinct source ports, or use mode "dynamic"`);
    if (rules.length === 0) warnings.push('no outbound NAT rule of the selected WANs matches UDP in scope: the anchor is empty');
  }
  if (model.anchorHook && (!model.anchorHook.present || !model.anchorHook.first))
    warnings.push(`pf.conf must have 'nat-anchor "${model.anchorHook.anchor}"' before its first nat rule, or these rules never win (PF NAT is first-match)`);
  const anchor = ANCHOR[model.platform];
  const text = renderAnchorFile(model, anchor, mode, wans, rules, cap, policy);
  checkAnchorText(text);
  return { platform: model.platform, anchor, mode, wans: wans.map((w) => w.ifname), rules, text, warnings };
}

/**
 * The router's own sockets: a `nat on $wan from any` rule (common in manual and hybrid outbound NAT)
 * also translates what the router sends from its own WAN address, with a random port per state: the
 * router node's mesh socket would look "hard" to every peer although the LAN's rules are EIM. `no nat`
 * for the WAN's own addresses on those ports keeps the socket's port as it is, which is
 * endpoint-independent by construction and needs no kernel option (every PF version, every mode).
 * Packets the router sends from another address (a LAN address out of the WAN) are not matched and
 * keep the appliance's NAT.
 */
function ownSocketRules(wans: WanInterface[], ports: number[]): EmittedRule[] {
  for (const p of ports) if (!Number.isInteger(p) || p < 1 || p > 65535) throw new ConegateError('CG_CONFIG_INVALID', `own port ${p} is not a port number`);
  return wans.flatMap((w) =>
    [...new Set(ports)].map((p) => ({
      why: `the router's own socket on UDP port ${p} (the mesh port): sent from ${w.ifname}'s own address, kept untranslated so its port is the same for every destination; a "from any" rule would give it a random port per destination`,
      line: `no nat on ${w.ifname} inet proto udp from (${w.ifname}) port ${p} to any`,
    })),
  );
}

function renderAnchorFile(model: RouterModel, anchor: string, mode: EffectiveMode, wans: WanInterface[], rules: EmittedRule[], cap: EimCapability, policy: NatPolicy): string {
  const scope = policy.scope.sources.length ? policy.scope.sources.join(', ') : 'all sources the appliance NATs';
  const header = [
    `# conegate NAT anchor "${anchor}" for ${model.platform} (outbound NAT mode ${model.outbound.mode})`,
    `# mode: ${mode}; WAN: ${wans.map((w) => `${w.name} (${w.ifname})`).join(', ') || 'none'}; UDP from: ${scope}${policy.scope.ports.length ? ` ports ${policy.scope.ports.join(', ')}` : ''}`,
    `# capability: ${cap.reason}`,
    '# Evaluated before the appliance\'s own outbound NAT; first match wins. Filtering is unchanged:',
    '# no inbound port is opened. Undo: conegate pf revert (or pfctl -a ' + anchor + ' -F nat).',
  ];
  if (mode === 'dynamic') header.push('# dynamic mode: per-socket pins are added below by the agent as UDP states appear.');
  const body = rules.flatMap((r) => [`# ${commentText(r.why)}`, r.line]);
  return [...header, ...(body.length ? ['', ...body] : []), ''].join('\n');
}

export { renderHost };
