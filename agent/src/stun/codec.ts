/**
 * STUN wire codec (RFC 8489 Binding, RFC 5780 NAT-behaviour attributes). Pure: no sockets, clock or
 * randomness; the caller supplies the 96-bit transaction id.
 *
 * Message layout (RFC 8489 section 5):
 *   0                   1                   2                   3
 *   |0 0|     STUN Message Type (14)    |      Message Length (16)      |
 *   |                  Magic Cookie = 0x2112A442 (32)                   |
 *   |                  Transaction ID (96)                              |
 *   |  attributes: type (16) | length (16) | value, padded to 4 bytes   |
 *
 * Only the Binding method is modelled; other methods decode with their raw `method` and `kind`, so a
 * server can see and drop them. Attributes the codec does not model stay in `unknown` (raw bytes).
 */
import { DecodeError } from '../errors.ts';
import { formatIp, parseIp } from '../net/ip.ts';

/** Fixed value at bytes 4..7 of every RFC 5389/8489 message. */
export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_BYTES = 20;
export const TRANSACTION_ID_BYTES = 12;
/** FINGERPRINT = CRC-32(message up to the attribute) XOR this ("STUN" in ASCII), RFC 8489 section 14.7. */
export const FINGERPRINT_XOR = 0x5354554e;

/** Binding method (RFC 8489 section 18.2). */
export const METHOD_BINDING = 0x001;

/** Message types for Binding: method bits M0..M11 interleaved with class bits C0 (bit 4) and C1 (bit 8). */
export const BINDING_REQUEST = 0x0001; // class 0b00: header + attributes, answered by 0x0101 or 0x0111
export const BINDING_INDICATION = 0x0011; // class 0b01: keepalive, never answered
export const BINDING_SUCCESS = 0x0101; // class 0b10: XOR-MAPPED-ADDRESS and friends
export const BINDING_ERROR = 0x0111; // class 0b11: ERROR-CODE (+ UNKNOWN-ATTRIBUTES for 420)

/** Attribute types. 0x0000-0x7FFF are comprehension-required, 0x8000-0xFFFF optional. */
export const ATTR = {
  MAPPED_ADDRESS: 0x0001, // 0 | family(8) | port(16) | address(32 or 128)
  CHANGE_REQUEST: 0x0003, // RFC 5780: 29 zero bits | A (change IP, 0x4) | B (change port, 0x2) | 0
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009, // 21 zero bits | class(3) | number(8) | UTF-8 reason
  UNKNOWN_ATTRIBUTES: 0x000a, // list of 16-bit attribute types
  RESPONSE_PORT: 0x0027, // RFC 5780: port(16) | 16 reserved bits; answer to this port instead of the source port
  XOR_MAPPED_ADDRESS: 0x0020, // as MAPPED-ADDRESS, port ^ cookie>>16, address ^ (cookie | transaction id)
  SOFTWARE: 0x8022, // UTF-8 text, < 128 characters
  FINGERPRINT: 0x8028, // CRC-32 ^ 0x5354554E over everything before it; always last
  RESPONSE_ORIGIN: 0x802b, // RFC 5780: address form, the source the response was sent from
  OTHER_ADDRESS: 0x802c, // RFC 5780: address form, the server's alternate IP and port
} as const;

export type StunKind = 'request' | 'indication' | 'success' | 'error';

/** A transport address as STUN carries it. */
export interface StunAddress {
  family: 4 | 6;
  address: string;
  port: number;
}

export interface RawAttribute {
  type: number;
  value: Uint8Array;
}

/** One STUN message. Encoders write the attributes present; decoders fill in those they found. */
export interface StunMessage {
  kind: StunKind;
  /** 12-bit method; METHOD_BINDING for everything this project sends. */
  method: number;
  transactionId: Uint8Array;
  mappedAddress?: StunAddress;
  xorMappedAddress?: StunAddress;
  responseOrigin?: StunAddress;
  otherAddress?: StunAddress;
  changeRequest?: { changeIp: boolean; changePort: boolean };
  responsePort?: number;
  errorCode?: { code: number; reason: string };
  /** Attribute types a 420 error lists as not understood. */
  unknownAttributes?: number[];
  software?: string;
  /** Attributes kept raw: on decode, every attribute the codec does not model (MESSAGE-INTEGRITY, USERNAME...). */
  unknown?: RawAttribute[];
  /** On decode: whether a FINGERPRINT was present (a wrong one is a DecodeError). On encode: add one. */
  fingerprint?: boolean;
}

const KIND_BITS: Record<StunKind, number> = { request: 0x0000, indication: 0x0010, success: 0x0100, error: 0x0110 };

