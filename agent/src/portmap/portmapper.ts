/**
 * The Portmapper: keeps one port mapped on the upstream gateway for as long as it runs. The edge
 * around machine.ts: it performs the machine's effects with real protocol clients and a Clock, and
 * feeds results back as events. Emits 'endpointChanged' ({ endpoint, reason }) for the mesh layer.
 */
import { EventEmitter } from 'node:events';
import type { CancelTimer, Clock } from '../clock/clock.ts';
import type { Logger } from '../log/logger.ts';
import { listenAnnouncements, type AnnounceListener, type Announcement } from './announce.ts';
import { localAddressTowards } from './gateway.ts';
import { DEFAULT_TIMING, initialState, step, type Endpoint, type EndpointReason, type MapWant, type Mapping, type PortmapEffect, type PortmapEvent, type PortmapState, type Timing, type Via } from './machine.ts';
import { natpmpExternalAddress, natpmpMap } from './natpmp.ts';
import { pcpMap } from './pcp.ts';
import { probeOne, type GatewayPorts } from './probe.ts';
import { natpmpSchedule, pcpSchedule, type RetransmitSchedule } from './schedule.ts';
import { discoverUpnp, upnpAddMapping, upnpDeleteMapping, upnpExternalAddress, UpnpActionError, type UpnpGateway } from './upnp/client.ts';

export interface PortmapperOptions {
  gateway: string;
  /** Protocols in the order to try them (config portmap.protocols). */
  order: Via[];
  want: MapWant;
  ports?: GatewayPorts;
  /** Announcement listener: port (5350) and group (224.0.0.1, false for unicast on loopback); false disables it. */
  announce?: { port?: number; group?: string | false } | false;
  timing?: Partial<Timing>;
  /** Budget per probe (default 2000 ms) and per UPnP HTTP exchange. */
  probeTimeoutMs?: number;
  /** Retransmissions for map requests; defaults are bounded RFC schedules (NAT-PMP 6 sends, PCP 3). */
  schedules?: { natpmp?: RetransmitSchedule; pcp?: RetransmitSchedule; release?: RetransmitSchedule };
}

export interface PortmapperDeps {
  clock: Clock;
  log: Logger;
  /** [0, 1): PCP jitter, UPnP fallback ports. */
  random: () => number;
  /** n random bytes: the PCP nonce. */
  randomBytes: (n: number) => Uint8Array;
}

export interface EndpointChange {
  endpoint: Endpoint | undefined;
  reason: EndpointReason;
}

export class Portmapper extends EventEmitter<{ endpointChanged: [EndpointChange]; granted: [Mapping]; announcement: [Announcement]; epochReset: [{ via: Via; reason: string }]; unavailable: [{ retryInMs: number }]; stopped: [] }> {
  private state: PortmapState;
  private readonly nonce: Uint8Array;
  private cancelWake: CancelTimer | undefined;
  private listener: AnnounceListener | undefined;
  private upnp: UpnpGateway | undefined;
  /** In-flight requests; the value says whether it is the release (which stop() must not abort). */
  private readonly aborts = new Map<AbortController, boolean>();
  private started = false;
  private stopping: Promise<void> | undefined;
  private resolveStopped: (() => void) | undefined;
  /** Counters a test or `portmap map --json` can read. */
  readonly stats = { probes: 0, mapRequests: 0, renewals: 0, releases: 0, epochResets: 0, announcements: 0, failures: 0 };

  constructor(
    private readonly opts: PortmapperOptions,
    private readonly deps: PortmapperDeps,
  ) {
    super();
    this.state = initialState(opts.order, { ...DEFAULT_TIMING, ...opts.timing });
    this.nonce = deps.randomBytes(12);
  }

  /** The gateway this Portmapper talks to. */
  get gateway(): string {
    return this.opts.gateway;
  }

  /** The mapping currently held, if any. */
  mapping(): Mapping | undefined {
    return this.state.mapping;
  }

  /**
   * The gateway's epoch now, for the mapping held (NAT-PMP and PCP only: UPnP has none): the last epoch
   * it reported, advanced by the time since on our clock, as RFC 6886 3.6 expects it to advance.
   */
  epoch(): { via: 'natpmp' | 'pcp'; epochSec: number } | undefined {
    const via = this.state.mapping?.via;
    if (via !== 'natpmp' && via !== 'pcp') return undefined;
    const sample = this.state.epochs[via];
    if (!sample) return undefined;
    return { via, epochSec: sample.epochSec + Math.max(0, Math.floor((this.deps.clock.nowMs() - sample.atMs) / 1000)) };
  }

  /** The local port announcements are heard on (5350 normally; tests listen on an ephemeral one). */
  announcePort(): number | undefined {
    return this.listener?.port();
  }

  phase(): PortmapState['phase'] {
    return this.state.phase;
  }

