/**
 * The WireGuard device: peers, cryptokey routing, the index table, and the send and receive paths
 * between a TunDevice and a Bind (or a demultiplexer calling receiveUdp). Synchronous throughout: a
 * datagram or IP packet is fully handled before the call returns, so tests over the memory bind are
 * deterministic. Handshake messages are handled in handshake-path.ts, transport messages in
 * transport-path.ts; this file holds configuration, dispatch, session slots and timers.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import type { Clock } from '../clock/clock.ts';
import type { Logger } from '../log/logger.ts';
import { AllowedIps } from './allowed-ips.ts';
import { MacChecker } from './cookie.ts';
import { DEFAULT_HANDSHAKE_LOAD_THRESHOLD, REKEY_TIMEOUT_JITTER_MAX_MS } from './constants.ts';
import { dropCrossed, HandshakeLoad, handleCookieReply, handleInitiation, handleResponse, sendInitiation } from './handshake-path.ts';
import { IndexTable } from './index-table.ts';
import { HandshakeRateLimiter } from './ratelimiter.ts';
import { receiveTransport, sendKeepalive, sendNow, sendStaged } from './transport-path.ts';
import { destinationOf } from './ip-packet.ts';
import { keyToHex, publicKey as derivePublicKey } from './keys.ts';
import { MSG_COOKIE_REPLY, MSG_INITIATION, MSG_RESPONSE, MSG_TRANSPORT, isWireGuardPacket } from './messages.ts';
import { staticStatic, zeroHandshake, type Identity } from './noise.ts';
import { Peer } from './peer.ts';
import type { Bind, Endpoint, TunDevice } from './ports.ts';
import { endpointEquals, formatEndpoint } from './ports.ts';
import { DEFAULT_LIMITS, Session, type SessionLimits } from './session.ts';
import type { TimerEvent } from './timers.ts';
import type { Device, DeviceConfig, DeviceDeps, DeviceStats, DropReason, PeerStatus, PeerUpdate } from './types.ts';

/** Every drop reason at zero; typed as a full Record so a new reason cannot be forgotten here. */
const ZERO_DROPS: Record<DropReason, number> = {
  decode: 0,
  badMac: 0,
  handshakeFailed: 0,
  replayedHandshake: 0,
  unknownReceiver: 0,
  badAuth: 0,
  replay: 0,
  keyExpired: 0,
  badAllowedIp: 0,
  badIpPacket: 0,
  noRoute: 0,
  noEndpoint: 0,
  queueFull: 0,
  noPrivateKey: 0,
  cookieRejected: 0,
  rateLimited: 0,
};

function emptyStats(): DeviceStats {
  return {
    drops: { ...ZERO_DROPS },
    initiationsSent: 0,
    initiationsReceived: 0,
    responsesSent: 0,
    responsesReceived: 0,
    cookieRepliesSent: 0,
    cookieRepliesReceived: 0,
    transportSent: 0,
    transportReceived: 0,
    internalErrors: 0,
  };
}

/**
 * Jitter for REKEY_TIMEOUT, 0..333 ms. Drawn from a pooled random buffer: in a busy bidirectional flow the
 * new-handshake timer is re-armed on nearly every packet sent, and one randomBytes call each is waste.
 */
function jitterSource(randomBytes: (n: number) => Uint8Array): () => number {
  let pool: Uint8Array = new Uint8Array(0);
  let at = 0;
  return () => {
    if (at + 2 > pool.length) {
      pool = randomBytes(256);
      at = 0;
    }
    const v = ((pool[at]! << 8) | pool[at + 1]!) % REKEY_TIMEOUT_JITTER_MAX_MS;
    at += 2;
    return v;
  };
}

/** Creates a device; call start() to wire the bind and TUN handlers. */
export function createDevice(config: DeviceConfig, deps: DeviceDeps): Device {
  return new WgDevice(config, deps);
}

