/**
 * The agent side of the page (issue 19): the control commands page, pmp-delete, settings-get,
 * settings-set, nat-apply, nat-confirm and nat-revert, and the RTT history sampled every 2 s for the
 * latency chart. The page model itself is built by the pure web/page-model.ts from what this gathers.
 * Code only the page needs (the IPS check, the NAT rule generator) is imported on first use, so an
 * agent whose page is never opened does not load it.
 */
import type { Clock, CancelTimer } from '../clock/clock.ts';
import type { Config } from '../config/types.ts';
import { ConegateError } from '../errors.ts';
import type { Finding } from '../ips/findings.ts';
import type { Logger } from '../log/logger.ts';
import type { NetcheckReport } from '../netcheck/types.ts';
import { detectPlatform } from '../platform/detect.ts';
import type { PageModel, PageTransport } from '../web/model.ts';
import { buildPageModel, currentRtts, type MappingView } from '../web/page-model.ts';
import { RttHistory, SAMPLE_EVERY_MS } from '../web/rtt-history.ts';
import type { MeshStatus } from './mesh-status.ts';
import type { ControlRequest } from './control-protocol.ts';
import { NatControl, type NatControlDeps } from './nat-control.ts';
import type { Settings } from './settings.ts';
import { join } from 'node:path';
import pkg from '../../../package.json' with { type: 'json' };

/** IPS rule files change when the admin changes them: reading them again every 10 min is enough. */
const IPS_EVERY_MS = 10 * 60_000;

export interface PageSources {
  mesh(): MeshStatus | null;
  pmp(): { epochSec(): number; mappings(): { mappings: MappingView[] }; deleteMapping(client: string, protocol: 'udp' | 'tcp', internalPort: number): Promise<unknown> } | undefined;
  netcheck(): { atWallMs: number; report: NetcheckReport } | undefined;
  /** The upstream gateway's NAT-PMP/PCP epoch for the mesh port's mapping, when one is held. */
  portmapEpochSec?(): number | null;
}

export interface PageServiceDeps {
  config: Config;
  stateDir: string;
  clock: Clock;
  log: Logger;
  settings: Settings;
  sources: PageSources;
  /** Tests: a NatControl on a memory rule backend. */
  nat?: NatControl;
  /** Tests: IPS findings without reading a root. */
  ipsFindings?: () => Promise<Finding[]>;
  wallMs?: () => number;
}

export class PageService {
  readonly rtt = new RttHistory();
  private cancel: CancelTimer | undefined;
  private ips: { atMs: number; findings: Finding[] } | undefined;
  private ipsRunning: Promise<void> | undefined;
  private platform: PageTransport['platform'] = 'linux';
  private stopped = false;
  readonly nat: NatControl;

  constructor(private readonly deps: PageServiceDeps) {
    this.nat = deps.nat ?? natControlFor(deps);
  }

  private wall(): number {
    return (this.deps.wallMs ?? Date.now)();
  }

  async start(): Promise<void> {
    const kind = (await detectPlatform('/')).kind;
    this.platform = kind === 'opnsense' || kind === 'pfsense' || kind === 'unifi' ? kind : 'linux';
    this.sample();
  }

  async stop(): Promise<void> {
    // The agent can stop itself while it is still starting (a refused auth key): no timer after that.
    this.stopped = true;
    this.cancel?.();
    this.cancel = undefined;
    await this.ipsRunning;
  }

  private sample(): void {
    if (this.stopped) return;
    this.rtt.sample(Math.floor(this.wall() / 1000), currentRtts(this.deps.sources.mesh()));
    this.cancel = this.deps.clock.setTimer(SAMPLE_EVERY_MS, () => this.sample());
  }

  /** Findings from the last check; a check older than IPS_EVERY_MS runs in the background. */
  private findings(): Finding[] {
    const now = this.deps.clock.nowMs();
    if (!this.ipsRunning && (!this.ips || now - this.ips.atMs >= IPS_EVERY_MS)) {
      this.ipsRunning = this.readIps()
        .then((findings) => void (this.ips = { atMs: this.deps.clock.nowMs(), findings }))
        .catch((err: Error) => {
          this.ips = { atMs: this.deps.clock.nowMs(), findings: [] };
          this.deps.log.warn({ err: err.message }, 'page: IPS check failed');
        })
        .finally(() => (this.ipsRunning = undefined));
    }
    return this.ips?.findings ?? [];
  }

