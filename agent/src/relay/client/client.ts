/**
 * The relay client: the node's `RelayLink` (agent/src/paths/types.ts). Regions are connected on
 * demand (first send to one) and the home region always; non-home regions are closed after 60 s
 * without a packet either way, checked every 15 s (tailscale magicsock's values). The home region is
 * chosen by measured latency (home.ts); a probe round runs with the first relay map and every 30 s.
 * A map of a single region makes it the home at once (fast start: no wait for the probe round).
 * `(config, deps) -> component` on an injected clock; dial and probe are injected edges.
 */
import type { CancelTimer, Clock } from '../../clock/clock.ts';
import type { RelayMap, RelayNode } from '../../coord/protocol.ts';
import type { Logger } from '../../log/logger.ts';
import type { NodeKeyHex, RelayLink, RelayLinkStatus } from '../../paths/types.ts';
import type { RandomBytes } from '../frames-seal.ts';
import { chooseHome, HOME, LatencyHistory, regionsToProbe } from './home.ts';
import { RegionConnection, type DialFn } from './region.ts';

export const CLIENT_TIMING = {
  idleCloseMs: 60_000,
  idleCheckEveryMs: 15_000,
  probeTimeoutMs: 5_000,
} as const;

const HEX_KEY = /^[0-9a-f]{64}$/;

export interface RelayClientDeps {
  clock: Clock;
  log: Logger;
  nodeSecret: Uint8Array;
  nodePublic: Uint8Array;
  randomBytes: RandomBytes;
  random: () => number;
  dial: DialFn;
  /** Latency of one relay server in ms (HTTPS HEAD round trip); rejects when it cannot be measured. */
  probe: (node: RelayNode, signal: AbortSignal) => Promise<number>;
  /** The home never changes while this says false (peers could not learn it). */
  coordinatorReachable?: () => boolean;
}

export interface RelayClientCounters {
  droppedNoRegion: number;
  droppedBadKey: number;
  droppedClosed: number;
}

type ReceiveHandler = (src: NodeKeyHex, packet: Uint8Array, region: string) => void;
type GoneHandler = (key: NodeKeyHex, region: string, reason: 'disconnected' | 'not-here') => void;

export class RelayClient implements RelayLink {
  readonly counters: RelayClientCounters = { droppedNoRegion: 0, droppedBadKey: 0, droppedClosed: 0 };
  private map: RelayMap = { regions: [] };
  private readonly regions = new Map<string, RegionConnection>();
  private readonly history = new LatencyHistory();
  private homeRegion: string | undefined;
  private lastFullScanMs: number | undefined;
  private probeTimer: CancelTimer | undefined;
  private idleTimer: CancelTimer | undefined;
  private probing: AbortController | undefined;
  private receiveHandler: ReceiveHandler | undefined;
  private goneHandler: GoneHandler | undefined;
  private readonly homeHandlers: ((region: string) => void)[] = [];
  private closed = false;

  constructor(private readonly deps: RelayClientDeps) {}

  send(region: string, dst: NodeKeyHex, packet: Uint8Array): void {
    if (this.closed) return void this.counters.droppedClosed++;
    if (!HEX_KEY.test(dst)) return void this.counters.droppedBadKey++;
    const conn = this.region(region);
    if (!conn) return void this.counters.droppedNoRegion++;
    conn.send(Buffer.from(dst, 'hex'), packet);
  }

  onReceive(handler: ReceiveHandler): void {
    this.receiveHandler = handler;
  }

  onPeerGone(handler: GoneHandler): void {
    this.goneHandler = handler;
  }

  setRelayMap(map: RelayMap): void {
    if (this.closed) return;
    this.map = map;
    const ids = map.regions.map((r) => r.id);
    for (const [id, conn] of this.regions) {
      const region = map.regions.find((r) => r.id === id);
      if (region) conn.update(region);
      else {
        conn.close();
        this.regions.delete(id);
      }
    }
    this.history.retain(ids);
    if (this.homeRegion !== undefined && !ids.includes(this.homeRegion)) this.decideHome();
    if (!this.probeTimer && !this.probing) this.probeRound();
    // One region leaves no choice: home at once, so the node is reachable without waiting for the
    // probe round (up to 5 s when UDP is blocked and STUN times out first).
    if (this.homeRegion === undefined && ids.length === 1) this.decideHome();
    if (!this.idleTimer) this.armIdleCheck();
  }

