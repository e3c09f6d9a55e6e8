/**
 * The UDP relay client's pure core: per peer, allocate an endpoint on the chosen relay node, bind our
 * socket's source to it with the challenge, keep it bound, and find the peer of a relayed datagram.
 * Time comes in as nowMs; what to send and which paths changed come out as data (the edge, client.ts,
 * sends and notifies).
 *
 * Timers: requests are retried every second, 5 tries; a bound path is re-bound every minute (that is
 * also how a changed NAT mapping or a relay that forgot us is noticed: the re-bind is refused or times
 * out, and we allocate again); after a failure we wait 30 s before trying that relay again.
 */
import { keyToHex } from '../../wg/keys.ts';
import type { Endpoint } from '../../wg/ports.ts';
import type { SocketId } from '../../paths/types.ts';
import { decodeControlEnvelope, encodeControlPacket, openControl, TXID_LEN, type ControlMessage } from './codec.ts';
import { NONCE_LEN, sharedBoxKey } from './seal.ts';
import type { NodeKeyHex, UdpRelayNode, UdpRelayPathState, UdpRelayPathStatus, UdpRelayVia } from './types.ts';

export const CLIENT_TIMING = { retryMs: 1000, tries: 5, rebindMs: 60_000, failBackoffMs: 30_000 };

export interface UdpRelayClientCoreDeps {
  discoPrivate: Uint8Array;
  discoPublic: Uint8Array;
  nodeKey: Uint8Array;
  randomBytes(n: number): Uint8Array;
}

export type ClientOutput =
  | { t: 'send'; socket: SocketId; packet: Uint8Array; to: Endpoint }
  | { t: 'change'; peer: NodeKeyHex; via: UdpRelayVia | undefined };

interface Entry {
  peer: NodeKeyHex;
  relay: UdpRelayNode;
  socket: SocketId;
  state: UdpRelayPathState;
  /** A bound path stays usable while its re-bind runs. */
  rebinding: boolean;
  txId: Uint8Array;
  vni?: number;
  generation: number;
  tries: number;
  nextMs: number;
  sinceMs: number;
  error?: string;
  via?: UdpRelayVia;
}

/** Same address, treating ::ffff:a.b.c.d (a dual-stack socket's view) as a.b.c.d. */
export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  const strip = (s: string): string => (s.startsWith('::ffff:') && s.includes('.') ? s.slice(7) : s);
  return a.port === b.port && strip(a.address) === strip(b.address);
}

export class UdpRelayClientCore {
  private readonly entries = new Map<NodeKeyHex, Entry>();
  private readonly boxKeys = new Map<string, Uint8Array | undefined>();

  constructor(
    private readonly deps: UdpRelayClientCoreDeps,
    private readonly timing = CLIENT_TIMING,
  ) {}

  want(peer: NodeKeyHex, relay: UdpRelayNode, socket: SocketId, nowMs: number): ClientOutput[] {
    const e = this.entries.get(peer);
    if (e && e.relay.discoKey === relay.discoKey && sameEndpoint(e.relay.endpoint, relay.endpoint) && e.socket === socket) return [];
    const out = e ? this.lose(e) : [];
    const fresh: Entry = { peer, relay, socket, state: 'allocating', rebinding: false, txId: new Uint8Array(0), generation: 0, tries: 0, nextMs: nowMs, sinceMs: nowMs };
    this.entries.set(peer, fresh);
    return [...out, ...this.startAllocate(fresh, nowMs)];
  }

  drop(peer: NodeKeyHex): ClientOutput[] {
    const e = this.entries.get(peer);
    if (!e) return [];
    this.entries.delete(peer);
    return this.lose(e);
  }

  via(peer: NodeKeyHex): UdpRelayVia | undefined {
    return this.entries.get(peer)?.via;
  }

  /** The peer whose bound path has this VNI on this relay (a relayed datagram's sender). */
  peerFor(vni: number, from: Endpoint): { peer: NodeKeyHex; via: UdpRelayVia } | undefined {
    for (const e of this.entries.values()) if (e.via && e.via.vni === vni && sameEndpoint(e.via.relay, from)) return { peer: e.peer, via: e.via };
    return undefined;
  }

  tick(nowMs: number): ClientOutput[] {
    const out: ClientOutput[] = [];
    for (const e of this.entries.values()) {
      if (nowMs < e.nextMs) continue;
      if (e.state === 'failed') out.push(...this.startAllocate(e, nowMs));
      else if (e.state === 'bound' && !e.rebinding) out.push(...this.startBind(e, nowMs, true));
      else if (e.tries >= this.timing.tries) out.push(...this.fail(e, 'timeout', nowMs));
      else out.push(...this.request(e, nowMs));
    }
    return out;
  }

  nextWakeMs(): number | undefined {
    let next: number | undefined;
    for (const e of this.entries.values()) next = next === undefined ? e.nextMs : Math.min(next, e.nextMs);
    return next;
  }