/** @internal exported for handshake-path.ts, transport-path.ts and the testbed; use createDevice. */
export class WgDevice implements Device {
  readonly clock: Clock;
  readonly bind: Bind;
  readonly tun: TunDevice;
  readonly randomBytes: (n: number) => Uint8Array;
  readonly wallClockMs: () => number;
  readonly jitterMs: () => number;
  readonly log: Logger | undefined;
  readonly limits: SessionLimits;
  identity: Identity | undefined;
  checker: MacChecker | undefined;
  readonly peersById = new Map<string, Peer>();
  readonly allowedIps = new AllowedIps<Peer>();
  readonly index: IndexTable<Peer, Session>;
  readonly load: HandshakeLoad;
  readonly rateLimiter = new HandshakeRateLimiter();
  readonly counters = emptyStats();
  /** While a batch call runs: decrypted packets for one tun.write, sealed messages per peer for one bind.send. */
  tunBatch: Uint8Array[] | undefined;
  udpBatch: Map<Peer, Uint8Array[]> | undefined;
  private started = false;

  constructor(config: DeviceConfig, deps: DeviceDeps & { limits?: SessionLimits }) {
    this.clock = deps.clock;
    this.bind = deps.bind;
    this.tun = deps.tun;
    this.randomBytes = deps.randomBytes ?? ((n) => new Uint8Array(nodeRandomBytes(n)));
    this.wallClockMs = deps.wallClockMs ?? (() => Date.now());
    this.jitterMs = deps.jitterMs ?? jitterSource(this.randomBytes);
    this.log = deps.log;
    this.limits = deps.limits ?? DEFAULT_LIMITS;
    this.index = new IndexTable(this.randomBytes);
    this.load = new HandshakeLoad(config.handshakeLoadThreshold ?? DEFAULT_HANDSHAKE_LOAD_THRESHOLD);
    if (config.privateKey) this.setPrivateKey(config.privateKey);
    for (const p of config.peers ?? []) this.upsertPeer(p);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.bind.onReceive((packet, from) => this.receiveUdp(packet, from));
    this.tun.onPacket((ip) => this.sendIp(ip));
    for (const peer of this.peersById.values()) if (peer.persistentKeepaliveSec > 0) sendKeepalive(this, peer);
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.bind.onReceive(() => {});
    this.tun.onPacket(() => {});
    for (const peer of this.peersById.values()) this.resetPeer(peer);
  }

  get publicKey(): Uint8Array | undefined {
    return this.identity?.publicKey;
  }

  setPrivateKey(key: Uint8Array): void {
    if (key.length !== 32) throw new RangeError('a private key has 32 bytes');
    if (this.identity && keyToHex(this.identity.privateKey) === keyToHex(key)) return;
    const identity = { privateKey: Uint8Array.from(key), publicKey: derivePublicKey(key) };
    this.identity = identity;
    this.checker = new MacChecker(identity.publicKey, this.randomBytes);
    // New identity: every session and handshake is void (wireguard-go does the same).
    for (const peer of this.peersById.values()) {
      this.resetPeer(peer);
      peer.hs.staticStatic = staticStatic(identity, peer.publicKey);
    }
  }

  upsertPeer(update: PeerUpdate): boolean {
    if (update.publicKey.length !== 32) throw new RangeError('a public key has 32 bytes');
    const id = keyToHex(update.publicKey);
    let peer = this.peersById.get(id);
    if (!peer) {
      if (update.updateOnly) return false;
      peer = new Peer(this.identity, update.publicKey, update.presharedKey, this.jitterMs);
      this.peersById.set(id, peer);
    } else if (update.presharedKey) {
      peer.hs.presharedKey = Uint8Array.from(update.presharedKey);
    }
    if (update.endpoint) peer.endpoint = { ...update.endpoint };
    if (update.replaceAllowedIps) this.allowedIps.removePeer(peer);
    for (const cidr of update.allowedIps ?? []) {
      if (!this.allowedIps.insertText(cidr, peer)) throw new RangeError(`not an IP prefix: ${cidr}`);
    }
    if (update.persistentKeepaliveSec !== undefined) {
      const changed = update.persistentKeepaliveSec !== peer.persistentKeepaliveSec;
      peer.persistentKeepaliveSec = update.persistentKeepaliveSec;
      peer.timers.persistentKeepaliveMs = update.persistentKeepaliveSec * 1000;
      if (!update.persistentKeepaliveSec) delete peer.timers.deadlines.persistentKeepalive;
      else if (changed && this.started) sendKeepalive(this, peer);
    }
    return true;
  }

