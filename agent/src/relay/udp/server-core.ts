/**
 * The UDP relay's pure core (no socket, no timers: time comes in as nowMs, packets leave through the
 * injected `send`). A relay node allocates one endpoint per pair of mesh nodes (a VNI), each side binds
 * its source ip:port with the 3-way challenge (challenge.ts), then a datagram from one bound side goes to
 * the other with only the header's flags byte rewritten: the payload (WireGuard or sealed discovery) is
 * never read, and the received buffer itself is sent on (no allocation per packet).
 *
 * Lifetimes (shared mesh facts, "UDP relay through a peer"): an endpoint not bound by both sides lives
 * 30 s; a bound one dies after 5 min without data. Control messages are rate limited per source address
 * before any crypto runs; data per side of a pair.
 */
import { KeyedTokenBuckets, TokenBucket } from '../../net/ratelimit.ts';
import { keyToHex } from '../../wg/keys.ts';
import type { Endpoint } from '../../wg/ports.ts';
import { ChallengeSecrets } from './challenge.ts';
import {
  decodeControlEnvelope, encodeControlPacket, openControl, FLAG_FROM_RELAY, HEADER_LEN, MARK, PROTOCOL_CODE, VERSION,
  type AllocStatus, type ControlMessage, type RefuseReason,
} from './codec.ts';
import { NONCE_LEN, sharedBoxKey } from './seal.ts';
import type { NodeKeyHex } from './types.ts';

export interface UdpRelayLimits {
  maxAllocations: number;
  unboundLifetimeMs: number;
  idleLifetimeMs: number;
  /** Control messages per source address (allocate, bind, answer). */
  controlPerSec: number;
  controlBurst: number;
  /** Data packets per bound side of a pair. */
  packetsPerSec: number;
  packetsBurst: number;
}

export const DEFAULT_LIMITS: UdpRelayLimits = {
  maxAllocations: 1000,
  unboundLifetimeMs: 30_000,
  idleLifetimeMs: 300_000,
  controlPerSec: 10,
  controlBurst: 20,
  packetsPerSec: 100_000,
  packetsBurst: 20_000,
};

export interface UdpRelayCoreDeps {
  /** The relay node's discovery key pair (control messages are sealed between discovery keys). */
  discoPrivate: Uint8Array;
  discoPublic: Uint8Array;
  /** The network map: the node key of the mesh node with this discovery key; undefined = not in the mesh. */
  nodeForDisco(discoKey: string): NodeKeyHex | undefined;
  isMember(nodeKey: NodeKeyHex): boolean;
  /** Where clients reach this relay (reported in allocate answers). */
  publicEndpoint(): Endpoint;
  randomBytes(n: number): Uint8Array;
  send(packet: Uint8Array, to: Endpoint): void;
  /**
   * A pair became bound on both sides or one side re-bound (sources), or it ended (undefined): the
   * kernel fast path (kernel-forward.ts) installs, replaces or deletes its rules.
   */
  onPairChange?(vni: number, sources: [Endpoint, Endpoint] | undefined): void;
}

interface Side {
  nodeKey: NodeKeyHex;
  source: Endpoint | undefined;
  bucket: TokenBucket;
}

interface Allocation {
  vni: number;
  pair: string;
  sides: [Side, Side];
  createdMs: number;
  lastDataMs: number;
}

export type DropReason = 'malformed' | 'loop' | 'unknown-vni' | 'unknown-source' | 'peer-unbound' | 'rate-limited' | 'control-rejected';

export interface UdpRelayStats {
  allocations: number;
  forwarded: number;
  dropped: Record<DropReason, number>;
}

export class UdpRelayCore {
  private readonly byVni = new Map<number, Allocation>();
  private readonly byPair = new Map<string, Allocation>();
  private readonly control: KeyedTokenBuckets;
  private readonly secrets: ChallengeSecrets;
  private readonly boxKeys = new Map<string, Uint8Array | undefined>();
  private forwarded = 0;
  private readonly dropped: Record<DropReason, number> = {
    malformed: 0, loop: 0, 'unknown-vni': 0, 'unknown-source': 0, 'peer-unbound': 0, 'rate-limited': 0, 'control-rejected': 0,
  };

  constructor(
    private readonly deps: UdpRelayCoreDeps,
    private readonly limits: UdpRelayLimits,
    nowMs: number,
  ) {
    this.control = new KeyedTokenBuckets({ perSec: limits.controlPerSec, burst: limits.controlBurst }, 4096);
    this.secrets = new ChallengeSecrets(deps.randomBytes, nowMs);
  }