  /** Starts probing and mapping; resolves once the announcement listener is up (mapping goes on in the background). */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.opts.announce !== false) {
      const a = this.opts.announce ?? {};
      try {
        const interfaceAddress = a.group === false ? undefined : await localAddressTowards(this.opts.gateway);
        this.listener = await listenAnnouncements({
          gateway: this.opts.gateway,
          port: a.port,
          group: a.group,
          interfaceAddress,
          onAnnouncement: (ann) => {
            this.stats.announcements++;
            this.deps.log.info({ announcement: ann }, 'gateway announcement');
            this.emit('announcement', ann);
            this.dispatch(ann.via === 'natpmp' ? { type: 'announcement', via: 'natpmp', epochSec: ann.epochSec, externalAddress: ann.externalAddress } : { type: 'announcement', via: 'pcp', epochSec: ann.epochSec });
          },
          onError: (err) => this.deps.log.warn({ err }, 'announcement listener error'),
        });
      } catch (err) {
        // Without announcements the epoch check at each renewal still finds a reset, only later.
        this.deps.log.warn({ err }, 'cannot listen for gateway announcements; relying on renewals');
      }
    }
    this.dispatch({ type: 'start', want: this.opts.want });
  }

  /** Deletes the mapping (bounded in time) and releases every handle; idempotent. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = new Promise<void>((resolve) => {
      this.resolveStopped = resolve;
    });
    this.dispatch({ type: 'stop' });
    // Whatever was in flight besides the release is abandoned; its late result is stale to the machine.
    for (const [a, isRelease] of this.aborts) if (!isRelease) a.abort();
    return this.stopping;
  }

  /** Feeds an event from outside (e.g. the mesh layer saw the external address change). */
  notify(event: Extract<PortmapEvent, { type: 'addressChanged' | 'stateLost' }>): void {
    this.dispatch(event);
  }

  private dispatch(event: PortmapEvent): void {
    const before = this.state.mapping;
    const { state, effects } = step(this.state, event, this.deps.clock.nowMs());
    this.state = state;
    for (const fx of effects) this.perform(fx);
    // Every grant (first, renewal, re-creation) is visible to callers that log or test renewals.
    if (event.type === 'granted' && state.mapping && state.mapping !== before && state.phase === 'mapped') this.emit('granted', state.mapping);
  }

  private perform(fx: PortmapEffect): void {
    this.deps.log.debug({ effect: fx.type === 'send' ? { type: 'send', kind: fx.request.kind, via: fx.request.via, seq: fx.request.seq } : fx }, 'portmap effect');
    switch (fx.type) {
      case 'probe':
        this.stats.probes++;
        void this.track((signal) => this.probe(fx.via, signal));
        break;
      case 'send':
        if (fx.request.kind === 'map') {
          const r = fx.request;
          if (r.renew) this.stats.renewals++;
          else this.stats.mapRequests++;
          void this.track((signal) => this.map(r.seq, r.via, r.want, r.externalPort, r.renew, signal));
        } else {
          const r = fx.request;
          this.stats.releases++;
          void this.track((signal) => this.unmap(r.seq, r.via, r.mapping, signal), true);
        }
        break;
      case 'armTimer':
        this.cancelWake?.();
        this.cancelWake = this.deps.clock.setTimer(Math.ceil(fx.atMs - this.deps.clock.nowMs()), () => {
          this.cancelWake = undefined;
          this.dispatch({ type: 'timer' });
        });
        break;
      case 'cancelTimer':
        this.cancelWake?.();
        this.cancelWake = undefined;
        break;
      case 'endpointChanged':
        this.deps.log.info({ endpoint: fx.endpoint, reason: fx.reason }, 'port mapping endpoint changed');
        this.emit('endpointChanged', { endpoint: fx.endpoint, reason: fx.reason });
        break;
      case 'epochReset':
        this.stats.epochResets++;
        this.deps.log.warn({ via: fx.via, reason: fx.reason }, 'gateway lost its mappings (epoch); re-mapping now');
        this.emit('epochReset', { via: fx.via, reason: fx.reason });
        break;
      case 'unavailable': {
        const retryInMs = Math.max(0, Math.round(fx.retryAtMs - this.deps.clock.nowMs()));
        this.deps.log.warn({ retryInMs, order: this.opts.order }, 'no upstream port-mapping service answered; trying again later');
        this.emit('unavailable', { retryInMs });
        break;
      }
      case 'stopped':
        this.cancelWake?.();
        this.cancelWake = undefined;
        this.listener?.close();
        this.listener = undefined;
        this.resolveStopped?.();
        this.emit('stopped');
        break;
    }
  }

  private async track(run: (signal: AbortSignal) => Promise<void>, release = false): Promise<void> {
    const ac = new AbortController();
    this.aborts.set(ac, release);
    try {
      await run(ac.signal);
    } finally {
      this.aborts.delete(ac);
    }
  }

  private get timeoutMs(): number {
    return this.opts.probeTimeoutMs ?? 2000;
  }

  private async probe(via: Via, signal: AbortSignal): Promise<void> {
    const r = await probeOne(via, this.opts.gateway, { timeoutMs: this.timeoutMs, ports: this.opts.ports, clock: this.deps.clock, signal });
    if (r.upnp) this.upnp = r.upnp;
    this.deps.log.debug({ via, ok: r.ok, error: r.error }, 'probe result');
    const ev: PortmapEvent = { type: 'probed', via, ok: r.ok };
    if (r.externalAddress) ev.externalAddress = r.externalAddress;
    if (r.epochSec !== undefined) ev.epochSec = r.epochSec;
    this.dispatch(ev);
  }

  private async map(seq: number, via: Via, want: MapWant, externalPort: number, renew: boolean, signal: AbortSignal): Promise<void> {
    const { clock } = this.deps;
    const gateway = this.opts.gateway;
    const port = this.opts.ports?.pmp;
    try {
      if (via === 'natpmp') {
        const schedule = this.opts.schedules?.natpmp ?? natpmpSchedule(6);
        const addr = await natpmpExternalAddress({ gateway, port, clock, schedule, signal });
        const m = await natpmpMap({ protocol: want.protocol, internalPort: want.internalPort, suggestedExternalPort: externalPort, lifetimeSec: want.lifetimeSec }, { gateway, port, clock, schedule, signal });
        // The address reply's epoch is checked too: the map reply's epoch alone arrives after the re-map.
        this.dispatch({ type: 'granted', seq, via, externalAddress: addr.externalAddress, externalPort: m.externalPort, lifetimeSec: m.lifetimeSec, epochSec: Math.min(addr.epochSec, m.epochSec) });
      } else if (via === 'pcp') {
        const schedule = this.opts.schedules?.pcp ?? pcpSchedule(this.deps.random, 3);
        const m = await pcpMap({ nonce: this.nonce, protocol: want.protocol, internalPort: want.internalPort, suggestedExternalPort: externalPort, lifetimeSec: want.lifetimeSec }, { gateway, port, clock, schedule, signal });
        this.dispatch({ type: 'granted', seq, via, externalAddress: m.externalAddress, externalPort: m.externalPort, lifetimeSec: m.lifetimeSec, epochSec: m.epochSec });
      } else {
        const http = { timeoutMs: this.timeoutMs, clock, signal };
        const randomPort = (): number => 1024 + Math.floor(this.deps.random() * (65536 - 1024));
        const attempt = async (gw: UpnpGateway) => {
          const m = await upnpAddMapping(gw, { protocol: want.protocol, internalPort: want.internalPort, externalPort, lifetimeSec: want.lifetimeSec, renew }, { ...http, randomPort });
          return { m, address: await upnpExternalAddress(gw, http) };
        };
        const discover = async (): Promise<UpnpGateway> => (this.upnp = await discoverUpnp({ gateway, ssdpPort: this.opts.ports?.ssdp, ...http }));
        let r;
        if (this.upnp) {
          try {
            r = await attempt(this.upnp);
          } catch (err) {
            // A rebooted router serves its control URL on a new port (miniupnpd's http_port=0): the cached
            // one refuses. Rediscover and try once more now rather than at the next retry.
            if (err instanceof UpnpActionError || signal.aborted) throw err;
            r = await attempt(await discover());
          }
        } else r = await attempt(await discover());
        this.dispatch({ type: 'granted', seq, via, externalAddress: r.address, externalPort: r.m.externalPort, lifetimeSec: r.m.lifetimeSec });
      }
    } catch (err) {
      this.stats.failures++;
      // A UPnP device that stopped answering may have moved (new control URL after a reboot): rediscover next time.
      if (via === 'upnp') this.upnp = undefined;
      this.deps.log.warn({ via, err }, 'port mapping request failed');
      this.dispatch({ type: 'failed', seq, via, reason: err instanceof Error ? err.message : String(err) });
    }
  }

  private async unmap(seq: number, via: Via, m: Mapping, signal: AbortSignal): Promise<void> {
    const { clock } = this.deps;
    const gateway = this.opts.gateway;
    const port = this.opts.ports?.pmp;
    const schedule = this.opts.schedules?.release ?? natpmpSchedule(4);
    const internalPort = this.opts.want.internalPort;
    try {
      if (via === 'natpmp') await natpmpMap({ protocol: m.protocol, internalPort, suggestedExternalPort: 0, lifetimeSec: 0 }, { gateway, port, clock, schedule, signal });
      else if (via === 'pcp') await pcpMap({ nonce: this.nonce, protocol: m.protocol, internalPort, suggestedExternalPort: m.port, lifetimeSec: 0 }, { gateway, port, clock, schedule, signal });
      else {
        const http = { timeoutMs: this.timeoutMs, clock, signal };
        // The cached device is dropped after a failure; find it again rather than leave the rule behind.
        this.upnp ??= await discoverUpnp({ gateway, ssdpPort: this.opts.ports?.ssdp, ...http });
        await upnpDeleteMapping(this.upnp, { protocol: m.protocol, externalPort: m.port }, http);
      }
      this.deps.log.info({ via, port: m.port }, 'port mapping released');
    } catch (err) {
      this.deps.log.warn({ via, err }, 'releasing the port mapping failed; it will expire on its own');
    }
    this.dispatch({ type: 'released', seq });
  }
}
