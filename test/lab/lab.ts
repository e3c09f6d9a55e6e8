/**
 * The lab: build a topology from a declarative spec, find every address, run commands and processes
 * in its namespaces, change router rulesets, and tear it all down (idempotent, also at process exit).
 *
 *   const lab = await createLab({ sites: [{ name: 'a', nat: 'symmetric' }], servers: ['s1', 's2'] });
 *   try { await lab.exec('a.h1', ['ping', '-c1', '-W1', lab.addr('s1')], { check: true }); }
 *   finally { await lab.destroy(); }
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConegateError } from '../../agent/src/errors.ts';
import { parseIPv4 } from '../../agent/src/net/ip.ts';
import { buildPlan } from './build.ts';
import { conegateArgv } from '../conegate.ts';
import { newLabId, netnsName, uniqueIfname } from './names.ts';
import { LAB_TABLE, routerRuleset } from './nat-rules.ts';
import { planLab, type IfaceInfo, type NodeKind, type PlanNode } from './plan.ts';
import { execIn, spawnIn, type ExecOptions, type ExecResult, type LabProcess, type SpawnOptions } from './proc.ts';
import { normalizeSpec, resolveNat, type LabSpec, type NatPresetName, type NatSpec, type NormalizedSpec } from './spec.ts';

/** What the lab knows about one node. */
export interface LabNode {
  name: string;
  kind: NodeKind;
  netns: string;
  /** Main IPv4: LAN address of a host, WAN address of a router/ISP, primary address of a server. */
  addr4?: string;
  addr6?: string;
  /** Servers: the alternate IPv4 address (another network, same host: RFC 5780 "other address"). */
  alt4?: string;
  /** Routers and ISPs: WAN (uplink) and LAN (bridge) interfaces with their addresses. */
  wan?: IfaceInfo;
  lan?: IfaceInfo;
  /** Routers and ISPs: the NAT behaviour currently loaded by the lab (changed by setNat). */
  nat?: Required<NatSpec>;
  /** Every interface of the node. */
  ifaces: IfaceInfo[];
  /** Default gateways. */
  gw4?: string;
  gw6?: string;
  /** The node it hangs off (its router, ISP or `inet`); none for `inet`. */
  upstream?: string;
}

const liveLabs = new Set<Lab>();
let exitHookInstalled = false;