  /** One datagram received on the relay port. Never throws. */
  onPacket(b: Uint8Array, from: Endpoint, nowMs: number): void {
    if (b.length < HEADER_LEN || b[0] !== MARK || b[1]! >> 4 !== VERSION || b[7] !== 0) return this.drop('malformed');
    const proto = (b[2]! << 8) | b[3]!;
    if (proto === PROTOCOL_CODE.control) return this.onControl(b, from, nowMs);
    if (proto !== PROTOCOL_CODE.wireguard && proto !== PROTOCOL_CODE.disco) return this.drop('malformed');
    // A packet a relay sent is never relayed again: two relays pointed at each other cannot loop.
    if (b[1]! & FLAG_FROM_RELAY) return this.drop('loop');
    const a = this.byVni.get((b[4]! << 16) | (b[5]! << 8) | b[6]!);
    if (!a) return this.drop('unknown-vni');
    const [s0, s1] = a.sides;
    const me = sameSource(s0.source, from) ? s0 : sameSource(s1.source, from) ? s1 : undefined;
    if (!me) return this.drop('unknown-source');
    const other = me === s0 ? s1 : s0;
    if (!other.source) return this.drop('peer-unbound');
    if (!me.bucket.take(nowMs)) return this.drop('rate-limited');
    a.lastDataMs = nowMs;
    b[1] = (VERSION << 4) | FLAG_FROM_RELAY;
    this.forwarded++;
    this.deps.send(b, other.source);
  }

  /** Expires allocations and rotates the challenge secret; returns when to call again. */
  tick(nowMs: number): number {
    let next = this.secrets.tick(nowMs);
    for (const a of this.byVni.values()) {
      const deadline = this.deadline(a);
      if (nowMs >= deadline) this.remove(a);
      else next = Math.min(next, deadline);
    }
    return next;
  }

  /** The network map changed: allocations of nodes no longer in the mesh end now. */
  onMapChange(): void {
    this.boxKeys.clear();
    for (const a of this.byVni.values()) if (!a.sides.every((s) => this.deps.isMember(s.nodeKey))) this.remove(a);
  }

  stats(): UdpRelayStats {
    return { allocations: this.byVni.size, forwarded: this.forwarded, dropped: { ...this.dropped } };
  }

  /**
   * Data of these pairs went through the kernel fast path (its counters moved): it counts as activity,
   * so a pair the kernel forwards is not expired as idle.
   */
  noteActivity(vnis: Iterable<number>, nowMs: number): void {
    for (const vni of vnis) {
      const a = this.byVni.get(vni);
      if (a) a.lastDataMs = Math.max(a.lastDataMs, nowMs);
    }
  }

  /** For status and tests: who is bound where. */
  allocation(vni: number): { pair: [NodeKeyHex, NodeKeyHex]; bound: [boolean, boolean] } | undefined {
    const a = this.byVni.get(vni);
    return a && { pair: [a.sides[0].nodeKey, a.sides[1].nodeKey], bound: [!!a.sides[0].source, !!a.sides[1].source] };
  }

  private deadline(a: Allocation): number {
    const bound = a.sides[0].source && a.sides[1].source;
    return bound ? a.lastDataMs + this.limits.idleLifetimeMs : a.createdMs + this.limits.unboundLifetimeMs;
  }

  private remove(a: Allocation): void {
    this.byVni.delete(a.vni);
    this.byPair.delete(a.pair);
    if (a.sides[0].source && a.sides[1].source) this.deps.onPairChange?.(a.vni, undefined);
  }

  private drop(reason: DropReason): void {
    this.dropped[reason]++;
  }

  private onControl(b: Uint8Array, from: Endpoint, nowMs: number): void {
    if (!this.control.take(from.address, nowMs)) return this.drop('rate-limited');
    let msg: ControlMessage;
    let senderHex: string;
    let key: Uint8Array | undefined;
    try {
      const env = decodeControlEnvelope(b);
      senderHex = keyToHex(env.senderKey);
      if (!this.deps.nodeForDisco(senderHex)) return this.drop('control-rejected');
      key = this.boxKey(senderHex, env.senderKey);
      if (!key) return this.drop('control-rejected');
      msg = openControl(env, key);
    } catch {
      return this.drop('malformed');
    }
    const node = this.deps.nodeForDisco(senderHex)!;
    const reply = this.answer(msg, node, from, nowMs);
    if (!reply) return this.drop('control-rejected');
    const nonce = this.deps.randomBytes(NONCE_LEN);
    this.deps.send(encodeControlPacket(reply, this.deps.discoPublic, key, nonce, FLAG_FROM_RELAY), { address: from.address, port: from.port });
  }

