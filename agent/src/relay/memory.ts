/**
 * An in-memory relay fabric for unit tests: many nodes in one process, each with a `RelayLink` handle,
 * and a relay per region between them. It behaves like the real relay where the path engine can see
 * it: packets are routed by destination key inside one region only (no routing between regions), a
 * node is present in a region once it sent there (connect on demand) or made it its home, a discovery
 * packet for a key not present in the region is answered with peer-gone "not-here", and a node that
 * leaves is announced as peer-gone "disconnected" to every node that sent to it through that region.
 *
 * Delivery is never synchronous (a handler that answers at once cannot recurse into the sender): with a
 * clock it happens on a timer `latencyMs` later (FakeClock.advance(0) delivers at latency 0), without
 * one on a microtask. Test controls: drop rules, regions taken down, nodes killed, the home set by hand.
 */
import type { Clock } from '../clock/clock.ts';
import type { RelayMap } from '../coord/protocol.ts';
import { isDisco } from '../mesh/demux.ts';
import type { NodeKeyHex, RelayLink, RelayLinkStatus } from '../paths/types.ts';

export interface MemoryRelayOptions {
  /** Delivers on this clock's timers; absent: on a microtask. */
  clock?: Clock;
  /** One-way delay through the relay, per packet (with a clock only). */
  latencyMs?: number;
}

export interface MemoryNodeOptions {
  /** Home region to take as soon as a relay map arrives; default: the lowest `latencyMs` entry, else the map's first region. */
  home?: string;
  /** Measured latency per region, shown by status() and used to pick the home. */
  latencyMs?: Record<string, number>;
}

/** Decides to drop one packet; the fabric counts it. */
export type DropRule = (p: { src: NodeKeyHex; dst: NodeKeyHex; region: string; packet: Uint8Array }) => boolean;

export interface MemoryRelayCounters {
  sent: number;
  delivered: number;
  dropped: number;
  notHere: number;
  droppedRegionDown: number;
}

export class MemoryRelayFabric {
  readonly counters: MemoryRelayCounters = { sent: 0, delivered: 0, dropped: 0, notHere: 0, droppedRegionDown: 0 };
  private readonly nodes = new Map<NodeKeyHex, MemoryRelayLink>();
  private readonly down = new Set<string>();
  private dropRules: DropRule[] = [];
  private readonly pending = new Set<() => void>();

  constructor(private readonly options: MemoryRelayOptions = {}) {}

  /** The handle of node `key` (created on first use; the same handle afterwards). */
  node(key: NodeKeyHex, options: MemoryNodeOptions = {}): MemoryRelayLink {
    let link = this.nodes.get(key);
    if (!link) {
      link = new MemoryRelayLink(this, key, options);
      this.nodes.set(key, link);
    }
    return link;
  }

  /** Adds a drop rule; the returned function removes it. */
  dropWhen(rule: DropRule): () => void {
    this.dropRules.push(rule);
    return () => {
      this.dropRules = this.dropRules.filter((r) => r !== rule);
    };
  }

  /** Takes a region's relay down (every node there loses it; sends to it are dropped) or back up. */
  setRegionDown(region: string, down: boolean): void {
    if (!down) {
      this.down.delete(region);
      return;
    }
    this.down.add(region);
    for (const link of this.nodes.values()) link.leaveRegion(region);
  }

  isRegionDown(region: string): boolean {
    return this.down.has(region);
  }

  /** The node vanishes from every region at once (a crash): peers that sent to it hear "disconnected". */
  kill(key: NodeKeyHex): void {
    const link = this.nodes.get(key);
    if (!link) return;
    for (const region of link.regionsPresent()) this.announceGone(key, region);
    link.detach();
    this.nodes.delete(key);
  }

  /** Nodes present in `region`, for assertions. */
  presentIn(region: string): NodeKeyHex[] {
    return [...this.nodes.values()].filter((n) => n.isPresent(region)).map((n) => n.key);
  }

  /** @internal called by a handle. */
  route(src: MemoryRelayLink, region: string, dst: NodeKeyHex, packet: Uint8Array): void {
    this.counters.sent++;
    if (this.down.has(region)) {
      this.counters.droppedRegionDown++;
      return;
    }
    src.enterRegion(region);
    const target = this.nodes.get(dst);
    if (!target || !target.isPresent(region)) {
      this.counters.dropped++;
      // Like the real relay: "not here" only for discovery packets, so bulk data cannot make it chatter.
      if (isDisco(packet)) {
        this.counters.notHere++;
        this.later(() => src.deliverGone(dst, region, 'not-here'));
      }
      return;
    }
    if (this.dropRules.some((rule) => rule({ src: src.key, dst, region, packet }))) {
      this.counters.dropped++;
      return;
    }
    target.noteSender(region, src.key);
    const copy = packet.slice();
    this.later(() => {
      if (!target.isPresent(region) || this.down.has(region)) {
        this.counters.dropped++;
        return;
      }
      this.counters.delivered++;
      target.deliver(src.key, copy, region);
    });
  }

  /** @internal a node left `region`: everyone who sent to it there hears "disconnected". */
  announceGone(key: NodeKeyHex, region: string): void {
    const link = this.nodes.get(key);
    for (const sender of link?.sendersIn(region) ?? []) {
      const peer = this.nodes.get(sender);
      if (peer && peer.isPresent(region)) this.later(() => peer.deliverGone(key, region, 'disconnected'));
    }
  }

