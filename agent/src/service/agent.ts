/**
 * The agent service behind `conegate up`: one process running what the config enables (mesh node,
 * NAT-PMP/PCP server, upstream port mapping, EIM NAT rules, periodic netcheck) and the control
 * socket the other commands talk to. Start order: control socket first (refuses when another agent
 * runs, before anything changes), then each component; if one fails to start, those already started
 * are stopped in reverse and the error is thrown: never a half-started agent.
 */
import pkg from '../../../package.json' with { type: 'json' };
import { MeshClock } from '../node/mesh-clock.ts';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../clock/clock.ts';
import type { Config } from '../config/types.ts';
import { ConegateError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { CoordClient } from '../node/coord-client.ts';
import { IDENTITY_FILES, loadIdentity } from '../node/identity.ts';
import { readSecretFile } from '../secrets/file.ts';
import type { Component } from './component.ts';
import { ControlServer } from './control-server.ts';
import { idleTrimComponent, type IdleTrimDeps } from './idle-trim.ts';
import { MeshNode, type MeshNodeDeps } from './mesh-node.ts';
import { ipsFindingComponent, natComponent, netcheckComponent, pmpComponent, portmapComponent } from './router-services.ts';
import { RouteHealth } from './route-health.ts';
import { checkPrefixes, subnetRouterFor, type SubnetRouter, type SubnetRouterDeps } from './subnet-router.ts';
import { parseControlRequest, type ControlCommand, type ControlRequest } from './control-protocol.ts';
import { PageService, type PageServiceDeps } from './page-service.ts';
import { Settings, type LiveField } from './settings.ts';
import { webComponent, webEnabled, type WebComponent } from './web.ts';

export interface AgentOptions {
  config: Config;
  stateDir: string;
  controlSocket: string;
  /** Given once on the command line (`up --auth-key`); else mesh.authKeyFile is read when needed. */
  authKey?: string;
  log: Logger;
  clock: Clock;
  /** Tests: replace edges of the mesh node (memory TUN, no ifconfig, loopback endpoints). */
  meshDeps?: Partial<MeshNodeDeps>;
  /** Tests: memory firewall and forwarding for the subnet router. */
  subnetDeps?: Partial<SubnetRouterDeps>;
  pmpPort?: number;
  /** Tests: the idle trim's collector (idle-trim.ts); null turns it off. */
  gc?: IdleTrimDeps['gc'];
  /** The config file (settings-set writes it). */
  configPath?: string;
  /** `conegate up`: serve the page when web.enabled is unset and the platform is UniFi OS or Linux. */
  webByDefault?: boolean;
  /** Tests: page edges (memory NAT backend, IPS findings). */
  pageDeps?: Partial<Pick<PageServiceDeps, 'nat' | 'ipsFindings'>>;
}

export class Agent {
  readonly components: Component[] = [];
  mesh: MeshNode | undefined;
  subnet: SubnetRouter | undefined;
  private pmp: ReturnType<typeof pmpComponent> | undefined;
  private netcheck: ReturnType<typeof netcheckComponent> | undefined;
  readonly settings: Settings;
  readonly page: PageService;
  /** The page's web server, when it runs (web.ts). */
  web: WebComponent | undefined;
  private control: ControlServer | undefined;
  private stopping: Promise<void> | undefined;
  private readonly startedAtMs = Date.now();
  /** Why the agent stopped on its own (a refused auth key); `up` exits with it. */
  fatal: ConegateError | undefined;
  /** Resolves when the agent has stopped (after `conegate down`, a signal, or stop()). */
  readonly stopped: Promise<void>;
  private resolveStopped: () => void = () => undefined;

  constructor(private readonly opts: AgentOptions) {
    this.stopped = new Promise((r) => (this.resolveStopped = r));
    this.settings = new Settings(opts.config, { path: opts.configPath, applyLive: (field, c) => this.applyLive(field, c) });
    this.page = new PageService({
      config: opts.config,
      stateDir: opts.stateDir,
      clock: opts.clock,
      log: opts.log,
      settings: this.settings,
      sources: { mesh: () => this.mesh?.status() ?? null, pmp: () => this.pmp, netcheck: () => this.netcheck?.last() },
      ...opts.pageDeps,
    });
  }

  async start(): Promise<void> {
    const { config, log } = this.opts;
    this.control = await ControlServer.listen(this.opts.controlSocket, this.handlers(), log);
    try {
      await this.build();
      for (const c of this.components) {
        // Stopped while starting (a refused auth key): starting the rest would leave their timers behind.
        if (this.stopping) break;
        log.info({ component: c.name }, 'agent: starting');
        await c.start();
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    log.info({ components: this.components.map((c) => c.name), control: this.opts.controlSocket, mesh: config.mesh.enabled }, 'agent: up');
  }

  private async build(): Promise<void> {
    const { config, log, clock, stateDir } = this.opts;
    const deps = { log, clock, stateDir };
    if (config.nat.enabled) this.components.push(natComponent(config, deps));
    if (config.pmp.enabled) this.components.push((this.pmp = pmpComponent(config, { ...deps, ...(this.opts.pmpPort ? { port: this.opts.pmpPort } : {}) })));
    let portmapEndpoint: string | undefined;
    if (config.mesh.enabled) {
      const mesh = await this.buildMesh(() => portmapEndpoint);
      this.mesh = mesh;
      this.components.push({ name: 'mesh', start: () => mesh.start(), stop: () => mesh.stop(), status: () => mesh.status() });
      const subnet = (this.subnet = subnetRouterFor(config, { log, meshIf: () => mesh.tun?.name ?? config.wg.interface }, this.opts.subnetDeps));
      this.components.push({ name: 'subnet', start: () => subnet.apply(config.mesh.advertiseRoutes), stop: () => subnet.stop(), status: () => subnet.status() });
      if (config.mesh.routeHealth.targets.length > 0) {
        const health = new RouteHealth(config.mesh.routeHealth, { clock, log, advertised: () => mesh.routing().advertiseRoutes, report: (u) => mesh.reportRouteHealth(u) });
        this.components.push({ name: 'route-health', start: () => health.start(), stop: () => health.stop(), status: () => health.status() });
      }
      if (config.portmap.enabled) {
        this.components.push(
          portmapComponent(config, {
            ...deps,
            port: () => mesh.bind?.localPort ?? config.wg.listenPort,
            onEndpoint: (ep, reason) => {
              portmapEndpoint = ep;
              mesh.reportEndpoints();
              // The gateway lost its state (a reboot): every path through it is gone, even if the mapping
              // came back on the same port, so the peers' coordinator map does not change. Probe again and
              // send call-me-maybe now, instead of waiting for the peers' next relayed round (up to 30 s).
              if (reason === 'recreated') mesh.paths?.router.linkChanged();
            },
          }),
        );
      }
    }
    if (config.mesh.enabled) {
      const mesh = this.mesh;
      // This router's IPS findings on WireGuard go into the reason of a peer relayed for it.
      this.components.push(ipsFindingComponent(config, { ...deps, onFinding: (t) => mesh?.paths?.engine.setIpsFinding?.(t) }));
    }
    if (config.netcheck.stunServers.length > 0) this.components.push((this.netcheck = netcheckComponent(config, deps)));
    const page = this.page;
    this.components.push({ name: 'page', start: () => page.start(), stop: () => page.stop() });
    if (await webEnabled(config, this.opts.webByDefault === true)) {
      this.components.push((this.web = webComponent(config, { ...deps, explicit: config.web.enabled === true, allowedHosts: () => this.settings.current().web.allowedHosts, call: (cmd: ControlCommand, params: Record<string, unknown>) => this.call(cmd, params) })));
    }
    this.components.push(idleTrimComponent({ clock, ...(this.opts.gc !== undefined ? { gc: this.opts.gc } : {}) }));
  }

  private async buildMesh(portmapEndpoint: () => string | undefined): Promise<MeshNode> {
    const { config, log, clock, stateDir } = this.opts;
    const m = config.mesh;
    if (!m.coordinator) throw new ConegateError('CG_CONFIG_INVALID', 'mesh.enabled needs mesh.coordinator (or conegate up --coordinator URL)');
    let ca: string | undefined;
    if (m.ca) {
      try {
        ca = await readFile(m.ca, 'utf8');
      } catch (cause) {
        throw new ConegateError('CG_CONFIG_UNREADABLE', `mesh.ca: cannot read ${m.ca}`, { cause });
      }
    }
    const identity = await loadIdentity(stateDir, undefined, config.wg.privateKeyFile !== undefined ? { nodeKeyFile: config.wg.privateKeyFile } : {});
    const meshClock = new MeshClock();
    // The same proxy as the relay client's: a proxy-only site reaches the coordinator through it too.
    const proxy = { ...(m.proxy !== undefined ? { config: m.proxy } : {}), env: process.env };
    const api = new CoordClient({ url: m.coordinator, trust: { ...(ca ? { ca } : {}), ...(m.coordinatorFingerprint ? { fingerprint: m.coordinatorFingerprint } : {}) }, machine: identity.machine, clock: meshClock, proxy });
    const authKey = async () => this.opts.authKey ?? (m.authKeyFile ? (await readSecretFile(m.authKeyFile, 'auth key file'))?.trim() : undefined);
    const onRefused = (err: ConegateError) => {
      this.fatal = err;
      void this.stop();
    };
    return new MeshNode({ mesh: m, wg: config.wg, authKey, stunServers: config.netcheck.stunServers, onRefused }, { log, clock, identity, api, portmapEndpoint, meshClock, ...this.opts.meshDeps });
  }

  status(): unknown {
    return {
      pid: process.pid,
      // The fleet's health gate checks that a host runs the version it just installed.
      version: pkg.version,
      uptimeSec: Math.round((Date.now() - this.startedAtMs) / 1000),
      components: Object.fromEntries(this.components.filter((c) => c.name !== 'mesh').map((c) => [c.name, c.status?.() ?? null])),
      mesh: this.mesh?.status() ?? null,
    };
  }

  /** A page command from the web server, through the same schema as the control socket. */
  private async call(cmd: ControlCommand, params: Record<string, unknown>): Promise<unknown> {
    const req = parseControlRequest(JSON.stringify({ ...params, cmd }));
    return this.handlers()[req.cmd](req);
  }

  private async applyLive(field: LiveField, c: Config): Promise<void> {
    if (field === 'log.level') this.opts.log.level = c.log.level;
    else if (field === 'mesh.advertiseRoutes') await this.setRoutes({ cmd: 'set-routes', advertiseRoutes: c.mesh.advertiseRoutes });
    else if (field === 'mesh.acceptRoutes') await this.setRoutes({ cmd: 'set-routes', acceptRoutes: c.mesh.acceptRoutes });
    // nat.confirmSec and web.allowedHosts are read from settings.current() at each use.
  }

  private handlers() {
    return {
      ...this.page.handlers(),
      ping: () => 'pong',
      status: () => this.status(),
      down: () => {
        // Answer first, then stop: the caller learns the agent accepted.
        setImmediate(() => void this.stop());
        return { stopping: true };
      },
      logout: async () => {
        if (!this.mesh) throw new ConegateError('CG_UNSUPPORTED', 'the mesh is not enabled in this agent');
        await this.mesh.logout();
        // A logged-out machine key is gone at the coordinator; the next `up --auth-key` starts fresh.
        for (const f of Object.values(IDENTITY_FILES)) await rm(join(this.opts.stateDir, f), { force: true });
        return { loggedOut: true };
      },
      'set-routes': (req: ControlRequest) => this.setRoutes(req),
      'ping-peer': (req: ControlRequest) => {
        if (!this.mesh) throw new ConegateError('CG_UNSUPPORTED', 'the mesh is not enabled in this agent');
        if (req.peer === undefined) throw new ConegateError('CG_INPUT_INVALID', 'ping-peer: peer is missing');
        return this.mesh.pingPeer(req.peer, req.timeoutMs ?? 2000);
      },
      'pmp-list': () => {
        if (!this.pmp) throw new ConegateError('CG_UNSUPPORTED', 'the NAT-PMP/PCP server is not enabled in this agent (pmp.enabled)');
        return this.pmp.mappings();
      },
    };
  }

  /** Forwarding for the new prefixes first, then the coordinator: peers route them only once this router forwards. */
  private async setRoutes(req: ControlRequest): Promise<unknown> {
    if (!this.mesh || !this.subnet) throw new ConegateError('CG_UNSUPPORTED', 'the mesh is not enabled in this agent');
    const advertiseRoutes = req.advertiseRoutes === undefined ? undefined : checkPrefixes(req.advertiseRoutes);
    if (advertiseRoutes) await this.subnet.apply(advertiseRoutes);
    await this.mesh.setRouting({ ...(advertiseRoutes ? { advertiseRoutes } : {}), ...(req.acceptRoutes === undefined ? {} : { acceptRoutes: req.acceptRoutes }) });
    return this.mesh.routing();
  }

  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      for (const c of [...this.components].reverse()) {
        await c.stop().catch((err: Error) => this.opts.log.error({ component: c.name, err: err.message }, 'agent: stop failed'));
      }
      await this.control?.close();
      this.opts.log.info('agent: stopped');
      this.resolveStopped();
    })());
  }
}
