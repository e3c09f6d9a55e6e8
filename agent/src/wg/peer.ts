/**
 * Everything the device keeps per peer: identity, handshake state, MACs/cookie, timers, the three
 * session slots of whitepaper 5.4.6 / wireguard-go (previous, current, next), the packets staged while
 * no session exists, and the counters `wg show` reports.
 */
import type { CancelTimer } from '../clock/clock.ts';
import { MacSender } from './cookie.ts';
import { MAX_STAGED_PACKETS } from './constants.ts';
import { keyToHex } from './keys.ts';
import { newPeerHandshake, type Identity, type PeerHandshake } from './noise.ts';
import type { Endpoint } from './ports.ts';
import type { Session } from './session.ts';
import { PeerTimers } from './timers.ts';

export class Peer {
  readonly publicKey: Uint8Array;
  readonly id: string;
  hs: PeerHandshake;
  /**
   * Our own initiation, kept when the peer's crossed it (both sides initiated at once) and we answered
   * theirs: a response to ours still completes it (handshake-path.ts). Undefined otherwise.
   */
  crossed: PeerHandshake | undefined = undefined;
  readonly macs: MacSender;
  readonly timers: PeerTimers;
  endpoint: Endpoint | undefined;
  persistentKeepaliveSec = 0;

  previous: Session | undefined;
  current: Session | undefined;
  /** Responder side: derived, but not used to send until the initiator proves it has it (first data). */
  next: Session | undefined;

  staged: Uint8Array[] = [];
  lastSentHandshakeMs = -Infinity;

  rxBytes = 0;
  txBytes = 0;
  lastHandshakeWallMs = 0;

  /** The deadline our clock timer is armed for, and how to cancel it. */
  armedAtMs: number | undefined;
  cancelTimer: CancelTimer | undefined;

  constructor(identity: Identity | undefined, publicKey: Uint8Array, presharedKey: Uint8Array | undefined, jitterMs: () => number) {
    this.publicKey = Uint8Array.from(publicKey);
    this.id = keyToHex(publicKey);
    this.hs = newPeerHandshake(identity, publicKey, presharedKey);
    this.macs = new MacSender(publicKey);
    this.timers = new PeerTimers({ jitterMs });
  }

  /** Queues a packet for when a session exists; returns false if the oldest had to be dropped. */
  stage(packet: Uint8Array): boolean {
    this.staged.push(packet);
    if (this.staged.length > MAX_STAGED_PACKETS) {
      this.staged.shift();
      return false;
    }
    return true;
  }

  /** Sessions in the order an index lookup is most likely to hit. */
  sessions(): Session[] {
    const out: Session[] = [];
    if (this.current) out.push(this.current);
    if (this.next) out.push(this.next);
    if (this.previous) out.push(this.previous);
    return out;
  }
}