  removePeer(publicKey: Uint8Array): boolean {
    const peer = this.peersById.get(keyToHex(publicKey));
    if (!peer) return false;
    this.resetPeer(peer);
    this.allowedIps.removePeer(peer);
    this.peersById.delete(peer.id);
    return true;
  }

  removeAllPeers(): void {
    for (const peer of [...this.peersById.values()]) this.removePeer(peer.publicKey);
  }

  peers(): PeerStatus[] {
    return [...this.peersById.values()].map((p) => ({
      publicKey: Uint8Array.from(p.publicKey),
      presharedKey: p.hs.presharedKey.some((b) => b !== 0) ? Uint8Array.from(p.hs.presharedKey) : undefined,
      endpoint: p.endpoint ? { ...p.endpoint } : undefined,
      allowedIps: this.allowedIps.entriesOf(p),
      persistentKeepaliveSec: p.persistentKeepaliveSec,
      rxBytes: p.rxBytes,
      txBytes: p.txBytes,
      lastHandshakeWallMs: p.lastHandshakeWallMs,
      hasSession: p.current !== undefined && p.current.canSend(this.clock.nowMs()),
    }));
  }

  stats(): DeviceStats {
    return structuredClone(this.counters);
  }

  initiateHandshake(publicKey: Uint8Array): void {
    const peer = this.peersById.get(keyToHex(publicKey));
    if (peer) this.guard(() => sendInitiation(this, peer, false));
  }

  drop(reason: DropReason): void {
    this.counters.drops[reason]++;
  }

  /** Runs fn; an exception is a bug in us, never the sender's fault: count and log it, never rethrow. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.counters.internalErrors++;
      this.log?.error({ err }, 'wg: internal error while handling a packet');
    }
  }

  // ---- receive path -------------------------------------------------------------------------------

  receiveUdp(packet: Uint8Array, from: Endpoint): void {
    this.guard(() => this.dispatch(packet, from));
  }

  private dispatch(packet: Uint8Array, from: Endpoint): void {
    if (!this.identity) return this.drop('noPrivateKey');
    if (!isWireGuardPacket(packet)) return this.drop('decode');
    switch (packet[0]) {
      case MSG_TRANSPORT:
        return receiveTransport(this, packet, from);
      case MSG_INITIATION:
        return handleInitiation(this, packet, from);
      case MSG_RESPONSE:
        return handleResponse(this, packet, from);
      case MSG_COOKIE_REPLY:
        return handleCookieReply(this, packet);
    }
  }

  /** Roaming (whitepaper 2.1): the latest authenticated packet's source becomes the peer's endpoint. */
  updateEndpoint(peer: Peer, from: Endpoint): void {
    if (endpointEquals(peer.endpoint, from)) return;
    this.log?.debug({ peer: peer.id.slice(0, 16), endpoint: formatEndpoint(from) }, 'wg: peer endpoint changed');
    peer.endpoint = { address: from.address, port: from.port };
  }

  // ---- send path ----------------------------------------------------------------------------------

  receiveUdpBatch(packets: Uint8Array[], from: Endpoint | Endpoint[]): void {
    const out: Uint8Array[] = [];
    this.tunBatch = out;
    try {
      for (let i = 0; i < packets.length; i++) {
        const src = Array.isArray(from) ? from[i] : from;
        if (src) this.guard(() => this.dispatch(packets[i]!, src));
      }
    } finally {
      this.tunBatch = undefined;
    }
    if (out.length) this.catchAsync(this.tun.write(out.length === 1 ? out[0]! : out));
  }

  sendIpBatch(ipPackets: Uint8Array[]): void {
    const batch = new Map<Peer, Uint8Array[]>();
    this.udpBatch = batch;
    try {
      for (const p of ipPackets) this.sendIp(p);
    } finally {
      this.udpBatch = undefined;
    }
    for (const [peer, list] of batch) {
      if (peer.endpoint) this.catchAsync(this.bind.send(list.length === 1 ? list[0]! : list, peer.endpoint));
    }
  }