/**
 * Last-resort cleanup when the process exits without destroy(): SIGKILL by PID, delete namespaces.
 * 'exit' does not fire when a signal ends the process (a test runner cancelling a file), so SIGINT,
 * SIGTERM and SIGHUP get the same cleanup, then the signal's default action, unless the program
 * handles that signal itself (the CLI does, and calls destroyAllLabs()).
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const lab of liveLabs) lab.destroySync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      if (process.listenerCount(sig) > 1) return;
      for (const lab of liveLabs) lab.destroySync();
      process.off(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

export class Lab {
  readonly id: string;
  readonly spec: NormalizedSpec;
  private readonly planNodes: Map<string, PlanNode>;
  private readonly natNow = new Map<string, Required<NatSpec>>();
  private readonly routerInput = new Map<string, { udp: number[]; tcp: number[]; from: string[] }>();
  private readonly namespaces: string[] = [];
  private readonly procs = new Set<LabProcess>();
  private ifCounter = 0;
  private destroying: Promise<void> | undefined;
  private work: string | undefined;

  /** Use createLab(); the constructor only plans. */
  constructor(spec: NormalizedSpec, id = newLabId()) {
    this.id = id;
    this.spec = spec;
    this.planNodes = new Map(planLab(this.spec).nodes.map((n) => [n.name, n]));
    for (const n of this.planNodes.values()) if (n.nat) this.natNow.set(n.name, n.nat);
  }

  /** Builds every namespace. On failure everything made so far is removed and the error rethrown. */
  async build(): Promise<void> {
    liveLabs.add(this);
    installExitHook();
    try {
      await buildPlan({ nodes: [...this.planNodes.values()] }, (n) => this.netns(n), (ns) => this.namespaces.push(ns));
    } catch (err) {
      await this.destroy();
      throw err;
    }
  }

  /** Names of every node, in build order. */
  nodeNames(): string[] {
    return [...this.planNodes.keys()];
  }

  private plan(name: string): PlanNode {
    const n = this.planNodes.get(name);
    if (!n) throw new ConegateError('CG_USAGE', `lab: no node "${name}" (nodes: ${this.nodeNames().join(', ')})`);
    return n;
  }

  /** The namespace name of a node. */
  netns(name: string): string {
    this.plan(name);
    return netnsName(this.id, name);
  }

  /** Everything known about a node. */
  node(name: string): LabNode {
    const n = this.plan(name);
    const ifaces: IfaceInfo[] = [];
    const strip = (i: IfaceInfo): IfaceInfo => ({ name: i.name, ...(i.v4 ? { v4: i.v4, v4Prefix: i.v4Prefix } : {}), ...(n.ipv6 && i.v6 ? { v6: i.v6, v6Prefix: i.v6Prefix } : {}) });
    if (n.uplink) ifaces.push(strip(n.uplink));
    if (n.bridge) ifaces.push(strip(n.bridge));
    const main = n.uplink ?? n.bridge!;
    const out: LabNode = { name, kind: n.kind, netns: this.netns(name), ifaces };
    if (main.v4) out.addr4 = main.v4;
    if (n.ipv6 && main.v6) out.addr6 = main.v6;
    if (n.alt4) out.alt4 = n.alt4;
    if (n.nat) {
      out.wan = strip(n.uplink!);
      out.lan = strip(n.bridge!);
      out.nat = this.natNow.get(name)!;
    }
    if (n.uplink) {
      out.gw4 = n.uplink.gw4;
      if (n.ipv6 && n.uplink.gw6) out.gw6 = n.uplink.gw6;
      out.upstream = n.uplink.upstream;
    }
    return out;
  }

  /** Main IPv4 of a node (see LabNode.addr4). With { alt: true } a server's alternate address. */
  addr(name: string, opts: { alt?: boolean } = {}): string {
    const n = this.node(name);
    const a = opts.alt ? n.alt4 : n.addr4;
    if (!a) throw new ConegateError('CG_USAGE', `lab: ${name} has no ${opts.alt ? 'alternate ' : ''}IPv4 address`);
    return a;
  }

  /** Main IPv6 of a node; throws if the node is not dual-stack. */
  addr6(name: string): string {
    const a = this.node(name).addr6;
    if (!a) throw new ConegateError('CG_USAGE', `lab: ${name} has no IPv6 address (set ipv6 on its site or the lab)`);
    return a;
  }

  /** The IPv4 address the internet sees for a host or router: the WAN address of its outermost NAT. */
  publicAddr(name: string): string {
    let n = this.plan(name);
    let pub = n.uplink?.v4;
    while (n.uplink && n.uplink.upstream !== 'inet') {
      n = this.plan(n.uplink.upstream);
      if (n.nat) pub = n.uplink?.v4;
    }
    if (!pub) throw new ConegateError('CG_USAGE', `lab: ${name} has no public address`);
    return pub;
  }

  /** The router node name of a site (`<site>.router`). */
  routerOf(site: string): string {
    return this.plan(`${site}.router`).name;
  }

  /** Host node names of a site. */
  hostsOf(site: string): string[] {
    const s = this.spec.sites.find((x) => x.name === site);
    if (!s) throw new ConegateError('CG_USAGE', `lab: no site "${site}"`);
    return s.hosts.map((h) => `${site}.${h}`);
  }

  /**
   * A directory private to this lab (created on first use, removed at destroy): for pid, lease, socket
   * and config files of peers, which must not collide with other runs on the same machine.
   */
  get workDir(): string {
    this.work ??= mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), `${this.id}-`));
    return this.work;
  }

  /** An interface name unique to this lab run (<= 15 chars), e.g. for WireGuard devices whose socket path is global. */
  uniqueIfname(tag: string): string {
    return uniqueIfname(this.id, tag, ++this.ifCounter);
  }

  /** Runs a command in a node's namespace to completion (default timeout 10 s). */
  exec(name: string, argv: string[], opts?: ExecOptions): Promise<ExecResult> {
    if (this.destroying) return Promise.reject(new ConegateError('CG_USAGE', 'lab: exec after destroy'));
    return execIn(this.netns(name), argv, opts);
  }

  /** Starts a long-running process in a node's namespace; it is stopped by PID at destroy(). */
  spawn(name: string, argv: string[], opts?: SpawnOptions): LabProcess {
    if (this.destroying) throw new ConegateError('CG_USAGE', 'lab: spawn after destroy');
    const p = spawnIn(this.netns(name), name, argv, opts);
    this.procs.add(p);
    void p.done.then(() => this.procs.delete(p));
    return p;
  }

  /** Starts a TypeScript (or JS) file with `node --import tsx` in a node's namespace. */
  spawnNode(name: string, script: string, args: string[] = [], opts?: SpawnOptions): LabProcess {
    return this.spawn(name, [process.execPath, '--import', 'tsx', script, ...args], { description: `node ${script} ${args.join(' ')}`, ...opts });
  }

  /** Runs a TypeScript (or JS) file with `node --import tsx` in a node's namespace to completion. */
  execNode(name: string, script: string, args: string[] = [], opts?: ExecOptions): Promise<ExecResult> {
    return this.exec(name, [process.execPath, '--import', 'tsx', script, ...args], { timeoutMs: 60_000, ...opts });
  }

  /** Starts `conegate ARGS` (bin/conegate.js: the bundle, as shipped) in a node's namespace. */
  spawnConegate(name: string, args: string[], opts?: SpawnOptions): LabProcess {
    return this.spawn(name, conegateArgv(args), { description: `conegate ${args.join(' ')}`, ...opts });
  }

  /** Runs `conegate ARGS` (bin/conegate.js: the bundle, as shipped) in a node's namespace to completion. */
  execConegate(name: string, args: string[], opts?: ExecOptions): Promise<ExecResult> {
    return this.exec(name, conegateArgv(args), { timeoutMs: 60_000, ...opts });
  }

  /** Loads an nftables ruleset (`nft -f -`, one transaction) in a node; throws CG_FIREWALL_REJECTED with nft's message. */
  async nftApply(name: string, ruleset: string): Promise<void> {
    const r = await this.exec(name, ['nft', '-f', '-'], { input: ruleset });
    if (r.code !== 0) throw new ConegateError('CG_FIREWALL_REJECTED', `lab: nft rejected the ruleset in ${name}: ${r.stderr.trim()}`, { context: { stderr: r.stderr } });
  }

  /** `nft list ruleset` (text), or with { json: true } the parsed `nft -j list ruleset`. */
  async nftList(name: string, opts: { json?: boolean } = {}): Promise<string> {
    const r = await this.exec(name, opts.json ? ['nft', '-j', 'list', 'ruleset'] : ['nft', 'list', 'ruleset'], { check: true });
    return r.stdout;
  }

  /** Replaces the lab's own NAT table (`inet lab`) of a router or ISP with another behaviour; other tables stay. */
  async setNat(name: string, nat: NatSpec | NatPresetName): Promise<void> {
    const n = this.plan(name);
    if (!n.nat || !n.uplink || !n.bridge || !n.lanNet4) throw new ConegateError('CG_USAGE', `lab: ${name} is not a router`);
    const resolved = resolveNat(nat, name);
    const open = this.routerInput.get(name);
    await this.nftApply(name, routerRuleset({ wanIf: n.uplink.name, lanIf: n.bridge.name, wan4: n.uplink.v4!, lanNet4: n.lanNet4, nat: resolved, firewall: n.firewall ?? 'none', ipv6Inbound: n.ipv6Inbound ?? 'stateful', inputUdp: open?.udp, inputTcp: open?.tcp, inputFrom: open?.from }));
    this.natNow.set(name, resolved);
  }

  /**
   * Lets a router (or ISP) accept new inbound connections to itself on its WAN at this port (a service
   * under test: a WireGuard endpoint, a STUN server). By default the WAN input admits only replies and ICMP.
   * Survives setNat().
   */
  async allowRouterInput(name: string, proto: 'udp' | 'tcp', port: number): Promise<void> {
    const n = this.plan(name);
    if (!n.nat) throw new ConegateError('CG_USAGE', `lab: ${name} is not a router`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConegateError('CG_USAGE', `lab: bad port ${port}`);
    const open = this.routerInput.get(name) ?? { udp: [], tcp: [], from: [] };
    if (!open[proto].includes(port)) open[proto].push(port);
    this.routerInput.set(name, open);
    await this.exec(name, ['nft', 'add', 'element', 'inet', LAB_TABLE, `input_${proto}`, `{ ${port} }`], { check: true });
  }

  /**
   * Lets a router (or ISP) accept anything addressed to itself from one IPv4 source on its WAN. For a
   * daemon on the router that tests its own reachability from a known server: miniupnpd's RFC 5780 STUN
   * check expects answers from the server's other address and port, which are not conntrack replies.
   * Survives setNat().
   */
  async allowRouterInputFrom(name: string, address: string): Promise<void> {
    const n = this.plan(name);
    if (!n.nat) throw new ConegateError('CG_USAGE', `lab: ${name} is not a router`);
    if (!parseIPv4(address)) throw new ConegateError('CG_USAGE', `lab: ${address} is not an IPv4 address`);
    const open = this.routerInput.get(name) ?? { udp: [], tcp: [], from: [] };
    if (!open.from.includes(address)) open.from.push(address);
    this.routerInput.set(name, open);
    await this.exec(name, ['nft', 'add', 'element', 'inet', LAB_TABLE, 'input_from', `{ ${address} }`], { check: true });
  }

  /** Removes the lab's NAT table from a router (forwarding stays on): for backends that bring their own rules. */
  async removeNat(name: string): Promise<void> {
    this.plan(name);
    await this.exec(name, ['nft', 'delete', 'table', 'inet', LAB_TABLE]);
  }

  /** Stops every process (SIGTERM then SIGKILL, by PID) and deletes every namespace. Idempotent. */
  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      await Promise.all([...this.procs].map((p) => p.stop()));
      await Promise.all(
        this.namespaces.map(async (ns) => {
          // Processes others started in our namespaces (e.g. with `ip netns exec`) go too, by PID.
          const r = await execIn(null, ['ip', 'netns', 'pids', ns], { timeoutMs: 5000 }).catch(() => undefined);
          for (const pid of (r?.stdout ?? '').split(/\s+/).filter(Boolean).map(Number)) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // gone
            }
          }
          await execIn(null, ['ip', 'netns', 'del', ns], { timeoutMs: 10_000 }).catch(() => undefined);
        }),
      );
      if (this.work) rmSync(this.work, { recursive: true, force: true });
      liveLabs.delete(this);
    })();
    return this.destroying;
  }

  /** Leaves the lab running after this process exits (`conegate-lab up`): no exit-hook teardown. */
  detach(): void {
    liveLabs.delete(this);
  }

  /** Synchronous teardown for process exit handlers (no awaiting possible there). */
  destroySync(): void {
    for (const p of this.procs) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const ns of this.namespaces) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
        for (const pid of pids.split(/\s+/).filter(Boolean).map(Number)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // already deleted
      }
    }
    if (this.work) rmSync(this.work, { recursive: true, force: true });
    liveLabs.delete(this);
  }
}

/** Plans and builds a lab. Throws CG_CONFIG_INVALID for a bad spec, CG_NOT_PERMITTED when not root, CG_PEER_MISSING without ip/nft. */
export async function createLab(spec: LabSpec): Promise<Lab> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new ConegateError('CG_NOT_PERMITTED', 'lab: building network namespaces needs root');
  }
  const normalized = normalizeSpec(spec);
  for (const [bin, pkg] of [['ip', 'iproute2'], ['nft', 'nftables']] as const) {
    if (!process.env.PATH?.split(':').some((dir) => existsSync(`${dir}/${bin}`))) {
      throw new ConegateError('CG_PEER_MISSING', `lab: ${bin} not found: install the Debian package ${pkg} (scripts/setup.sh does)`);
    }
  }
  const lab = new Lab(normalized);
  await lab.build();
  return lab;
}

/** Destroys every lab this process built (for signal handlers). */
export async function destroyAllLabs(): Promise<void> {
  await Promise.all([...liveLabs].map((l) => l.destroy()));
}
