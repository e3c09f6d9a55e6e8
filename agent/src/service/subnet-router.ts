/**
 * The subnet router inside `conegate up` (issue 18 "Subnet routing"): when this node advertises LAN
 * prefixes, it forwards mesh <-> LAN for them. It turns IP forwarding on for the families it routes,
 * loads the firewall rules (fw/subnet-rules.ts: forward only to the advertised prefixes, SNAT into the
 * LAN unless mesh.snatSubnetRoutes is off) in one atomic load into our own table or anchor, follows a
 * change of the advertised set at run time, and on stop removes its rules and turns off only the
 * forwarding it turned on. A refused load leaves the previous rules in force and is reported.
 */
import { networkInterfaces } from 'node:os';
import type { Config } from '../config/types.ts';
import { ConegateError } from '../errors.ts';
import { freebsdForwarding, linuxForwarding } from '../fw/forwarding.ts';
import { nftSubnetFirewall, pfSubnetFirewall } from '../fw/subnet-firewall.ts';
import type { IfAddr } from '../node/endpoints.ts';
import { cidrContains, formatCidr, parseCidr, parseIp } from '../net/ip.ts';
import type { Logger } from '../log/logger.ts';
import type { Family, ForwardingControl } from '../fw/forwarding.ts';
import type { SubnetFirewall } from '../fw/subnet-firewall.ts';
import type { SubnetRoute } from '../fw/subnet-rules.ts';

/** Every address of this host except on `exclude` (the mesh TUN): what a route must never cover. */
export function interfaceAddresses(ifs: Record<string, IfAddr[] | undefined>, exclude?: string): string[] {
  return Object.entries(ifs)
    .filter(([name]) => name !== exclude)
    .flatMap(([, list]) => (list ?? []).map((a) => a.address));
}

/** The interface holding an address inside `cidr` (the LAN the prefix is on), if any. */
export function lanInterfaceFor(cidr: string, ifs: Record<string, IfAddr[] | undefined>, exclude?: string): string | undefined {
  const c = parseCidr(cidr);
  if (!c) return undefined;
  for (const [name, list] of Object.entries(ifs)) {
    if (name === exclude) continue;
    for (const a of list ?? []) {
      const ip = parseIp(a.address.split('%')[0]!);
      if (ip && ip.family === c.family && cidrContains(c, ip.bytes)) return name;
    }
  }
  return undefined;
}

export interface SubnetRouterConfig {
  /** The mesh TUN's name (known once the mesh node is up). */
  meshIf: () => string;
  snat: boolean;
}

export interface SubnetRouterDeps {
  firewall: SubnetFirewall;
  forwarding: ForwardingControl;
  interfaces: () => Record<string, IfAddr[] | undefined>;
  log: Logger;
}

export class SubnetRouter {
  private prefixes: string[] = [];
  private loaded = false;
  /** Families whose forwarding we turned on (restored on stop). */
  private readonly turnedOn = new Set<Family>();
  private chain: Promise<void> = Promise.resolve();
  lastError: string | undefined;

  constructor(private readonly config: SubnetRouterConfig, private readonly deps: SubnetRouterDeps) {}

  /** Routes exactly these prefixes from now on (empty: none; rules removed). One change at a time. */
  apply(prefixes: string[]): Promise<void> {
    const run = this.chain.then(() => this.doApply([...new Set(prefixes)].sort()));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async doApply(prefixes: string[]): Promise<void> {
    if (prefixes.length === 0) {
      if (this.loaded) await this.deps.firewall.clear();
      this.loaded = false;
      this.prefixes = [];
      this.deps.log.info('subnet: no advertised routes; forwarding rules removed');
      return;
    }
    const meshIf = this.config.meshIf();
    const ifs = this.deps.interfaces();
    const routes: SubnetRoute[] = prefixes.map((cidr) => {
      const lanIf = lanInterfaceFor(cidr, ifs, meshIf);
      return { cidr, ...(lanIf ? { lanIf } : {}) };
    });
    for (const r of routes) if (!r.lanIf) this.deps.log.warn({ route: r.cidr }, 'subnet: no interface of this host is in the advertised prefix; is it behind another router?');
    try {
      for (const family of [4, 6] as const) {
        if (!prefixes.some((p) => (p.includes(':') ? 6 : 4) === family)) continue;
        if (await this.deps.forwarding.get(family)) continue;
        await this.deps.forwarding.set(family, true);
        this.turnedOn.add(family);
        this.deps.log.info({ family }, 'subnet: IP forwarding turned on');
      }
      await this.deps.firewall.load({ meshIf, routes, snat: this.config.snat });
      this.loaded = true;
      this.prefixes = prefixes;
      this.lastError = undefined;
      this.deps.log.info({ routes: prefixes, snat: this.config.snat, firewall: this.deps.firewall.kind }, 'subnet: forwarding mesh <-> LAN');
    } catch (err) {
      this.lastError = (err as Error).message;
      this.deps.log.error({ err: this.lastError, routes: prefixes }, 'subnet: forwarding rules not loaded; the previous rules stay');
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.chain;
    if (this.loaded) await this.deps.firewall.clear().catch((err: Error) => this.deps.log.error({ err: err.message }, 'subnet: could not remove the forwarding rules'));
    this.loaded = false;
    for (const family of this.turnedOn) await this.deps.forwarding.set(family, false).catch(() => undefined);
    this.turnedOn.clear();
  }

  status(): { routes: string[]; snat: boolean; firewall: string; error: string | null } {
    return { routes: this.prefixes, snat: this.config.snat, firewall: this.deps.firewall.kind, error: this.lastError ?? null };
  }
}

/** Canonical, sorted, de-duplicated prefixes; CG_INPUT_INVALID names the first that is not one. */
export function checkPrefixes(list: readonly string[]): string[] {
  const out = new Set<string>();
  for (const text of list) {
    const c = parseCidr(text);
    if (!c || !text.includes('/') || c.prefixLen === 0) throw new ConegateError('CG_INPUT_INVALID', `route "${text}" is not a subnet prefix with zero host bits (e.g. 192.168.1.0/24)`);
    out.add(formatCidr(c));
  }
  return [...out].sort();
}

/** The subnet router for this platform: PF anchor and sysctl on FreeBSD, our nftables table and /proc elsewhere. */
export function subnetRouterFor(config: Config, deps: { log: Logger; meshIf: () => string }, over: Partial<SubnetRouterDeps> = {}): SubnetRouter {
  const bsd = process.platform === 'freebsd';
  return new SubnetRouter(
    { meshIf: deps.meshIf, snat: config.mesh.snatSubnetRoutes },
    {
      firewall: bsd ? pfSubnetFirewall() : nftSubnetFirewall(),
      forwarding: bsd ? freebsdForwarding() : linuxForwarding(),
      interfaces: () => networkInterfaces() as Record<string, IfAddr[] | undefined>,
      log: deps.log,
      ...over,
    },
  );
}
