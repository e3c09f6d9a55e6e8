/**
 * mac1, mac2 and cookie replies (whitepaper 5.3, 5.4.4, 5.4.7).
 * - mac1 = MAC(HASH("mac1----" || receiver's static public), msg up to mac1): proves the sender knows
 *   whom it talks to; checked before any DH work.
 * - Under load, the receiver also wants mac2 = MAC(cookie, msg up to mac2), where
 *   cookie = MAC(secret, source address || port) and the secret rotates every COOKIE_REFRESH_TIME.
 *   Without a valid mac2 it answers with a cookie reply: XAEAD(HASH("cookie--" || its static public),
 *   random 24-byte nonce, cookie, ad = the mac1 it received).
 */
import { equalConstantTime, hash, mac, xaeadOpen, xaeadSeal } from './crypto.ts';
import { COOKIE_REFRESH_TIME_MS } from './constants.ts';
import { MAC1_FROM_END, MAC2_FROM_END, encodeCookieReply, type CookieReply } from './messages.ts';
import { parseIp } from '../net/ip.ts';
import type { Endpoint } from './ports.ts';

const enc = new TextEncoder();
const LABEL_MAC1 = enc.encode('mac1----');
const LABEL_COOKIE = enc.encode('cookie--');

export function mac1Key(staticPublic: Uint8Array): Uint8Array {
  return hash(LABEL_MAC1, staticPublic);
}
export function cookieKey(staticPublic: Uint8Array): Uint8Array {
  return hash(LABEL_COOKIE, staticPublic);
}

/** Source address bytes || port (big-endian): what a cookie binds to. */
export function endpointBytes(e: Endpoint): Uint8Array {
  const ip = parseIp(e.address);
  const addr = ip ? ip.bytes : enc.encode(e.address);
  const out = new Uint8Array(addr.length + 2);
  out.set(addr);
  out[addr.length] = e.port >>> 8;
  out[addr.length + 1] = e.port & 0xff;
  return out;
}

/**
 * The sending side, one per peer: adds mac1 and, while a fresh cookie from that peer is held, mac2.
 * Remembers the last mac1 sent, which a cookie reply must quote.
 */
export class MacSender {
  private readonly mac1K: Uint8Array;
  private readonly cookieK: Uint8Array;
  private cookie: Uint8Array | undefined;
  private cookieSetMs = -Infinity;
  lastMac1: Uint8Array | undefined;

  constructor(remoteStatic: Uint8Array) {
    this.mac1K = mac1Key(remoteStatic);
    this.cookieK = cookieKey(remoteStatic);
  }

  /** Fills mac1 and mac2 of an encoded initiation or response in place. */
  addMacs(msg: Uint8Array, nowMs: number): void {
    const m1 = msg.length - MAC1_FROM_END;
    const m2 = msg.length - MAC2_FROM_END;
    const mac1 = mac(this.mac1K, msg.subarray(0, m1));
    msg.set(mac1, m1);
    this.lastMac1 = mac1;
    if (this.cookie && nowMs - this.cookieSetMs < COOKIE_REFRESH_TIME_MS) {
      msg.set(mac(this.cookie, msg.subarray(0, m2)), m2);
    } else {
      msg.fill(0, m2);
    }
  }

  /** Accepts a cookie reply answering our last message; false if it does not decrypt. */
  consumeCookieReply(reply: CookieReply, nowMs: number): boolean {
    if (!this.lastMac1) return false;
    const cookie = xaeadOpen(this.cookieK, reply.nonce, reply.encryptedCookie, this.lastMac1);
    if (!cookie) return false;
    this.cookie = cookie;
    this.cookieSetMs = nowMs;
    return true;
  }
}

/** The receiving side, one per device: checks mac1/mac2 and makes cookie replies. */
export class MacChecker {
  private readonly mac1K: Uint8Array;
  private readonly cookieK: Uint8Array;
  private secret: Uint8Array | undefined;
  private secretSetMs = -Infinity;

  constructor(
    ownStatic: Uint8Array,
    private readonly randomBytes: (n: number) => Uint8Array,
  ) {
    this.mac1K = mac1Key(ownStatic);
    this.cookieK = cookieKey(ownStatic);
  }

  checkMac1(msg: Uint8Array): boolean {
    const m1 = msg.length - MAC1_FROM_END;
    return equalConstantTime(mac(this.mac1K, msg.subarray(0, m1)), msg.subarray(m1, m1 + 16));
  }

  checkMac2(msg: Uint8Array, source: Endpoint, nowMs: number): boolean {
    const m2 = msg.length - MAC2_FROM_END;
    return equalConstantTime(mac(this.cookieFor(source, nowMs), msg.subarray(0, m2)), msg.subarray(m2));
  }

  /** A cookie reply to `msg` (an initiation or response whose mac1 verified) from `source`. */
  createReply(msg: Uint8Array, receiver: number, source: Endpoint, nowMs: number): Uint8Array {
    const m1 = msg.length - MAC1_FROM_END;
    const nonce = this.randomBytes(24);
    const encryptedCookie = xaeadSeal(this.cookieK, nonce, this.cookieFor(source, nowMs), msg.subarray(m1, m1 + 16));
    return encodeCookieReply({ receiver, nonce, encryptedCookie });
  }

  private cookieFor(source: Endpoint, nowMs: number): Uint8Array {
    if (!this.secret || nowMs - this.secretSetMs >= COOKIE_REFRESH_TIME_MS) {
      this.secret = this.randomBytes(32);
      this.secretSetMs = nowMs;
    }
    return mac(this.secret, endpointBytes(source));
  }
}