  sendIp(ipPacket: Uint8Array): void {
    this.guard(() => {
      if (!this.identity) return this.drop('noPrivateKey');
      const dst = destinationOf(ipPacket);
      if (!dst) return this.drop('badIpPacket');
      const peer = this.allowedIps.lookupAt(ipPacket, dst.offset, dst.len);
      if (!peer) return this.drop('noRoute');
      if (peer.staged.length === 0 && sendNow(this, peer, ipPacket)) return;
      if (!peer.stage(ipPacket)) this.drop('queueFull');
      sendStaged(this, peer);
    });
  }

  /** Installs a new session; initiators use it at once, responders park it in `next` (see confirmNextSession). */
  installSession(peer: Peer, session: Session, isInitiator: boolean): void {
    this.index.promote(session.localIndex, peer, session);
    if (isInitiator) {
      if (peer.next) {
        this.retireSession(peer.previous);
        this.retireSession(peer.current);
        peer.previous = peer.next;
        peer.next = undefined;
      } else {
        this.retireSession(peer.previous);
        peer.previous = peer.current;
      }
      peer.current = session;
    } else {
      this.retireSession(peer.next);
      this.retireSession(peer.previous);
      peer.previous = undefined;
      peer.next = session;
    }
  }

  retireSession(s: Session | undefined): void {
    if (!s) return;
    s.dead = true;
    this.index.delete(s.localIndex);
  }

  /** Drops all sessions, the pending handshake, staged packets and timers of a peer. */
  private resetPeer(peer: Peer): void {
    this.zeroKeyMaterial(peer);
    peer.staged = [];
    peer.timers.stop();
    peer.cancelTimer?.();
    peer.cancelTimer = undefined;
    peer.armedAtMs = undefined;
    peer.lastSentHandshakeMs = -Infinity;
  }

  private zeroKeyMaterial(peer: Peer): void {
    for (const s of peer.sessions()) this.retireSession(s);
    peer.previous = peer.current = peer.next = undefined;
    this.index.deleteHandshake(peer.hs.localIndex, peer);
    zeroHandshake(peer.hs);
    dropCrossed(this, peer);
  }

  // ---- timers -------------------------------------------------------------------------------------

  /** Feeds a protocol event to the peer's timers and arms the clock if it set an earlier deadline. */
  timerEvent(peer: Peer, event: TimerEvent, now: number): void {
    const deadline = peer.timers.on(event, now);
    if (deadline !== undefined) this.armTimer(peer, deadline, now);
  }

  private armTimer(peer: Peer, deadline: number, now: number): void {
    if (!this.started) return;
    // Lazy: a later deadline is picked up when the earlier timer fires, so the hot path rarely re-arms.
    if (peer.armedAtMs !== undefined && peer.armedAtMs <= deadline) return;
    peer.cancelTimer?.();
    peer.armedAtMs = deadline;
    peer.cancelTimer = this.clock.setTimer(deadline - now, () => this.guard(() => this.onPeerTimer(peer)));
  }

  private onPeerTimer(peer: Peer): void {
    peer.armedAtMs = undefined;
    peer.cancelTimer = undefined;
    if (!this.peersById.has(peer.id) || !this.started) return;
    const now = this.clock.nowMs();
    for (const action of peer.timers.expire(now)) {
      switch (action.kind) {
        case 'sendInitiation':
          sendInitiation(this, peer, action.retry);
          break;
        case 'sendKeepalive':
          sendKeepalive(this, peer);
          break;
        case 'zeroKeyMaterial':
          this.zeroKeyMaterial(peer);
          break;
        case 'dropStaged':
          this.log?.debug({ peer: peer.id.slice(0, 16), dropped: peer.staged.length }, 'wg: handshake gave up after REKEY_ATTEMPT_TIME');
          peer.staged = [];
          break;
      }
    }
    const next = peer.timers.nextDeadlineMs();
    if (next !== undefined) this.armTimer(peer, next, now);
  }

  /** Edges may return promises; a rejection is theirs to report, but must not become unhandled. */
  catchAsync(r: void | Promise<void>): void {
    if (r && typeof (r as Promise<void>).catch === 'function') {
      (r as Promise<void>).catch((err: unknown) => this.log?.warn({ err }, 'wg: edge write failed'));
    }
  }

}