  home(): string | undefined {
    return this.homeRegion;
  }

  onHomeChange(handler: (region: string) => void): void {
    this.homeHandlers.push(handler);
  }

  status(): RelayLinkStatus {
    const now = this.deps.clock.nowMs();
    return {
      home: this.homeRegion,
      regions: this.map.regions.map((r) => {
        const st = this.regions.get(r.id)?.status();
        const latencyMs = this.history.latest(r.id, now);
        return {
          id: r.id,
          connected: st?.connected ?? false,
          ...(st?.server ? { server: st.server } : {}),
          ...(latencyMs !== undefined ? { latencyMs: Math.round(latencyMs * 10) / 10 } : {}),
          ...(st?.viaProxy !== undefined ? { viaProxy: st.viaProxy } : {}),
          ...(st?.transport ? { transport: st.transport } : {}),
        };
      }),
    };
  }

  /** Per-region counters for `status --json` and tests. */
  regionDetails(): Record<string, ReturnType<RegionConnection['status']>> {
    return Object.fromEntries([...this.regions].map(([id, c]) => [id, c.status()]));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.probeTimer?.();
    this.idleTimer?.();
    this.probing?.abort();
    for (const conn of this.regions.values()) conn.close();
    this.regions.clear();
  }

  private region(id: string): RegionConnection | undefined {
    const existing = this.regions.get(id);
    if (existing) return existing;
    const region = this.map.regions.find((r) => r.id === id);
    if (!region) return undefined;
    const conn = new RegionConnection(region, this.deps, {
      recv: (src, data) => this.receiveHandler?.(Buffer.from(src).toString('hex'), data, id),
      peerGone: (key, reason) => this.goneHandler?.(Buffer.from(key).toString('hex'), id, reason),
    });
    this.regions.set(id, conn);
    return conn;
  }

  private probeRound(): void {
    const now = this.deps.clock.nowMs();
    const ids = this.map.regions.map((r) => r.id);
    const plan = regionsToProbe({ regions: ids, home: this.homeRegion, best: this.history.best(now), lastFullScanMs: this.lastFullScanMs, nowMs: now });
    if (plan.fullScan) this.lastFullScanMs = now;
    const ctl = new AbortController();
    this.probing = ctl;
    const timeout = this.deps.clock.setTimer(CLIENT_TIMING.probeTimeoutMs, () => ctl.abort());
    const probes = plan.regions.map(async (id) => {
      const node = this.map.regions.find((r) => r.id === id)?.nodes[0];
      if (!node) return;
      try {
        const ms = await this.deps.probe(node, ctl.signal);
        this.history.add(id, ms, this.deps.clock.nowMs());
      } catch (err) {
        this.deps.log.debug({ region: id, err }, 'relay: latency probe failed');
      }
    });
    void Promise.all(probes).then(() => {
      timeout();
      if (this.closed) return;
      this.probing = undefined;
      this.decideHome();
      this.probeTimer = this.deps.clock.setTimer(HOME.probeEveryMs, () => {
        this.probeTimer = undefined;
        this.probeRound();
      });
    });
  }

  private decideHome(): void {
    const ids = this.map.regions.map((r) => r.id);
    const reachable = this.deps.coordinatorReachable?.() ?? true;
    let next = chooseHome({ current: this.homeRegion, regions: ids, best: this.history.best(this.deps.clock.nowMs()), coordinatorReachable: reachable });
    // Nothing measurable (every probe failed): the map's first region, so the node is reachable at all.
    if (next === undefined && this.homeRegion === undefined) next = ids[0];
    if (next === undefined || next === this.homeRegion) return;
    const old = this.homeRegion;
    this.homeRegion = next;
    if (old !== undefined) this.regions.get(old)?.setHome(false);
    this.region(next)?.setHome(true);
    this.deps.log.info({ home: next, previous: old }, 'relay: home region');
    for (const h of this.homeHandlers) h(next);
  }

  private armIdleCheck(): void {
    this.idleTimer = this.deps.clock.setTimer(CLIENT_TIMING.idleCheckEveryMs, () => {
      const now = this.deps.clock.nowMs();
      for (const [id, conn] of this.regions) {
        if (id !== this.homeRegion && now - conn.lastActivityMs >= CLIENT_TIMING.idleCloseMs) {
          conn.close();
          this.regions.delete(id);
        }
      }
      this.armIdleCheck();
    });
  }
}