  private boxKey(hex: string, pub: Uint8Array): Uint8Array | undefined {
    if (this.boxKeys.has(hex)) return this.boxKeys.get(hex);
    if (this.boxKeys.size >= 4096) this.boxKeys.clear();
    const k = sharedBoxKey(this.deps.discoPrivate, pub);
    this.boxKeys.set(hex, k);
    return k;
  }

  private answer(m: ControlMessage, node: NodeKeyHex, from: Endpoint, nowMs: number): ControlMessage | undefined {
    switch (m.type) {
      case 'allocate': {
        const status = this.allocate(node, keyToHex(m.nodeKey), keyToHex(m.peerKey), nowMs);
        const a = status.vni === undefined ? undefined : this.byVni.get(status.vni);
        return {
          type: 'allocated', txId: m.txId, status: status.status, vni: a?.vni ?? 0,
          unboundLifetimeSec: Math.round(this.limits.unboundLifetimeMs / 1000), relay: this.deps.publicEndpoint(),
        };
      }
      case 'bind':
      case 'answer': {
        const refuse = (reason: RefuseReason): ControlMessage => ({ type: 'refused', vni: m.vni, generation: m.generation, reason });
        const a = this.byVni.get(m.vni);
        if (!a) return refuse('unknown-vni');
        const side = a.sides.find((s) => s.nodeKey === node);
        if (!side) return refuse('not-in-pair');
        const nodeKey = Buffer.from(node, 'hex');
        if (m.type === 'bind') {
          if (keyToHex(m.nodeKey) !== node) return refuse('unknown-key');
          return { type: 'challenge', vni: m.vni, generation: m.generation, mac: this.secrets.issue(m.vni, m.generation, nodeKey, from, nowMs) };
        }
        if (!this.secrets.verify(m.mac, m.vni, m.generation, nodeKey, from, nowMs)) return refuse('bad-challenge');
        const changed = !sameSource(side.source, from);
        side.source = { address: from.address, port: from.port };
        // Binding counts as activity: the idle clock of a freshly bound pair starts now.
        a.lastDataMs = nowMs;
        const [s0, s1] = a.sides;
        if (changed && s0.source && s1.source) this.deps.onPairChange?.(a.vni, [{ ...s0.source }, { ...s1.source }]);
        return { type: 'bound', vni: m.vni, generation: m.generation, idleLifetimeSec: Math.round(this.limits.idleLifetimeMs / 1000) };
      }
      default:
        // challenge, bound, refused and allocated are the relay's own messages: a client never sends them.
        return undefined;
    }
  }

  private allocate(requester: NodeKeyHex, claimed: NodeKeyHex, peer: NodeKeyHex, nowMs: number): { status: AllocStatus; vni?: number } {
    if (claimed !== requester || peer === requester) return { status: 'bad-request' };
    if (!this.deps.isMember(requester) || !this.deps.isMember(peer)) return { status: 'unknown-key' };
    const pair = requester < peer ? `${requester}${peer}` : `${peer}${requester}`;
    const existing = this.byPair.get(pair);
    // Both sides of a pair ask for themselves and get the same endpoint.
    if (existing) return { status: 'ok', vni: existing.vni };
    if (this.byVni.size >= this.limits.maxAllocations) return { status: 'full' };
    const vni = this.freeVni();
    if (vni === undefined) return { status: 'full' };
    const bucket = (): TokenBucket => new TokenBucket({ perSec: this.limits.packetsPerSec, burst: this.limits.packetsBurst }, nowMs);
    const [k0, k1] = requester < peer ? [requester, peer] : [peer, requester];
    const a: Allocation = {
      vni, pair, createdMs: nowMs, lastDataMs: nowMs,
      sides: [{ nodeKey: k0, source: undefined, bucket: bucket() }, { nodeKey: k1, source: undefined, bucket: bucket() }],
    };
    this.byVni.set(vni, a);
    this.byPair.set(pair, a);
    return { status: 'ok', vni };
  }

  /** A random unused VNI (hard to guess; 0 is never used, control messages carry it). */
  private freeVni(): number | undefined {
    for (let i = 0; i < 32; i++) {
      const r = this.deps.randomBytes(3);
      const vni = (r[0]! << 16) | (r[1]! << 8) | r[2]!;
      if (vni !== 0 && !this.byVni.has(vni)) return vni;
    }
    return undefined;
  }
}

function sameSource(s: Endpoint | undefined, from: Endpoint): boolean {
  return s !== undefined && s.port === from.port && s.address === from.address;
}
