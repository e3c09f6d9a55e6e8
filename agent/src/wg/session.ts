/**
 * A transport session (whitepaper 5.4.6): one pair of keys from a handshake, a send counter, a receive
 * replay window, and the age and message limits after which it must be replaced or refused.
 * Sealing writes the whole transport message into one fresh buffer (header, ciphertext, tag), which is
 * handed to the bind; nothing else is allocated on the hot path besides what node:crypto returns.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { TAG_LEN, writeNonce } from './crypto.ts';
import {
  PADDING_MULTIPLE,
  REJECT_AFTER_MESSAGES,
  REJECT_AFTER_TIME_MS,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME_MS,
} from './constants.ts';
import { MSG_TRANSPORT, TRANSPORT_HEADER_LEN, readU32, readU64, writeU32, writeU64 } from './messages.ts';
import { ReplayWindow } from './replay.ts';
import type { SessionKeys } from './noise.ts';

/** Message limits, injectable so tests can reach them. */
export interface SessionLimits {
  rekeyAfterMessages: number;
  rejectAfterMessages: number;
}

export const DEFAULT_LIMITS: SessionLimits = {
  rekeyAfterMessages: REKEY_AFTER_MESSAGES,
  rejectAfterMessages: REJECT_AFTER_MESSAGES,
};

const ZEROS = new Uint8Array(PADDING_MULTIPLE);

/**
 * Plaintext length after padding to a multiple of 16, but never past the MTU (a packet already at the
 * MTU is sent unpadded rather than fragmented); wireguard-go pads the same way.
 */
export function paddedLength(len: number, mtu: number): number {
  const padded = Math.ceil(len / PADDING_MULTIPLE) * PADDING_MULTIPLE;
  if (mtu <= 0) return padded;
  if (len >= mtu) return len;
  return Math.min(padded, mtu);
}

export class Session {
  readonly isInitiator: boolean;
  readonly localIndex: number;
  readonly remoteIndex: number;
  readonly createdMs: number;
  private readonly sendKey: KeyObject;
  private readonly receiveKey: KeyObject;
  private sendCounter = 0;
  private readonly replay = new ReplayWindow();
  private readonly nonce = new Uint8Array(12);
  private readonly limits: SessionLimits;
  /** Set when zeroed or replaced; a dead session neither seals nor opens. */
  dead = false;

  constructor(keys: SessionKeys, createdMs: number, limits: SessionLimits = DEFAULT_LIMITS) {
    this.isInitiator = keys.isInitiator;
    this.localIndex = keys.localIndex;
    this.remoteIndex = keys.remoteIndex;
    this.createdMs = createdMs;
    this.sendKey = createSecretKey(keys.sendKey);
    this.receiveKey = createSecretKey(keys.receiveKey);
    keys.sendKey.fill(0);
    keys.receiveKey.fill(0);
    this.limits = limits;
  }

  get messagesSent(): number {
    return this.sendCounter;
  }

  /** Can still send: not dead, younger than REJECT_AFTER_TIME, counter below REJECT_AFTER_MESSAGES. */
  canSend(nowMs: number): boolean {
    return !this.dead && nowMs - this.createdMs < REJECT_AFTER_TIME_MS && this.sendCounter < this.limits.rejectAfterMessages;
  }

  canReceive(nowMs: number): boolean {
    return !this.dead && nowMs - this.createdMs < REJECT_AFTER_TIME_MS;
  }

  /**
   * The sender should start a new handshake (whitepaper 6.2): after REKEY_AFTER_MESSAGES, or after
   * REKEY_AFTER_TIME if it was the initiator (only initiators rekey on time, to avoid both sides racing).
   */
  wantsRekeyOnSend(nowMs: number): boolean {
    return this.sendCounter > this.limits.rekeyAfterMessages || (this.isInitiator && nowMs - this.createdMs > REKEY_AFTER_TIME_MS);
  }

  /**
   * Encrypts one IP packet (empty for a keepalive) into a complete transport message. Returns undefined
   * when the session may no longer send (the caller starts a handshake and stages the packet).
   */
  seal(payload: Uint8Array, mtu: number, nowMs: number): Uint8Array | undefined {
    if (!this.canSend(nowMs)) return undefined;
    const counter = this.sendCounter++;
    const padded = paddedLength(payload.length, mtu);
    const out = new Uint8Array(TRANSPORT_HEADER_LEN + padded + TAG_LEN);
    out[0] = MSG_TRANSPORT;
    writeU32(out, 4, this.remoteIndex);
    writeU64(out, 8, counter);
    const c = createCipheriv('chacha20-poly1305', this.sendKey, writeNonce(this.nonce, counter), { authTagLength: TAG_LEN });
    let off = TRANSPORT_HEADER_LEN;
    const body = c.update(payload);
    out.set(body, off);
    off += body.length;
    if (padded > payload.length) {
      const pad = c.update(ZEROS.subarray(0, padded - payload.length));
      out.set(pad, off);
      off += pad.length;
    }
    const fin = c.final();
    if (fin.length) {
      out.set(fin, off);
      off += fin.length;
    }
    out.set(c.getAuthTag(), off);
    return out;
  }

  /**
   * Authenticates and decrypts a transport message addressed to this session. Returns the padded
   * plaintext, 'badAuth' if it did not authenticate, or 'replay' if its counter was seen or is too old.
   * The counter is checked against the window only after authentication (RFC 6479 / whitepaper 5.4.6).
   */
  open(msg: Uint8Array): Uint8Array | 'badAuth' | 'replay' {
    if (this.dead) return 'badAuth';
    const counter = readU64(msg, 8);
    if (!(counter < this.limits.rejectAfterMessages)) return 'replay';
    const n = msg.length - TRANSPORT_HEADER_LEN - TAG_LEN;
    if (n < 0 || readU32(msg, 4) !== this.localIndex) return 'badAuth';
    let plain: Uint8Array;
    try {
      const d = createDecipheriv('chacha20-poly1305', this.receiveKey, writeNonce(this.nonce, counter), { authTagLength: TAG_LEN });
      d.setAuthTag(msg.subarray(msg.length - TAG_LEN));
      const body = d.update(msg.subarray(TRANSPORT_HEADER_LEN, TRANSPORT_HEADER_LEN + n));
      d.final();
      plain = body;
    } catch {
      return 'badAuth';
    }
    if (!this.replay.accept(counter, this.limits.rejectAfterMessages)) return 'replay';
    return plain;
  }
}
