/**
 * WireGuard message codecs (whitepaper 5.4). All integers little-endian. Every message starts with a
 * type byte and three zero bytes, which is what lets one UDP socket also carry STUN (whose first two
 * bits are 0 and whose bytes 4..7 are the magic cookie) and discovery messages (own magic prefix).
 * Pure: no crypto here; noise.ts and cookie.ts fill and check the fields.
 */
import { DecodeError } from '../errors.ts';

/** type 1 | 0 0 0 | sender u32 | ephemeral 32 | static 32+16 | timestamp 12+16 | mac1 16 | mac2 16  = 148 */
export const MSG_INITIATION = 1;
/** type 2 | 0 0 0 | sender u32 | receiver u32 | ephemeral 32 | empty 0+16 | mac1 16 | mac2 16  = 92 */
export const MSG_RESPONSE = 2;
/** type 3 | 0 0 0 | receiver u32 | nonce 24 | cookie 16+16  = 64 */
export const MSG_COOKIE_REPLY = 3;
/** type 4 | 0 0 0 | receiver u32 | counter u64 | ciphertext (padded payload + 16-byte tag)  >= 32 */
export const MSG_TRANSPORT = 4;

export const INITIATION_LEN = 148;
export const RESPONSE_LEN = 92;
export const COOKIE_REPLY_LEN = 64;
export const TRANSPORT_HEADER_LEN = 16;
/** Header + the tag of an empty (keepalive) payload. */
export const TRANSPORT_MIN_LEN = 32;

/** Offsets of mac1/mac2 from the end are the same for initiation and response. */
export const MAC1_FROM_END = 32;
export const MAC2_FROM_END = 16;

export interface Initiation {
  type: typeof MSG_INITIATION;
  sender: number;
  ephemeral: Uint8Array;
  encryptedStatic: Uint8Array;
  encryptedTimestamp: Uint8Array;
  mac1: Uint8Array;
  mac2: Uint8Array;
}

export interface Response {
  type: typeof MSG_RESPONSE;
  sender: number;
  receiver: number;
  ephemeral: Uint8Array;
  encryptedNothing: Uint8Array;
  mac1: Uint8Array;
  mac2: Uint8Array;
}

export interface CookieReply {
  type: typeof MSG_COOKIE_REPLY;
  receiver: number;
  nonce: Uint8Array;
  encryptedCookie: Uint8Array;
}

export interface Transport {
  type: typeof MSG_TRANSPORT;
  receiver: number;
  /** Counters at or above 2^53 (unreachable in practice) decode as Infinity and fail every limit check. */
  counter: number;
  /** Ciphertext and tag; a view into the input. */
  ciphertext: Uint8Array;
}

export type Message = Initiation | Response | CookieReply | Transport;

/**
 * True if b has the shape of a WireGuard message: type 1..4, three zero bytes, and the exact length of
 * its type (148 / 92 / 64) or at least 32 bytes for transport data. Transport lengths are not required
 * to be a multiple of 16: a sender pads to 16 but never past its MTU, so a full-size packet may not be.
 */
export function isWireGuardPacket(b: Uint8Array): boolean {
  if (b.length < 4 || b[1] !== 0 || b[2] !== 0 || b[3] !== 0) return false;
  switch (b[0]) {
    case MSG_INITIATION:
      return b.length === INITIATION_LEN;
    case MSG_RESPONSE:
      return b.length === RESPONSE_LEN;
    case MSG_COOKIE_REPLY:
      return b.length === COOKIE_REPLY_LEN;
    case MSG_TRANSPORT:
      return b.length >= TRANSPORT_MIN_LEN;
    default:
      return false;
  }
}

