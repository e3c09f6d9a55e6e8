/**
 * What `conegate pf ...` / `conegate nat ...` share: turning CLI options + the `nat` config section
 * into a policy, a router model, a backend (PF anchor or nftables table) and the generated text.
 * Kept apart from the commander wiring so it can be tested without a process.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConegateError } from '../../errors.ts';
import type { NatConfig } from '../../config/types.ts';
import { detectPlatform, type PlatformInfo } from '../../platform/detect.ts';
import { readConfigXml, readPfConf } from '../../../../pf-rules/src/readers/index.ts';
import { ANCHOR, generateAnchor, type EffectiveMode, type NatPolicy } from '../../../../pf-rules/src/generate.ts';
import { eimCapability, type EimCapability } from '../../../../pf-rules/src/capability.ts';
import { generateNft, NFT_TABLE } from '../../../../pf-rules/src/nft/generate.ts';
import type { Platform, RouterModel } from '../../../../pf-rules/src/model.ts';
import { nftBackend, pfBackend, type RuleBackend } from './backend.ts';
import { detectPfCapabilities } from './detect.ts';
import { anchorFix } from '../pf-anchors.ts';
import type { CommandRunner } from './runner.ts';

export interface NatCliOptions {
  backend?: 'pf' | 'nftables';
  platform?: Platform;
  configXml?: string;
  pfConf?: string;
  mode?: NatConfig['mode'];
  wan?: string[];
  sources?: string[];
  ports?: string[];
  applianceVersion?: string;
  wanAddress?: string;
  stateDir?: string;
  root?: string;
  /** UDP ports of sockets on the router itself (the agent passes its mesh port when it is a mesh node). */
  ownPorts?: number[];
}

export interface Generated {
  backend: 'pf' | 'nftables';
  /** Anchor (PF) or table (nftables). */
  target: string;
  mode: EffectiveMode | 'endpoint-independent';
  platform?: Platform;
  capability?: EimCapability;
  rules: { why: string; line: string }[];
  text: string;
  warnings: string[];
  model?: RouterModel;
  policy: NatPolicy;
}

function usage(message: string): never {
  throw new ConegateError('CG_USAGE', message);
}

export function policyFrom(nat: NatConfig, o: NatCliOptions): NatPolicy {
  return { mode: o.mode ?? nat.mode, wan: o.wan ?? nat.wan, scope: { sources: o.sources ?? nat.scope.sources, ports: o.ports ?? nat.scope.ports }, ...(o.ownPorts?.length ? { ownPorts: o.ownPorts } : {}) };
}

export async function chooseBackend(nat: NatConfig, o: NatCliOptions, info: () => Promise<PlatformInfo>): Promise<'pf' | 'nftables'> {
  if (o.backend) return o.backend;
  if (o.configXml || o.pfConf || o.platform) return 'pf';
  if (nat.backend !== 'auto') return nat.backend;
  const kind = (await info()).kind;
  return kind === 'linux' || kind === 'unifi' ? 'nftables' : 'pf';
}

async function readInput(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw new ConegateError('CG_CONFIG_UNREADABLE', `cannot read ${path}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`, { cause });
  }
}

/** Generates the rules for the chosen backend. `run` is used only for on-host capability detection. */
export async function generateFor(nat: NatConfig, o: NatCliOptions, run: CommandRunner): Promise<Generated> {
  if (o.configXml && o.pfConf) usage('give --config-xml or --pf-conf, not both');
  let info: PlatformInfo | undefined;
  const getInfo = async () => (info ??= await detectPlatform(o.root ?? '/'));
  const policy = policyFrom(nat, o);
  const backend = await chooseBackend(nat, o, getInfo);
  if (backend === 'nftables') {
    if (o.configXml || o.pfConf) usage('--config-xml/--pf-conf describe PF appliances; the nftables backend takes --wan, --sources and --ports');
    if (policy.mode === 'static-port' || policy.mode === 'dynamic') usage(`mode "${policy.mode}" is for PF without endpoint-independent; nftables maps endpoint-independently by itself`);
    const out = generateNft({ wans: policy.wan.map((ifname) => ({ ifname, ...(o.wanAddress ? { address: o.wanAddress } : {}) })), sources: policy.scope.sources, ports: policy.scope.ports, ...(policy.ownPorts ? { ownPorts: policy.ownPorts } : {}) });
    return { backend, target: out.table, mode: 'endpoint-independent', rules: out.rules, text: out.text, warnings: out.warnings, policy };
  }
  let model: RouterModel;
  let cap: EimCapability;
  if (o.configXml || o.pfConf) {
    model = o.configXml ? readConfigXml(await readInput(o.configXml), o.platform) : readPfConf(await readInput(o.pfConf!));
    const version = o.applianceVersion;
    cap = eimCapability({ platform: model.platform, ...(version ? { version } : {}) });
  } else {
    const host = await getInfo();
    if (host.kind !== 'opnsense' && host.kind !== 'pfsense' && host.kind !== 'freebsd')
      usage(`this host is ${host.name}: give --config-xml or --pf-conf to generate PF rules off the appliance, or --backend nftables`);
    const file = host.configXml ? join(o.root ?? '/', host.configXml) : join(o.root ?? '/', 'etc/pf.conf');
    model = host.configXml ? readConfigXml(await readInput(file), host.kind) : readPfConf(await readInput(file));
    const detected = await detectPfCapabilities(host, run);
    cap = o.applianceVersion ? eimCapability({ platform: model.platform, version: o.applianceVersion, ...(detected.parseAccepted !== undefined ? { parseAccepted: detected.parseAccepted } : {}) }) : detected.eim;
    if (!detected.anchorHooked) model.warnings.push(`the loaded ruleset has no nat-anchor for ${detected.anchor}: ${hookAdvice(model.platform)}`);
  }
  const out = generateAnchor(model, policy, cap);
  return { backend, target: out.anchor, mode: out.mode, platform: model.platform, capability: cap, rules: out.rules, text: out.text, warnings: out.warnings, model, policy };
}

export function hookAdvice(p: Platform): string {
  return anchorFix({ type: 'nat', name: ANCHOR[p] }, p);
}

/** Default place for state per platform (config `stateDir` wins). */
export function defaultStateDir(kind: PlatformInfo['kind']): string {
  if (kind === 'unifi') return '/data/conegate';
  if (kind === 'linux' || kind === 'unknown') return '/var/lib/conegate';
  return '/var/db/conegate';
}

export function backendFor(kind: 'pf' | 'nftables', target: string, run: CommandRunner, platform?: Platform): RuleBackend {
  return kind === 'pf' ? pfBackend(run, target, 'pfctl', platform) : nftBackend(run, target);
}

/** The anchor or table a backend owns on a platform, without generating (confirm/revert/status). */
export function targetFor(kind: 'pf' | 'nftables', platform: Platform | undefined): string {
  return kind === 'nftables' ? NFT_TABLE : ANCHOR[platform ?? 'freebsd'];
}
