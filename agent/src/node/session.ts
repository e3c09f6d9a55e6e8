/**
 * The coordinator session: register once, hold the map stream open, resume with ?since after a cut,
 * reconnect with back-off and jitter, give up on a stream silent for 120 s (LIMITS), and report
 * endpoints in short requests beside the stream. The map is never cleared when the coordinator is
 * away: the WireGuard peers stay as they are until the coordinator says otherwise. A revoked node
 * (refused with node-revoked, or removed from its own map) stops and tells its listeners.
 */
import type { Clock, CancelTimer } from '../clock/clock.ts';
import { LIMITS, type Endpoint, type SelfNode } from '../coord/protocol.ts';
import { ConegateError, isConegateError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { backoffMs } from './backoff.ts';
import type { CoordApi } from './coord-client.ts';
import type { NodeIdentity } from './identity.ts';
import { publicIdentity } from './identity.ts';
import { decodeMapMessage } from './map-message.ts';
import { applyMapMessage, type MapChanges, type MapState } from './map-state.ts';

export type SessionPhase = 'idle' | 'registering' | 'connecting' | 'streaming' | 'backoff' | 'revoked' | 'refused' | 'stopped';

export interface SessionConfig {
  hostname: string;
  advertiseRoutes: string[];
  /** The pre-auth key, read only when the coordinator does not know this machine key yet. */
  authKey: () => Promise<string | undefined>;
}

export interface SessionDeps {
  api: CoordApi;
  identity: NodeIdentity;
  clock: Clock;
  log: Logger;
  /** Uniform [0, 1) for jitter; injected so tests are exact. */
  random?: () => number;
}

export interface SessionEvents {
  map?: (state: MapState, changes: MapChanges) => void;
  revoked?: () => void;
  /** Registration refused for good (unknown, used or expired auth key): the caller decides to exit. */
  refused?: (err: ConegateError) => void;
}

const coordCode = (err: unknown) => (isConegateError(err) ? (err.context.coordCode as string | undefined) : undefined);
const FATAL_REGISTER = new Set(['auth-key-unknown', 'auth-key-used', 'auth-key-expired', 'auth-key-required']);

export class CoordSession {
  phase: SessionPhase = 'idle';
  map: MapState | undefined;
  self: SelfNode | undefined;
  lastError: string | undefined;
  connectedAtMs: number | undefined;
  reconnects = 0;
  /** Endpoint reports the coordinator accepted / refused (a failed one is retried after the next connect). */
  readonly endpointReports = { ok: 0, failed: 0 };
  private registered = false;
  private resumeSeq: number | undefined;
  private attempt = 0;
  private abort: AbortController | undefined;
  private cancelWait: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private endpointsWanted: Endpoint[] | undefined;
  private udpRelayWanted: string | undefined;
  private endpointsSent: string | undefined;
  private homeRelay: string | undefined;
  /** Advertised prefixes the health probe fails for (undefined: no probe runs), and what the coordinator got. */
  private healthWanted: string[] | undefined;
  private healthSent: string | undefined;

  /** Routes this node advertises now (config, then `setAdvertiseRoutes`); a re-registration sends them too. */
  private advertise: string[];

  constructor(private readonly config: SessionConfig, private readonly deps: SessionDeps, private readonly events: SessionEvents = {}) {
    this.advertise = [...config.advertiseRoutes];
  }

  /**
   * Changes the advertised routes of the running node: one short POST /v1/routes (the coordinator keeps
   * the approval of prefixes still advertised). Before the first registration the new set simply goes
   * with it. Throws when the coordinator refuses or cannot be reached (the caller reports it; the set
   * is still sent with the next registration).
   */
  async setAdvertiseRoutes(cidrs: string[]): Promise<void> {
    this.advertise = [...cidrs];
    if (!this.registered) return;
    await this.deps.api.routes({ advertise: this.advertise });
    this.deps.log.info({ routes: this.advertise }, 'mesh: advertised routes changed');
  }

  start(): void {
    if (this.running || this.phase === 'stopped') return;
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    if (this.phase !== 'revoked' && this.phase !== 'refused') this.phase = 'stopped';
    this.abort?.abort();
    this.cancelWait?.();
    await this.running;
  }

  /** Endpoints this node can be reached at, and the "ip:port" of the UDP relay it offers (mesh.udpRelay);
   * sent now if the stream is up, else after the next connect. */
  reportEndpoints(endpoints: Endpoint[], udpRelay?: string): void {
    this.endpointsWanted = endpoints.slice(0, LIMITS.maxEndpoints);
    this.udpRelayWanted = udpRelay;
    if (this.phase === 'streaming') void this.flushEndpoints();
  }

  /** The advertised prefixes whose health probe fails now (service/route-health.ts); sent now if the stream
   * is up, and again after every connect (the coordinator keeps health in memory only). */
  reportRouteHealth(unhealthy: string[]): void {
    this.healthWanted = [...unhealthy];
    if (this.phase === 'streaming') void this.flushHealth();
  }

  private async flushHealth(): Promise<void> {
    const want = this.healthWanted;
    if (!want) return;
    const text = want.join();
    if (text === this.healthSent) return;
    try {
      await this.deps.api.routeHealth({ unhealthy: want });
      this.healthSent = text;
      this.deps.log.info({ unhealthy: want }, 'mesh: route health reported');
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message }, 'mesh: route health report failed; retried after the next connect');
    }
  }

  /** The relay region this node is reachable through; sent with the endpoints (peers relay to it). */
  reportHomeRelay(region: string): void {
    this.homeRelay = region;
    if (this.phase === 'streaming') void this.flushEndpoints();
  }

  private get done(): boolean {
    return this.phase === 'stopped' || this.phase === 'revoked' || this.phase === 'refused';
  }

  private async flushEndpoints(): Promise<void> {
    const want = this.endpointsWanted;
    if (!want) return;
    const udpRelay = this.udpRelayWanted;
    const req = { endpoints: want, ...(this.homeRelay !== undefined ? { homeRelay: this.homeRelay } : {}), ...(udpRelay !== undefined ? { udpRelay } : {}) };
    const text = JSON.stringify(req);
    if (text === this.endpointsSent) return;
    try {
      await this.deps.api.endpoints(req);
      this.endpointsSent = text;
      this.endpointReports.ok++;
      this.deps.log.info({ endpoints: want.map((e) => e.addr), homeRelay: this.homeRelay }, 'mesh: endpoints reported');
    } catch (err) {
      this.endpointReports.failed++;
      this.deps.log.warn({ err: (err as Error).message }, 'mesh: endpoint report failed; retried after the next connect');
    }
  }

  private async register(): Promise<void> {
    this.phase = 'registering';
    const pub = publicIdentity(this.deps.identity);
    const authKey = await this.config.authKey();
    const res = await this.deps.api.register({ nodeKey: pub.nodeKey, discoKey: pub.discoKey, hostname: this.config.hostname, advertiseRoutes: this.advertise, ...(authKey ? { authKey } : {}) }, this.abort?.signal);
    this.self = res.self;
    this.registered = true;
    this.deps.log.info({ id: res.self.id, name: res.self.name, addresses: res.self.addresses, machineKey: pub.machineKey }, 'mesh: registered');
  }

  private async loop(): Promise<void> {
    while (!this.done) {
      this.abort = new AbortController();
      try {
        if (!this.registered) await this.register();
        if (this.done) break;
        await this.stream(this.abort.signal);
      } catch (err) {
        if (this.done) break;
        const code = coordCode(err);
        this.lastError = (err as Error).message;
        if (code === 'node-revoked') {
          this.onRevoked();
          break;
        }
        if (code === 'node-unknown') this.registered = false;
        if (!this.registered && code && FATAL_REGISTER.has(code)) {
          this.phase = 'refused';
          this.deps.log.error({ code }, `mesh: ${this.lastError}`);
          this.events.refused?.(err as ConegateError);
          break;
        }
        this.deps.log.warn({ err: this.lastError, attempt: this.attempt }, 'mesh: coordinator session interrupted; tunnels stay up');
      }
      if (this.done) break;
      await this.wait(backoffMs(this.attempt++, (this.deps.random ?? Math.random)()));
      this.reconnects++;
    }
  }

  private wait(ms: number): Promise<void> {
    this.phase = 'backoff';
    return new Promise((resolve) => {
      let cancel: CancelTimer | undefined;
      const done = () => {
        cancel?.();
        this.cancelWait = undefined;
        resolve();
      };
      cancel = this.deps.clock.setTimer(ms, done);
      this.cancelWait = done;
    });
  }

  private async stream(signal: AbortSignal): Promise<void> {
    this.phase = 'connecting';
    const lines = await this.deps.api.openMap(this.resumeSeq, signal);
    this.phase = 'streaming';
    this.connectedAtMs = this.deps.clock.nowMs();
    void this.flushEndpoints();
    // A new stream may be a restarted coordinator that forgot the last report.
    this.healthSent = undefined;
    void this.flushHealth();
    let cancelSilence: CancelTimer = () => undefined;
    const arm = () => {
      cancelSilence();
      cancelSilence = this.deps.clock.setTimer(LIMITS.streamSilenceTimeoutMs, () => {
        this.deps.log.warn('mesh: map stream silent for 120 s; reconnecting');
        this.abort?.abort();
      });
    };
    arm();
    try {
      for await (const line of lines) {
        arm();
        if (this.handleLine(line) === 'stop') return;
      }
    } finally {
      cancelSilence();
    }
  }

  private handleLine(line: string): 'go' | 'stop' {
    let msg;
    try {
      msg = decodeMapMessage(line);
    } catch (err) {
      const code = errorLineCode(line);
      if (code) throw new ConegateError('CG_COORD_REFUSED', `coordinator closed the stream: ${code}`, { context: { coordCode: code } });
      this.deps.log.warn({ err: (err as Error).message }, 'mesh: bad map message; asking for a full map');
      this.resumeSeq = undefined;
      throw err;
    }
    if (msg.t === 'delta' && this.map && msg.remove?.includes(this.map.self.id)) {
      this.onRevoked();
      return 'stop';
    }
    const r = applyMapMessage(this.map, msg);
    if (r.kind === 'resync') {
      this.deps.log.warn({ reason: r.reason }, 'mesh: map out of step; asking for a full map');
      this.resumeSeq = undefined;
      throw new ConegateError('CG_NETWORK', `map resync: ${r.reason}`);
    }
    if (r.kind === 'applied') {
      this.map = r.state;
      this.resumeSeq = r.state.seq;
      this.attempt = 0;
      this.events.map?.(r.state, r.changes);
    }
    return 'go';
  }

  private onRevoked(): void {
    this.phase = 'revoked';
    this.map = undefined;
    this.deps.log.warn('mesh: this node was revoked by the coordinator; removing every peer');
    this.events.revoked?.();
  }
}

/** `{"error":{"code":"node-revoked",...}}` written on the stream before the server closes it. */
function errorLineCode(line: string): string | undefined {
  try {
    const v = JSON.parse(line) as { error?: { code?: unknown } };
    return typeof v?.error?.code === 'string' ? v.error.code : undefined;
  } catch {
    return undefined;
  }
}