export function readU32(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

/** Reads a u64 as a number; values at or above 2^53 become Infinity (see Transport.counter). */
export function readU64(b: Uint8Array, off: number): number {
  const lo = readU32(b, off);
  const hi = readU32(b, off + 4);
  return hi >= 0x200000 ? Infinity : hi * 0x1_0000_0000 + lo;
}

export function writeU64(b: Uint8Array, off: number, v: number): void {
  writeU32(b, off, v >>> 0);
  writeU32(b, off + 4, Math.floor(v / 0x1_0000_0000) >>> 0);
}

function header(type: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  b[0] = type;
  return b;
}

function need(b: Uint8Array, type: number, len: number, exact: boolean): void {
  if (b.length < 4) throw new DecodeError('shorter than a message header');
  if (b[0] !== type) throw new DecodeError('unexpected message type', { type: b[0] });
  if (b[1] !== 0 || b[2] !== 0 || b[3] !== 0) throw new DecodeError('reserved bytes not zero');
  if (exact ? b.length !== len : b.length < len) throw new DecodeError('wrong length for message type', { type, length: b.length });
}

function fixed(field: string, v: Uint8Array, len: number): Uint8Array {
  if (v.length !== len) throw new RangeError(`${field} must be ${len} bytes`);
  return v;
}

export function encodeInitiation(m: Omit<Initiation, 'type'>): Uint8Array {
  const b = header(MSG_INITIATION, INITIATION_LEN);
  writeU32(b, 4, m.sender);
  b.set(fixed('ephemeral', m.ephemeral, 32), 8);
  b.set(fixed('encryptedStatic', m.encryptedStatic, 48), 40);
  b.set(fixed('encryptedTimestamp', m.encryptedTimestamp, 28), 88);
  b.set(fixed('mac1', m.mac1, 16), 116);
  b.set(fixed('mac2', m.mac2, 16), 132);
  return b;
}

export function decodeInitiation(b: Uint8Array): Initiation {
  need(b, MSG_INITIATION, INITIATION_LEN, true);
  return {
    type: MSG_INITIATION,
    sender: readU32(b, 4),
    ephemeral: b.slice(8, 40),
    encryptedStatic: b.slice(40, 88),
    encryptedTimestamp: b.slice(88, 116),
    mac1: b.slice(116, 132),
    mac2: b.slice(132, 148),
  };
}

export function encodeResponse(m: Omit<Response, 'type'>): Uint8Array {
  const b = header(MSG_RESPONSE, RESPONSE_LEN);
  writeU32(b, 4, m.sender);
  writeU32(b, 8, m.receiver);
  b.set(fixed('ephemeral', m.ephemeral, 32), 12);
  b.set(fixed('encryptedNothing', m.encryptedNothing, 16), 44);
  b.set(fixed('mac1', m.mac1, 16), 60);
  b.set(fixed('mac2', m.mac2, 16), 76);
  return b;
}

export function decodeResponse(b: Uint8Array): Response {
  need(b, MSG_RESPONSE, RESPONSE_LEN, true);
  return {
    type: MSG_RESPONSE,
    sender: readU32(b, 4),
    receiver: readU32(b, 8),
    ephemeral: b.slice(12, 44),
    encryptedNothing: b.slice(44, 60),
    mac1: b.slice(60, 76),
    mac2: b.slice(76, 92),
  };
}

export function encodeCookieReply(m: Omit<CookieReply, 'type'>): Uint8Array {
  const b = header(MSG_COOKIE_REPLY, COOKIE_REPLY_LEN);
  writeU32(b, 4, m.receiver);
  b.set(fixed('nonce', m.nonce, 24), 8);
  b.set(fixed('encryptedCookie', m.encryptedCookie, 32), 32);
  return b;
}

export function decodeCookieReply(b: Uint8Array): CookieReply {
  need(b, MSG_COOKIE_REPLY, COOKIE_REPLY_LEN, true);
  return {
    type: MSG_COOKIE_REPLY,
    receiver: readU32(b, 4),
    nonce: b.slice(8, 32),
    encryptedCookie: b.slice(32, 64),
  };
}

/** Builds a transport message around an already sealed ciphertext (the hot path seals in place instead). */
export function encodeTransport(m: Omit<Transport, 'type'>): Uint8Array {
  if (m.ciphertext.length < 16) throw new RangeError('ciphertext must hold at least the 16-byte tag');
  const b = header(MSG_TRANSPORT, TRANSPORT_HEADER_LEN + m.ciphertext.length);
  writeU32(b, 4, m.receiver);
  writeU64(b, 8, m.counter);
  b.set(m.ciphertext, TRANSPORT_HEADER_LEN);
  return b;
}

export function decodeTransport(b: Uint8Array): Transport {
  need(b, MSG_TRANSPORT, TRANSPORT_MIN_LEN, false);
  return {
    type: MSG_TRANSPORT,
    receiver: readU32(b, 4),
    counter: readU64(b, 8),
    ciphertext: b.subarray(TRANSPORT_HEADER_LEN),
  };
}

/** Decodes any WireGuard message by its type byte. */
export function decodeMessage(b: Uint8Array): Message {
  if (b.length < 1) throw new DecodeError('empty datagram');
  switch (b[0]) {
    case MSG_INITIATION:
      return decodeInitiation(b);
    case MSG_RESPONSE:
      return decodeResponse(b);
    case MSG_COOKIE_REPLY:
      return decodeCookieReply(b);
    case MSG_TRANSPORT:
      return decodeTransport(b);
    default:
      throw new DecodeError('unknown message type', { type: b[0] });
  }
}