  /** Cancels deliveries not yet made (a clock-driven fabric at shutdown). */
  close(): void {
    for (const cancel of this.pending) cancel();
    this.pending.clear();
  }

  private later(fn: () => void): void {
    const clock = this.options.clock;
    if (!clock) {
      queueMicrotask(fn);
      return;
    }
    const cancel = clock.setTimer(this.options.latencyMs ?? 0, () => {
      this.pending.delete(cancel);
      fn();
    });
    this.pending.add(cancel);
  }
}

type ReceiveHandler = (src: NodeKeyHex, packet: Uint8Array, region: string) => void;
type GoneHandler = (key: NodeKeyHex, region: string, reason: 'disconnected' | 'not-here') => void;

/** One node's view of the fabric; implements the same contract as the real relay client. */
export class MemoryRelayLink implements RelayLink {
  private receiveHandler: ReceiveHandler | undefined;
  private goneHandler: GoneHandler | undefined;
  private readonly homeHandlers: ((region: string) => void)[] = [];
  private map: RelayMap = { regions: [] };
  private homeRegion: string | undefined;
  private readonly present = new Set<string>();
  /** Per region, who sent to this node there (they hear peer-gone when it leaves). */
  private readonly senders = new Map<string, Set<NodeKeyHex>>();
  private closed = false;
  /** Sends refused because the handle was closed or the region is not in the map. */
  droppedLocal = 0;

  constructor(
    private readonly fabric: MemoryRelayFabric,
    readonly key: NodeKeyHex,
    private readonly options: MemoryNodeOptions,
  ) {}

  send(region: string, dst: NodeKeyHex, packet: Uint8Array): void {
    if (this.closed || !this.map.regions.some((r) => r.id === region)) {
      this.droppedLocal++;
      return;
    }
    this.fabric.route(this, region, dst, packet);
  }

  onReceive(handler: ReceiveHandler): void {
    this.receiveHandler = handler;
  }

  onPeerGone(handler: GoneHandler): void {
    this.goneHandler = handler;
  }

  setRelayMap(map: RelayMap): void {
    this.map = map;
    for (const region of [...this.present]) {
      if (!map.regions.some((r) => r.id === region)) this.leaveRegion(region);
    }
    if (this.homeRegion === undefined || !map.regions.some((r) => r.id === this.homeRegion)) {
      const pick = this.pickHome();
      if (pick !== undefined) this.setHome(pick);
    }
  }

  home(): string | undefined {
    return this.homeRegion;
  }

  onHomeChange(handler: (region: string) => void): void {
    this.homeHandlers.push(handler);
  }

  /** Test control: move the home (as the latency measurement would), telling the handlers. */
  setHome(region: string): void {
    if (this.homeRegion === region) return;
    this.homeRegion = region;
    this.enterRegion(region);
    for (const h of this.homeHandlers) h(region);
  }

  status(): RelayLinkStatus {
    return {
      home: this.homeRegion,
      regions: this.map.regions.map((r) => ({
        id: r.id,
        connected: this.present.has(r.id),
        ...(this.present.has(r.id) && r.nodes[0] ? { server: r.nodes[0].url } : {}),
        ...(this.options.latencyMs?.[r.id] !== undefined ? { latencyMs: this.options.latencyMs[r.id] } : {}),
        viaProxy: false,
      })),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const region of [...this.present]) this.leaveRegion(region);
    this.closed = true;
  }

  /** @internal */
  isPresent(region: string): boolean {
    return !this.closed && this.present.has(region);
  }

  /** @internal */
  regionsPresent(): string[] {
    return [...this.present];
  }

  /** @internal */
  enterRegion(region: string): void {
    if (!this.closed && !this.fabric.isRegionDown(region)) this.present.add(region);
  }

  /** @internal */
  leaveRegion(region: string): void {
    if (!this.present.has(region)) return;
    this.fabric.announceGone(this.key, region);
    this.present.delete(region);
    this.senders.delete(region);
  }

  /** @internal */
  detach(): void {
    this.present.clear();
    this.senders.clear();
    this.closed = true;
  }

  /** @internal */
  noteSender(region: string, src: NodeKeyHex): void {
    let set = this.senders.get(region);
    if (!set) this.senders.set(region, (set = new Set()));
    set.add(src);
  }

  /** @internal */
  sendersIn(region: string): NodeKeyHex[] {
    return [...(this.senders.get(region) ?? [])];
  }

  /** @internal */
  deliver(src: NodeKeyHex, packet: Uint8Array, region: string): void {
    if (!this.closed) this.receiveHandler?.(src, packet, region);
  }

  /** @internal */
  deliverGone(key: NodeKeyHex, region: string, reason: 'disconnected' | 'not-here'): void {
    if (!this.closed) this.goneHandler?.(key, region, reason);
  }

  private pickHome(): string | undefined {
    const ids = this.map.regions.map((r) => r.id);
    if (this.options.home !== undefined && ids.includes(this.options.home)) return this.options.home;
    const lat = this.options.latencyMs ?? {};
    const measured = ids.filter((id) => lat[id] !== undefined).sort((a, b) => lat[a]! - lat[b]!);
    return measured[0] ?? ids[0];
  }
}
