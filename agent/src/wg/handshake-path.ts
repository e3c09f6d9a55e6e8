/**
 * The handshake half of the device: sending initiations (rate-limited to one per REKEY_TIMEOUT),
 * answering them, consuming responses and cookie replies. Order of checks on receipt, cheapest first
 * (whitepaper 5.3): size and type (already done), mac1, then under load mac2 or a cookie reply, and
 * only then the Noise DH work.
 */
import { REKEY_TIMEOUT_MS, UNDER_LOAD_AFTER_MS } from './constants.ts';
import type { WgDevice } from './device.ts';
import { generatePrivateKey, keyToHex } from './keys.ts';
import {
  INITIATION_LEN,
  RESPONSE_LEN,
  decodeCookieReply,
  decodeInitiation,
  decodeResponse,
  encodeInitiation,
  encodeResponse,
  readU32,
} from './messages.ts';
import { cloneHandshake, consumeInitiation, consumeResponse, createInitiation, createResponse, deriveSessionKeys, zeroHandshake, type PeerHandshake } from './noise.ts';
import type { Peer } from './peer.ts';
import type { Endpoint } from './ports.ts';
import { Session } from './session.ts';
import { tai64n } from './tai64n.ts';
import { sendKeepalive } from './transport-path.ts';

const ZERO_MAC = new Uint8Array(16);

/**
 * "Under load" (whitepaper 5.3): more than `threshold` handshake messages within one second. The state
 * lasts UNDER_LOAD_AFTER_MS past the last busy moment, as in wireguard-go.
 */
export class HandshakeLoad {
  private windowStartMs = -Infinity;
  private count = 0;
  private underLoadUntilMs = -Infinity;

  constructor(private readonly threshold: number) {}

  /** Records one handshake message; returns whether the device is now under load. */
  note(nowMs: number): boolean {
    if (nowMs - this.windowStartMs >= 1000) {
      this.windowStartMs = nowMs;
      this.count = 0;
    }
    this.count++;
    if (this.count > this.threshold) this.underLoadUntilMs = nowMs + UNDER_LOAD_AFTER_MS;
    return this.underLoad(nowMs);
  }

  underLoad(nowMs: number): boolean {
    return nowMs < this.underLoadUntilMs;
  }
}

/** Sends a handshake initiation to the peer unless one went out less than REKEY_TIMEOUT ago. */
export function sendInitiation(dev: WgDevice, peer: Peer, retry: boolean): void {
  if (!retry) peer.timers.handshakeAttempts = 0;
  const now = dev.clock.nowMs();
  if (now - peer.lastSentHandshakeMs < REKEY_TIMEOUT_MS) return;
  if (!dev.identity) return dev.drop('noPrivateKey');
  if (!peer.endpoint) return dev.drop('noEndpoint');
  peer.lastSentHandshakeMs = now;
  dev.index.deleteHandshake(peer.hs.localIndex, peer);
  // A new initiation supersedes one kept from a crossing: only the newest may complete.
  dropCrossed(dev, peer);
  const localIndex = dev.index.newHandshakeIndex(peer);
  const body = createInitiation(dev.identity, peer.hs, localIndex, generatePrivateKey(dev.randomBytes), tai64n(dev.wallClockMs()));
  if (!body) {
    dev.index.delete(localIndex);
    return dev.drop('handshakeFailed');
  }
  const msg = encodeInitiation({ ...body, mac1: ZERO_MAC, mac2: ZERO_MAC });
  peer.macs.addMacs(msg, now);
  dev.catchAsync(dev.bind.send(msg, peer.endpoint));
  dev.counters.initiationsSent++;
  dev.log?.debug({ peer: peer.id.slice(0, 16), retry, attempt: peer.timers.handshakeAttempts }, 'wg: handshake initiation sent');
  peer.txBytes += msg.length;
  dev.timerEvent(peer, 'anyAuthenticatedPacketTraversal', now);
  dev.timerEvent(peer, 'anyAuthenticatedPacketSent', now);
  dev.timerEvent(peer, 'handshakeInitiated', now);
}

/**
 * mac1 must verify; under load, mac2 must too, or the sender gets a cookie reply and nothing else.
 * Returns true if the message may go on to the Noise layer.
 */
function admit(dev: WgDevice, packet: Uint8Array, from: Endpoint, now: number): boolean {
  const checker = dev.checker!;
  if (!checker.checkMac1(packet)) {
    dev.drop('badMac');
    return false;
  }
  if (!dev.load.note(now)) return true;
  if (!checker.checkMac2(packet, from, now)) {
    dev.catchAsync(dev.bind.send(checker.createReply(packet, readU32(packet, 4), from, now), from));
    dev.counters.cookieRepliesSent++;
    return false;
  }
  // A valid cookie proves the source address, so limiting per source now means something.
  if (!dev.rateLimiter.allow(from.address, now)) {
    dev.drop('rateLimited');
    return false;
  }
  return true;
}

/** Forgets our initiation kept from a crossing (its index and its key material). */
export function dropCrossed(dev: WgDevice, peer: Peer): void {
  const mine = peer.crossed;
  if (!mine) return;
  peer.crossed = undefined;
  dev.index.deleteHandshake(mine.localIndex, peer);
  zeroHandshake(mine);
}