  /** A control packet that came from `from`; ignored unless it opens with the key of a relay we use there. */
  onControl(packet: Uint8Array, from: Endpoint, nowMs: number): ClientOutput[] {
    let m: ControlMessage;
    let relayKey: string;
    try {
      const env = decodeControlEnvelope(packet);
      relayKey = keyToHex(env.senderKey);
      const known = [...this.entries.values()].some((e) => e.relay.discoKey === relayKey && sameEndpoint(e.relay.endpoint, from));
      const key = known ? this.boxKey(relayKey) : undefined;
      if (!key) return [];
      m = openControl(env, key);
    } catch {
      return [];
    }
    const e = [...this.entries.values()].find((x) => x.relay.discoKey === relayKey && this.matches(x, m));
    return e ? this.step(e, m, nowMs) : [];
  }

  status(): UdpRelayPathStatus[] {
    return [...this.entries.values()].map((e) => ({
      peer: e.peer, relay: `${e.relay.endpoint.address}:${e.relay.endpoint.port}`, state: e.state, vni: e.vni, error: e.error, sinceMs: e.sinceMs,
    }));
  }

  private matches(e: Entry, m: ControlMessage): boolean {
    if (m.type === 'allocated') return e.state === 'allocating' && bytesEqual(e.txId, m.txId);
    if (m.type === 'challenge' || m.type === 'bound' || m.type === 'refused') return e.vni === m.vni && e.generation === m.generation;
    return false;
  }

  private step(e: Entry, m: ControlMessage, nowMs: number): ClientOutput[] {
    switch (m.type) {
      case 'allocated':
        if (m.status !== 'ok') return this.fail(e, m.status, nowMs);
        e.vni = m.vni;
        return this.startBind(e, nowMs, false);
      case 'challenge':
        return [this.send(e, { type: 'answer', vni: m.vni, generation: m.generation, mac: m.mac })];
      case 'bound': {
        const wasBound = e.via !== undefined;
        e.state = 'bound';
        e.rebinding = false;
        e.error = undefined;
        e.nextMs = nowMs + this.timing.rebindMs;
        if (wasBound) return [];
        e.sinceMs = nowMs;
        e.via = { kind: 'udp-relay', relay: e.relay.endpoint, vni: m.vni, socket: e.socket };
        return [{ t: 'change', peer: e.peer, via: e.via }];
      }
      case 'refused':
        // The relay forgot an endpoint we had bound (expired, restarted): allocate again at once. A fresh
        // allocation refused like that is a relay that cannot keep one: wait, never loop at network speed.
        if (m.reason === 'unknown-vni' && e.via) return [...this.lose(e), ...this.startAllocate(e, nowMs)];
        return this.fail(e, m.reason, nowMs);
      default:
        return [];
    }
  }

  private startAllocate(e: Entry, nowMs: number): ClientOutput[] {
    e.state = 'allocating';
    e.rebinding = false;
    e.vni = undefined;
    e.txId = this.deps.randomBytes(TXID_LEN);
    e.tries = 0;
    return this.request(e, nowMs);
  }

  private startBind(e: Entry, nowMs: number, rebinding: boolean): ClientOutput[] {
    if (!rebinding) e.state = 'binding';
    e.rebinding = rebinding;
    e.generation = (e.generation + 1) >>> 0;
    e.tries = 0;
    return this.request(e, nowMs);
  }

  /** Sends (or re-sends) the request of the current state. */
  private request(e: Entry, nowMs: number): ClientOutput[] {
    // A relay key of low order gives no box key: nothing could be sealed to it.
    if (!this.boxKey(e.relay.discoKey)) return this.fail(e, 'bad-relay-key', nowMs);
    e.tries++;
    e.nextMs = nowMs + this.timing.retryMs;
    if (e.state === 'allocating') {
      return [this.send(e, { type: 'allocate', txId: e.txId, nodeKey: this.deps.nodeKey, peerKey: Buffer.from(e.peer, 'hex') })];
    }
    return [this.send(e, { type: 'bind', vni: e.vni!, generation: e.generation, nodeKey: this.deps.nodeKey })];
  }

  private fail(e: Entry, error: string, nowMs: number): ClientOutput[] {
    const out = this.lose(e);
    e.state = 'failed';
    e.rebinding = false;
    e.error = error;
    e.sinceMs = nowMs;
    e.nextMs = nowMs + this.timing.failBackoffMs;
    return out;
  }

  private lose(e: Entry): ClientOutput[] {
    if (!e.via) return [];
    e.via = undefined;
    return [{ t: 'change', peer: e.peer, via: undefined }];
  }

  private send(e: Entry, m: ControlMessage): ClientOutput {
    const packet = encodeControlPacket(m, this.deps.discoPublic, this.boxKey(e.relay.discoKey)!, this.deps.randomBytes(NONCE_LEN));
    return { t: 'send', socket: e.socket, packet, to: e.relay.endpoint };
  }

  private boxKey(relayDiscoHex: string): Uint8Array | undefined {
    if (!this.boxKeys.has(relayDiscoHex)) {
      if (this.boxKeys.size > 256) this.boxKeys.clear();
      this.boxKeys.set(relayDiscoHex, sharedBoxKey(this.deps.discoPrivate, Buffer.from(relayDiscoHex, 'hex')));
    }
    return this.boxKeys.get(relayDiscoHex);
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