/** Message type from method and class (RFC 8489 section 5, figure 3). */
export function messageType(method: number, kind: StunKind): number {
  return ((method & 0xf80) << 2) | ((method & 0x070) << 1) | (method & 0x00f) | KIND_BITS[kind];
}

function splitType(type: number): { method: number; kind: StunKind } {
  const method = ((type & 0x3e00) >> 2) | ((type & 0x00e0) >> 1) | (type & 0x000f);
  const c = type & 0x0110;
  const kind: StunKind = c === 0 ? 'request' : c === 0x0010 ? 'indication' : c === 0x0100 ? 'success' : 'error';
  return { method, kind };
}

// ---------------------------------------------------------------------------------------------- CRC-32

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO-HDLC, the zlib one) of bytes. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** FINGERPRINT value for a message prefix whose length field already counts the FINGERPRINT attribute. */
export function fingerprintOf(prefix: Uint8Array): number {
  return (crc32(prefix) ^ FINGERPRINT_XOR) >>> 0;
}

// ------------------------------------------------------------------------------------------ classify

/**
 * True if b can be a STUN message. This is the proof the shared mesh socket relies on: byte 0 has its
 * top two bits clear (WireGuard types 1..4 also do, but WireGuard bytes 1..3 are zero and its byte 4
 * onward is a random index, so the cookie 0x2112A442 at offset 4 tells them apart with p = 2^-32 at
 * worst), the length field counts whole 4-byte words, and header + length is exactly the datagram.
 */
export function isStun(b: Uint8Array): boolean {
  if (b.length < HEADER_BYTES || (b[0]! & 0xc0) !== 0) return false;
  if (readU32(b, 4) !== MAGIC_COOKIE) return false;
  const len = (b[2]! << 8) | b[3]!;
  return (len & 3) === 0 && HEADER_BYTES + len === b.length;
}

// -------------------------------------------------------------------------------------------- decode

/** Decodes one datagram as STUN. Throws DecodeError for anything that is not a well-formed message. */
export function decodeStun(b: Uint8Array): StunMessage {
  if (b.length < HEADER_BYTES) throw new DecodeError('shorter than a STUN header', { length: b.length });
  if ((b[0]! & 0xc0) !== 0) throw new DecodeError('top two bits of a STUN message must be zero');
  if (readU32(b, 4) !== MAGIC_COOKIE) throw new DecodeError('no STUN magic cookie');
  const len = (b[2]! << 8) | b[3]!;
  if ((len & 3) !== 0) throw new DecodeError('STUN length not a multiple of 4', { len });
  if (HEADER_BYTES + len !== b.length) throw new DecodeError('STUN length does not match the datagram', { len, length: b.length });

  const { method, kind } = splitType((b[0]! << 8) | b[1]!);
  const transactionId = b.slice(8, HEADER_BYTES);
  const msg: StunMessage = { kind, method, transactionId };
  const seen = new Set<number>();
  let afterIntegrity = false;

  for (let off = HEADER_BYTES; off < b.length; ) {
    if (off + 4 > b.length) throw new DecodeError('truncated attribute header', { offset: off });
    const type = (b[off]! << 8) | b[off + 1]!;
    const alen = (b[off + 2]! << 8) | b[off + 3]!;
    const start = off + 4;
    const padded = start + ((alen + 3) & ~3);
    if (padded > b.length) throw new DecodeError('attribute runs past the message', { type, offset: off });
    const value = b.subarray(start, start + alen);

    if (type === ATTR.FINGERPRINT) {
      if (alen !== 4) throw new DecodeError('FINGERPRINT must be 4 bytes');
      // The CRC covers the header (with the real length) and all attributes before this one.
      if (readU32(value, 0) !== fingerprintOf(b.subarray(0, off))) throw new DecodeError('FINGERPRINT mismatch');
      msg.fingerprint = true;
      break; // RFC 8489 section 14.7: FINGERPRINT is last; anything after it is not part of the message.
    }
    // RFC 8489 section 14.5: only FINGERPRINT may follow MESSAGE-INTEGRITY; others are ignored.
    if (!afterIntegrity && !seen.has(type)) {
      seen.add(type);
      decodeAttribute(msg, type, value);
    }
    if (type === ATTR.MESSAGE_INTEGRITY) afterIntegrity = true;
    off = padded;
  }
  return msg;
}