export function handleInitiation(dev: WgDevice, packet: Uint8Array, from: Endpoint): void {
  if (packet.length !== INITIATION_LEN) return dev.drop('decode');
  const now = dev.clock.nowMs();
  if (!admit(dev, packet, from, now)) return;
  const msg = decodeInitiation(packet);
  let found: Peer | undefined;
  let mine: PeerHandshake | undefined;
  const result = consumeInitiation(
    dev.identity!,
    msg,
    (pub) => {
      found = dev.peersById.get(keyToHex(pub));
      // Taken before consumeInitiation overwrites the state with the responder's.
      if (found?.hs.stage === 'initiationCreated') mine = cloneHandshake(found.hs);
      return found?.hs;
    },
    now,
  );
  if (!result.ok || !found) {
    if (mine) zeroHandshake(mine);
    return dev.drop(result.ok ? 'handshakeFailed' : result.reason);
  }
  const peer = found;
  // Crossed initiations (both sides initiated at once, e.g. traffic-triggered on both ends of a path
  // just opened): we answer theirs AND keep ours pending under its index. wireguard-go and Linux
  // forget their own here (CreateMessageResponse drops the handshake's index), so when both cross,
  // each drops the other's response, both hold an unconfirmed responder session and nothing moves
  // until a retransmit REKEY_TIMEOUT later. Kept, whichever response arrives first completes a
  // session within one round trip, and the other side confirms ours by the data we send on it.
  if (mine) {
    dropCrossed(dev, peer);
    peer.crossed = mine;
  }
  dev.counters.initiationsReceived++;
  peer.rxBytes += packet.length;
  dev.updateEndpoint(peer, from);
  dev.timerEvent(peer, 'anyAuthenticatedPacketTraversal', now);
  dev.timerEvent(peer, 'anyAuthenticatedPacketReceived', now);

  // Answer at once. Our index for this handshake becomes the session's index.
  const localIndex = dev.index.newHandshakeIndex(peer);
  const body = createResponse(peer.hs, localIndex, generatePrivateKey(dev.randomBytes));
  const keys = body && deriveSessionKeys(peer.hs, false);
  if (!body || !keys) {
    dev.index.delete(localIndex);
    return dev.drop('handshakeFailed');
  }
  const reply = encodeResponse({ ...body, mac1: ZERO_MAC, mac2: ZERO_MAC });
  peer.macs.addMacs(reply, now);
  dev.installSession(peer, new Session(keys, now, dev.limits), false);
  dev.catchAsync(dev.bind.send(reply, peer.endpoint!));
  dev.counters.responsesSent++;
  peer.txBytes += reply.length;
  dev.timerEvent(peer, 'sessionDerived', now);
  dev.timerEvent(peer, 'anyAuthenticatedPacketTraversal', now);
  dev.timerEvent(peer, 'anyAuthenticatedPacketSent', now);
}

export function handleResponse(dev: WgDevice, packet: Uint8Array, from: Endpoint): void {
  if (packet.length !== RESPONSE_LEN) return dev.drop('decode');
  const now = dev.clock.nowMs();
  if (!admit(dev, packet, from, now)) return;
  const msg = decodeResponse(packet);
  const entry = dev.index.get(msg.receiver);
  if (!entry || entry.kind !== 'handshake') return dev.drop('unknownReceiver');
  const peer = entry.peer;
  // A response to our initiation that a crossing one displaced from peer.hs (handleInitiation).
  const crossed = peer.crossed !== undefined && peer.crossed.localIndex === msg.receiver ? peer.crossed : undefined;
  const hs = crossed ?? peer.hs;
  if (!consumeResponse(dev.identity!, hs, msg)) return dev.drop('handshakeFailed');
  const keys = deriveSessionKeys(hs, true);
  if (crossed) peer.crossed = undefined;
  if (!keys) return dev.drop('handshakeFailed');
  dev.installSession(peer, new Session(keys, now, dev.limits), true);
  dev.counters.responsesReceived++;
  peer.rxBytes += packet.length;
  peer.lastHandshakeWallMs = dev.wallClockMs();
  dev.updateEndpoint(peer, from);
  dev.timerEvent(peer, 'anyAuthenticatedPacketTraversal', now);
  dev.timerEvent(peer, 'anyAuthenticatedPacketReceived', now);
  dev.timerEvent(peer, 'sessionDerived', now);
  dev.timerEvent(peer, 'handshakeComplete', now);
  dev.log?.debug({ peer: peer.id.slice(0, 16), index: keys.localIndex }, 'wg: handshake complete (initiator)');
  // The responder may only use the new session after hearing on it: send staged data or a keepalive.
  sendKeepalive(dev, peer);
}

export function handleCookieReply(dev: WgDevice, packet: Uint8Array): void {
  const reply = decodeCookieReply(packet);
  const entry = dev.index.get(reply.receiver);
  if (!entry) return dev.drop('unknownReceiver');
  if (!entry.peer.macs.consumeCookieReply(reply, dev.clock.nowMs())) return dev.drop('cookieRejected');
  dev.counters.cookieRepliesReceived++;
}
