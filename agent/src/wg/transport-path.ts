/**
 * The transport half of the device: sealing IP packets for a peer (a hot path that skips staging when a
 * session is ready), staging them while a handshake runs, keepalives, and opening transport messages:
 * authenticate, replay check, session confirmation, roaming, then cryptokey routing on the inner source.
 */
import { KEEPALIVE_TIMEOUT_MS, REJECT_AFTER_TIME_MS, REKEY_TIMEOUT_MS } from './constants.ts';
import type { WgDevice } from './device.ts';
import { sendInitiation } from './handshake-path.ts';
import { declaredLength, sourceOf } from './ip-packet.ts';
import { readU32 } from './messages.ts';
import type { Peer } from './peer.ts';
import type { Endpoint } from './ports.ts';

export function receiveTransport(dev: WgDevice, packet: Uint8Array, from: Endpoint): void {
  const entry = dev.index.get(readU32(packet, 4));
  if (!entry || entry.kind !== 'session') return dev.drop('unknownReceiver');
  const { peer, session } = entry;
  const now = dev.clock.nowMs();
  if (!session.canReceive(now)) return dev.drop('keyExpired');
  const plain = session.open(packet);
  if (plain === 'badAuth' || plain === 'replay') return dev.drop(plain);

  dev.counters.transportReceived++;
  peer.rxBytes += packet.length;
  if (session === peer.next) confirmNextSession(dev, peer, now);
  dev.updateEndpoint(peer, from);
  keepKeyFreshReceiving(dev, peer, now);
  dev.timerEvent(peer, 'anyAuthenticatedPacketTraversal', now);
  dev.timerEvent(peer, 'anyAuthenticatedPacketReceived', now);
  if (plain.length === 0) return; // keepalive

  dev.timerEvent(peer, 'dataReceived', now);
  const len = declaredLength(plain);
  const src = len === undefined ? undefined : sourceOf(plain);
  if (len === undefined || !src) return dev.drop('badIpPacket');
  // Cryptokey routing, inbound: the inner source must be one the sending peer may use.
  if (dev.allowedIps.lookupAt(plain, src.offset, src.len) !== peer) return dev.drop('badAllowedIp');
  const ip = len === plain.length ? plain : plain.subarray(0, len);
  if (dev.tunBatch) dev.tunBatch.push(ip);
  else dev.catchAsync(dev.tun.write(ip));
}

/** The responder's new session is confirmed by the first packet the initiator sends with it. */
export function confirmNextSession(dev: WgDevice, peer: Peer, now: number): void {
  const next = peer.next!;
  dev.retireSession(peer.previous);
  peer.previous = peer.current;
  peer.current = next;
  peer.next = undefined;
  peer.lastHandshakeWallMs = dev.wallClockMs();
  dev.timerEvent(peer, 'handshakeComplete', now);
  dev.log?.debug({ peer: peer.id.slice(0, 16), index: next.localIndex }, 'wg: handshake complete (responder)');
  if (peer.staged.length) sendStaged(dev, peer);
}

/**
 * Whitepaper 6.2: an initiator whose session nears REJECT_AFTER_TIME and that hears from the peer
 * starts one last handshake, so the session does not lapse if it has nothing to send.
 */
export function keepKeyFreshReceiving(dev: WgDevice, peer: Peer, now: number): void {
  const s = peer.current;
  if (!s || !s.isInitiator || peer.timers.sentLastMinuteHandshake) return;
  if (now - s.createdMs > REJECT_AFTER_TIME_MS - KEEPALIVE_TIMEOUT_MS - REKEY_TIMEOUT_MS) {
    peer.timers.sentLastMinuteHandshake = true;
    sendInitiation(dev, peer, false);
  }
}

/**
 * Hot path: one packet, nothing staged, a usable session. Returns false (nothing done) otherwise, and
 * the caller stages the packet and takes the general path.
 */
export function sendNow(dev: WgDevice, peer: Peer, ipPacket: Uint8Array): boolean {
  const session = peer.current;
  const endpoint = peer.endpoint;
  const now = dev.clock.nowMs();
  if (!session || !endpoint || !session.canSend(now)) return false;
  const msg = session.seal(ipPacket, dev.tun.mtu, now);
  if (!msg) return false;
  const batch = dev.udpBatch;
  if (batch) {
    const list = batch.get(peer);
    if (list) list.push(msg);
    else batch.set(peer, [msg]);
  } else {
    dev.catchAsync(dev.bind.send(msg, endpoint));
  }
  peer.txBytes += msg.length;
  dev.counters.transportSent++;
  dev.timerEvent(peer, 'anyAuthenticatedPacketTraversal', now);
  dev.timerEvent(peer, 'anyAuthenticatedPacketSent', now);
  dev.timerEvent(peer, 'dataSent', now);
  if (session.wantsRekeyOnSend(now)) sendInitiation(dev, peer, false);
  return true;
}

/** Sends every staged packet on the current session, or starts a handshake if there is none. */
export function sendStaged(dev: WgDevice, peer: Peer): void {
  const now = dev.clock.nowMs();
  const session = peer.current;
  if (!session || !session.canSend(now)) {
    sendInitiation(dev, peer, false);
    return;
  }
  if (!peer.endpoint) {
    dev.counters.drops.noEndpoint += peer.staged.length;
    peer.staged = [];
    return;
  }
  const out: Uint8Array[] = [];
  let data = false;
  let bytes = 0;
  let i = 0;
  for (; i < peer.staged.length; i++) {
    const p = peer.staged[i]!;
    const msg = session.seal(p, dev.tun.mtu, now);
    if (!msg) break;
    out.push(msg);
    bytes += msg.length;
    if (p.length) data = true;
  }
  peer.staged = i === peer.staged.length ? [] : peer.staged.slice(i);
  if (out.length) {
    void dev.catchAsync(dev.bind.send(out.length === 1 ? out[0]! : out, peer.endpoint));
    peer.txBytes += bytes;
    dev.counters.transportSent += out.length;
    dev.timerEvent(peer, 'anyAuthenticatedPacketTraversal', now);
    dev.timerEvent(peer, 'anyAuthenticatedPacketSent', now);
    if (data) dev.timerEvent(peer, 'dataSent', now);
  }
  // Whitepaper 6.2: the sender rekeys after REKEY_AFTER_MESSAGES, or REKEY_AFTER_TIME if it initiated.
  if (peer.staged.length || session.wantsRekeyOnSend(now)) sendInitiation(dev, peer, false);
}

/** A keepalive is an empty transport message; without a session it starts a handshake instead. */
export function sendKeepalive(dev: WgDevice, peer: Peer): void {
  if (peer.staged.length === 0) peer.stage(new Uint8Array(0));
  sendStaged(dev, peer);
}