function decodeAttribute(msg: StunMessage, type: number, value: Uint8Array): void {
  switch (type) {
    case ATTR.MAPPED_ADDRESS:
      msg.mappedAddress = decodeAddress(value, 'MAPPED-ADDRESS');
      return;
    case ATTR.XOR_MAPPED_ADDRESS:
      msg.xorMappedAddress = decodeXorAddress(value, msg.transactionId);
      return;
    case ATTR.RESPONSE_ORIGIN:
      msg.responseOrigin = decodeAddress(value, 'RESPONSE-ORIGIN');
      return;
    case ATTR.OTHER_ADDRESS:
      msg.otherAddress = decodeAddress(value, 'OTHER-ADDRESS');
      return;
    case ATTR.CHANGE_REQUEST: {
      if (value.length !== 4) throw new DecodeError('CHANGE-REQUEST must be 4 bytes');
      const flags = value[3]!;
      msg.changeRequest = { changeIp: (flags & 0x04) !== 0, changePort: (flags & 0x02) !== 0 };
      return;
    }
    case ATTR.RESPONSE_PORT:
      if (value.length !== 4) throw new DecodeError('RESPONSE-PORT must be 4 bytes');
      msg.responsePort = (value[0]! << 8) | value[1]!;
      return;
    case ATTR.ERROR_CODE: {
      if (value.length < 4) throw new DecodeError('ERROR-CODE shorter than 4 bytes');
      const code = (value[2]! & 0x07) * 100 + value[3]!;
      msg.errorCode = { code, reason: new TextDecoder().decode(value.subarray(4)) };
      return;
    }
    case ATTR.UNKNOWN_ATTRIBUTES: {
      if (value.length % 2 !== 0) throw new DecodeError('UNKNOWN-ATTRIBUTES has an odd length');
      const list: number[] = [];
      for (let i = 0; i < value.length; i += 2) list.push((value[i]! << 8) | value[i + 1]!);
      msg.unknownAttributes = list;
      return;
    }
    case ATTR.SOFTWARE:
      msg.software = new TextDecoder().decode(value);
      return;
    default:
      (msg.unknown ??= []).push({ type, value: value.slice() });
  }
}

/** MAPPED-ADDRESS form: 0 | family (1 = IPv4, 2 = IPv6) | port | address. */
function decodeAddress(value: Uint8Array, name: string): StunAddress {
  if (value.length < 4) throw new DecodeError(`${name} shorter than 4 bytes`);
  const fam = value[1]!;
  const want = fam === 1 ? 8 : fam === 2 ? 20 : 0;
  if (want === 0) throw new DecodeError(`${name} has unknown address family`, { family: fam });
  if (value.length !== want) throw new DecodeError(`${name} has the wrong length for its family`, { length: value.length });
  return { family: fam === 1 ? 4 : 6, port: (value[2]! << 8) | value[3]!, address: formatIp(value.slice(4)) };
}

function decodeXorAddress(value: Uint8Array, tid: Uint8Array): StunAddress {
  const plain = decodeAddress(value, 'XOR-MAPPED-ADDRESS');
  return unxor(plain, tid);
}

// XOR is its own inverse, so one function maps both ways between plain and XOR-ed addresses.
function unxor(a: StunAddress, tid: Uint8Array): StunAddress {
  const bytes = addressBytes(a);
  const mask = xorMask(tid);
  for (let i = 0; i < bytes.length; i++) bytes[i] = bytes[i]! ^ mask[i]!;
  return { family: a.family, port: a.port ^ (MAGIC_COOKIE >>> 16), address: formatIp(bytes) };
}

function xorMask(tid: Uint8Array): Uint8Array {
  const m = new Uint8Array(16);
  writeU32(m, 0, MAGIC_COOKIE);
  m.set(tid, 4);
  return m;
}

// -------------------------------------------------------------------------------------------- encode