  private async readIps(): Promise<Finding[]> {
    if (this.deps.ipsFindings) return this.deps.ipsFindings();
    const { checkIps } = await import('../ips/check.ts');
    const ips = this.deps.config.ips;
    return (await checkIps({ root: ips.root, meshPorts: ips.meshPorts, relayPorts: ips.relayPorts })).findings;
  }

  /** Waits for an IPS check in progress (tests, and the first page after start). */
  async settled(): Promise<void> {
    this.findings();
    await this.ipsRunning;
  }

  async page(): Promise<PageModel> {
    const { sources, config, settings } = this.deps;
    const pmp = sources.pmp();
    return buildPageModel({
      version: pkg.version,
      nowWallMs: this.wall(),
      platform: this.platform,
      coordinator: config.mesh.enabled ? (config.mesh.coordinator ?? null) : null,
      mesh: sources.mesh(),
      rtt: this.rtt,
      pmp: pmp ? { epochSec: pmp.epochSec(), mappings: pmp.mappings().mappings } : null,
      netcheck: sources.netcheck() ?? null,
      portmapEpochSec: sources.portmapEpochSec?.() ?? null,
      ips: this.findings(),
      nat: await this.nat.state(),
      settings: settings.state(),
    });
  }

  /** The control handlers of the page's commands. */
  handlers() {
    const s = this.deps.settings;
    return {
      page: () => this.page(),
      'pmp-delete': async (req: ControlRequest) => {
        const pmp = this.deps.sources.pmp();
        if (!pmp) throw new ConegateError('CG_UNSUPPORTED', 'the NAT-PMP/PCP server is not enabled in this agent (pmp.enabled)');
        return pmp.deleteMapping(req.client!, req.protocol!, req.internalPort!);
      },
      'settings-get': () => s.get(),
      'settings-set': (req: ControlRequest) => s.set(req.config),
      'nat-apply': (req: ControlRequest) => this.nat.apply(req.confirmSeconds),
      'nat-confirm': () => this.nat.confirm(),
      'nat-revert': () => this.nat.revert(),
    };
  }
}

/** The real NAT control: the same generator, backend, state dir and watchdog as `conegate pf apply`. */
function natControlFor(deps: PageServiceDeps): NatControl {
  const { config, clock, log, settings } = deps;
  const load = async () => {
    const [{ NatApplier }, { processRunner }, session, { spawnWatchdog }] = await Promise.all([import('../fw/nat/applier.ts'), import('../fw/nat/runner.ts'), import('../fw/nat/session.ts'), import('../fw/nat/watchdog.ts')]);
    const run = processRunner();
    const entry = process.argv[1];
    const make = (kind: 'pf' | 'nftables', target: string, platform?: 'opnsense' | 'pfsense' | 'freebsd') =>
      new NatApplier({ backend: session.backendFor(kind, target, run, platform), stateDir: join(config.stateDir ?? deps.stateDir, 'nat'), clock, ...(entry ? { startWatchdog: (job) => spawnWatchdog(job, entry) } : {}) });
    return { session, run, make };
  };
  const hostPf = async () => {
    const k = (await detectPlatform('/')).kind;
    return k === 'opnsense' || k === 'pfsense' || k === 'freebsd' ? k : undefined;
  };
  let stateApplier: ReturnType<NatControlDeps['applier']> | undefined;
  return new NatControl({
    clock,
    log,
    enabled: config.nat.enabled,
    confirmSec: () => settings.current().nat.confirmSec,
    // One applier for reading the state: the event stream asks every second.
    applier: () =>
      (stateApplier ??= (async () => {
        const { session, make } = await load();
        const kind = await session.chooseBackend(config.nat, {}, () => detectPlatform('/'));
        const platform = await hostPf();
        return make(kind, session.targetFor(kind, platform), platform);
      })()),
    prepare: async () => {
      const { session, run, make } = await load();
      const gen = await session.generateFor(config.nat, {}, run);
      const platform = gen.platform === 'opnsense' || gen.platform === 'pfsense' || gen.platform === 'freebsd' ? gen.platform : undefined;
      return { applier: make(gen.backend, gen.target, platform), text: gen.text };
    },
  });
}