/** Encodes a message. Throws RangeError for a caller bug (bad transaction id, address, port). */
export function encodeStun(msg: StunMessage): Uint8Array {
  if (msg.transactionId.length !== TRANSACTION_ID_BYTES) throw new RangeError('a STUN transaction id is 12 bytes');
  if (msg.method < 0 || msg.method > 0xfff) throw new RangeError('a STUN method has 12 bits');
  const attrs: RawAttribute[] = [];
  if (msg.mappedAddress) attrs.push({ type: ATTR.MAPPED_ADDRESS, value: encodeAddress(msg.mappedAddress) });
  if (msg.xorMappedAddress) attrs.push({ type: ATTR.XOR_MAPPED_ADDRESS, value: encodeAddress(unxorChecked(msg.xorMappedAddress, msg.transactionId)) });
  if (msg.responseOrigin) attrs.push({ type: ATTR.RESPONSE_ORIGIN, value: encodeAddress(msg.responseOrigin) });
  if (msg.otherAddress) attrs.push({ type: ATTR.OTHER_ADDRESS, value: encodeAddress(msg.otherAddress) });
  if (msg.changeRequest) {
    const flags = (msg.changeRequest.changeIp ? 0x04 : 0) | (msg.changeRequest.changePort ? 0x02 : 0);
    attrs.push({ type: ATTR.CHANGE_REQUEST, value: Uint8Array.of(0, 0, 0, flags) });
  }
  if (msg.responsePort !== undefined) attrs.push({ type: ATTR.RESPONSE_PORT, value: Uint8Array.of(msg.responsePort >> 8, msg.responsePort & 0xff, 0, 0) });
  if (msg.errorCode) attrs.push({ type: ATTR.ERROR_CODE, value: encodeErrorCode(msg.errorCode.code, msg.errorCode.reason) });
  if (msg.unknownAttributes) {
    const v = new Uint8Array(msg.unknownAttributes.length * 2);
    msg.unknownAttributes.forEach((t, i) => writeU16(v, i * 2, t));
    attrs.push({ type: ATTR.UNKNOWN_ATTRIBUTES, value: v });
  }
  if (msg.software !== undefined) attrs.push({ type: ATTR.SOFTWARE, value: new TextEncoder().encode(msg.software) });
  for (const a of msg.unknown ?? []) attrs.push(a);

  const bodyLen = attrs.reduce((n, a) => n + 4 + ((a.value.length + 3) & ~3), 0) + (msg.fingerprint ? 8 : 0);
  if (bodyLen > 0xffff) throw new RangeError('STUN message too long');
  const out = new Uint8Array(HEADER_BYTES + bodyLen);
  writeU16(out, 0, messageType(msg.method, msg.kind));
  writeU16(out, 2, bodyLen);
  writeU32(out, 4, MAGIC_COOKIE);
  out.set(msg.transactionId, 8);
  let off = HEADER_BYTES;
  for (const a of attrs) {
    if (a.value.length > 0xffff) throw new RangeError('STUN attribute too long');
    writeU16(out, off, a.type);
    writeU16(out, off + 2, a.value.length);
    out.set(a.value, off + 4);
    off += 4 + ((a.value.length + 3) & ~3); // padding bytes stay zero
  }
  if (msg.fingerprint) {
    writeU16(out, off, ATTR.FINGERPRINT);
    writeU16(out, off + 2, 4);
    writeU32(out, off + 4, fingerprintOf(out.subarray(0, off)));
  }
  return out;
}

function unxorChecked(a: StunAddress, tid: Uint8Array): StunAddress {
  addressBytes(a); // validates before the XOR turns a bad address into a plausible one
  return unxor(a, tid);
}

function encodeAddress(a: StunAddress): Uint8Array {
  const bytes = addressBytes(a);
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 0xffff) throw new RangeError(`bad port ${a.port}`);
  const out = new Uint8Array(4 + bytes.length);
  out[1] = a.family === 4 ? 1 : 2;
  writeU16(out, 2, a.port);
  out.set(bytes, 4);
  return out;
}

function addressBytes(a: StunAddress): Uint8Array {
  const ip = parseIp(a.address);
  if (!ip || ip.family !== a.family) throw new RangeError(`not an IPv${a.family} address: ${a.address}`);
  return ip.bytes;
}

function encodeErrorCode(code: number, reason: string): Uint8Array {
  if (!Number.isInteger(code) || code < 300 || code > 699) throw new RangeError('STUN error codes are 300..699');
  const text = new TextEncoder().encode(reason);
  const out = new Uint8Array(4 + text.length);
  out[2] = Math.floor(code / 100);
  out[3] = code % 100;
  out.set(text, 4);
  return out;
}

// ------------------------------------------------------------------------------------------- helpers

/** True for attribute types a receiver must understand (RFC 8489 section 15). */
export function isComprehensionRequired(type: number): boolean {
  return type < 0x8000;
}

/** Binding request with the given id; RFC 5780 CHANGE-REQUEST when asked. */
export function bindingRequest(transactionId: Uint8Array, opts: { changeIp?: boolean; changePort?: boolean; software?: string; fingerprint?: boolean } = {}): Uint8Array {
  const msg: StunMessage = { kind: 'request', method: METHOD_BINDING, transactionId };
  if (opts.changeIp || opts.changePort) msg.changeRequest = { changeIp: opts.changeIp === true, changePort: opts.changePort === true };
  if (opts.software !== undefined) msg.software = opts.software;
  if (opts.fingerprint) msg.fingerprint = true;
  return encodeStun(msg);
}

/** Formats an address for humans and logs: 192.0.2.1:3478 or [2001:db8::1]:3478. */
export function formatStunAddress(a: { address: string; port: number }): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

function writeU16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}
