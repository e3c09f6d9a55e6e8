/**
 * Wire format of the UDP relay through a node (mesh part 2, "UDP relay through a peer" in
 * shared mesh facts). Pure: no socket, clock or logger.
 *
 * Every datagram to or from a relay starts with an 8-byte header, shaped like Geneve's (RFC 8926
 * section 3.4: version, flags, protocol, 24-bit VNI, reserved byte), with our own constants:
 *   0      0xCB mark
 *   1      version (high nibble, 1) | flags (low nibble; FLAG_FROM_RELAY = sent by the relay)
 *   2..3   protocol: 0x7A10 control, 0x7A11 discovery, 0x7A12 WireGuard (big-endian)
 *   4..6   VNI, the pair's allocation (24 bits); 0 in control messages
 *   7      reserved, zero
 * Data (discovery, WireGuard): header | payload; the relay never looks past the header.
 * Control: header | sender discovery key[32] | nonce[24] | box(type[1] | body), a NaCl box between the
 *   sender's and the recipient's discovery keys (seal.ts), so every control message is authenticated.
 *
 * The relay's packets share the node's mesh socket with WireGuard, STUN and discovery (mesh/demux.ts):
 * byte 0 = 0xCB has its top two bits set, so it is never STUN (00), it is not 1..4 so never WireGuard,
 * and it is not 0x43 ('C') so never discovery.
 */
import { DecodeError } from '../../errors.ts';
import { formatIp, fromMappedV6, parseIp, toMappedV6 } from '../../net/ip.ts';
import type { Endpoint } from '../../wg/ports.ts';
import { KEY_LEN, NONCE_LEN, TAG_LEN, open, seal } from './seal.ts';

export const HEADER_LEN = 8;
export const MARK = 0xcb;
export const VERSION = 1;
export const FLAG_FROM_RELAY = 0x1;
export const MAX_VNI = 0xffffff;
export const TXID_LEN = 12;
export const MAC_LEN = 32;

export type RelayProtocol = 'control' | 'disco' | 'wireguard';
export const PROTOCOL_CODE: Record<RelayProtocol, number> = { control: 0x7a10, disco: 0x7a11, wireguard: 0x7a12 };
const PROTOCOL_BY_CODE = new Map<number, RelayProtocol>(Object.entries(PROTOCOL_CODE).map(([k, v]) => [v, k as RelayProtocol]));

export interface RelayHeader {
  flags: number;
  protocol: RelayProtocol;
  vni: number;
}

// Control message types (inside the box; first byte):
export const CONTROL_TYPE = {
  allocate: 0x01, //  txId[12] | requester node key[32] | peer node key[32]
  allocated: 0x02, // txId[12] | status[1] | vni[4] | unbound lifetime s[2] | relay ip[16] | relay port[2]
  bind: 0x03, //      vni[4] | generation[4] | node key[32]
  challenge: 0x04, // vni[4] | generation[4] | mac[32]
  answer: 0x05, //    vni[4] | generation[4] | mac[32]
  bound: 0x06, //     vni[4] | generation[4] | idle lifetime s[2]
  refused: 0x07, //   vni[4] | generation[4] | reason[1]
} as const;
export type ControlType = keyof typeof CONTROL_TYPE;
const TYPE_BY_CODE = new Map<number, ControlType>(Object.entries(CONTROL_TYPE).map(([k, v]) => [v, k as ControlType]));

/** Answer to an allocate request. */
export const ALLOC_STATUS = ['ok', 'unknown-key', 'full', 'rate-limited', 'bad-request'] as const;
export type AllocStatus = (typeof ALLOC_STATUS)[number];
/** Why a bind, an answer or a data packet was refused. */
export const REFUSE_REASON = ['unknown-vni', 'not-in-pair', 'bad-challenge', 'rate-limited', 'unknown-key'] as const;
export type RefuseReason = (typeof REFUSE_REASON)[number];

export type ControlMessage =
  | { type: 'allocate'; txId: Uint8Array; nodeKey: Uint8Array; peerKey: Uint8Array }
  | { type: 'allocated'; txId: Uint8Array; status: AllocStatus; vni: number; unboundLifetimeSec: number; relay: Endpoint }
  | { type: 'bind'; vni: number; generation: number; nodeKey: Uint8Array }
  | { type: 'challenge'; vni: number; generation: number; mac: Uint8Array }
  | { type: 'answer'; vni: number; generation: number; mac: Uint8Array }
  | { type: 'bound'; vni: number; generation: number; idleLifetimeSec: number }
  | { type: 'refused'; vni: number; generation: number; reason: RefuseReason };

/** A control packet's clear part: who sealed it, and the sealed bytes (opened with the box key of that sender). */
export interface ControlEnvelope {
  flags: number;
  senderKey: Uint8Array;
  nonce: Uint8Array;
  sealed: Uint8Array;
}

/** Cheap test for the demux: mark, version and reserved byte. */
export function isUdpRelayPacket(b: Uint8Array): boolean {
  return b.length >= HEADER_LEN && b[0] === MARK && b[1]! >> 4 === VERSION && b[7] === 0;
}

/** Writes the header at the start of `buf` (in place: the relay rewrites headers without copying). */
export function writeHeader(buf: Uint8Array, protocol: RelayProtocol, vni: number, flags: number): void {
  if (buf.length < HEADER_LEN) throw new RangeError('buffer shorter than the header');
  if (!Number.isInteger(vni) || vni < 0 || vni > MAX_VNI) throw new RangeError(`VNI out of range: ${vni}`);
  const code = PROTOCOL_CODE[protocol];
  buf[0] = MARK;
  buf[1] = (VERSION << 4) | (flags & 0x0f);
  buf[2] = code >> 8;
  buf[3] = code & 0xff;
  buf[4] = vni >> 16;
  buf[5] = (vni >> 8) & 0xff;
  buf[6] = vni & 0xff;
  buf[7] = 0;
}

export function decodeHeader(b: Uint8Array): RelayHeader {
  if (b.length < HEADER_LEN) throw new DecodeError('udp relay header truncated', { length: b.length });
  if (b[0] !== MARK) throw new DecodeError('not a udp relay packet');
  if (b[1]! >> 4 !== VERSION) throw new DecodeError('unknown udp relay version', { version: b[1]! >> 4 });
  if (b[7] !== 0) throw new DecodeError('udp relay reserved byte not zero');
  const protocol = PROTOCOL_BY_CODE.get((b[2]! << 8) | b[3]!);
  if (!protocol) throw new DecodeError('unknown udp relay protocol', { code: (b[2]! << 8) | b[3]! });
  return { flags: b[1]! & 0x0f, protocol, vni: (b[4]! << 16) | (b[5]! << 8) | b[6]! };
}

/** header | payload, in a new buffer (the client's send path). */
export function encodeData(protocol: 'disco' | 'wireguard', vni: number, payload: Uint8Array, flags = 0): Uint8Array {
  const out = new Uint8Array(HEADER_LEN + payload.length);
  writeHeader(out, protocol, vni, flags);
  out.set(payload, HEADER_LEN);
  return out;
}

function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
function getU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) >>> 0) + (b[o + 1]! << 16) + (b[o + 2]! << 8) + b[o + 3]!;
}

function encodeEndpoint(e: Endpoint, out: Uint8Array, o: number): void {
  const ip = parseIp(e.address);
  if (!ip) throw new RangeError(`not an IP address: ${e.address}`);
  out.set(ip.family === 4 ? toMappedV6(ip.bytes) : ip.bytes, o);
  out[o + 16] = e.port >> 8;
  out[o + 17] = e.port & 0xff;
}
function decodeEndpoint(b: Uint8Array, o: number): Endpoint {
  const raw = b.subarray(o, o + 16);
  const v4 = fromMappedV6(raw);
  return { address: formatIp(v4 ?? raw), port: (b[o + 16]! << 8) | b[o + 17]! };
}

function checkVni(vni: number): void {
  if (!Number.isInteger(vni) || vni < 0 || vni > MAX_VNI) throw new RangeError(`VNI out of range: ${vni}`);
}
function checkLen(b: Uint8Array, n: number, what: string): void {
  if (b.length !== n) throw new RangeError(`${what} must be ${n} bytes`);
}

/** The plaintext inside the box: type[1] | body. */
export function encodeControl(m: ControlMessage): Uint8Array {
  switch (m.type) {
    case 'allocate': {
      checkLen(m.txId, TXID_LEN, 'txId');
      checkLen(m.nodeKey, KEY_LEN, 'node key');
      checkLen(m.peerKey, KEY_LEN, 'peer key');
      const out = new Uint8Array(1 + TXID_LEN + 2 * KEY_LEN);
      out[0] = CONTROL_TYPE.allocate;
      out.set(m.txId, 1);
      out.set(m.nodeKey, 1 + TXID_LEN);
      out.set(m.peerKey, 1 + TXID_LEN + KEY_LEN);
      return out;
    }
    case 'allocated': {
      checkLen(m.txId, TXID_LEN, 'txId');
      checkVni(m.vni);
      const out = new Uint8Array(1 + TXID_LEN + 1 + 4 + 2 + 18);
      out[0] = CONTROL_TYPE.allocated;
      out.set(m.txId, 1);
      out[13] = ALLOC_STATUS.indexOf(m.status);
      putU32(out, 14, m.vni);
      out[18] = (m.unboundLifetimeSec >> 8) & 0xff;
      out[19] = m.unboundLifetimeSec & 0xff;
      encodeEndpoint(m.relay, out, 20);
      return out;
    }
    case 'bind':
      checkLen(m.nodeKey, KEY_LEN, 'node key');
      return withVniGen(m.type, m.vni, m.generation, m.nodeKey);
    case 'challenge':
    case 'answer':
      checkLen(m.mac, MAC_LEN, 'mac');
      return withVniGen(m.type, m.vni, m.generation, m.mac);
    case 'bound':
      return withVniGen(m.type, m.vni, m.generation, Uint8Array.of((m.idleLifetimeSec >> 8) & 0xff, m.idleLifetimeSec & 0xff));
    case 'refused':
      return withVniGen(m.type, m.vni, m.generation, Uint8Array.of(REFUSE_REASON.indexOf(m.reason)));
  }
}

function withVniGen(type: ControlType, vni: number, generation: number, rest: Uint8Array): Uint8Array {
  checkVni(vni);
  const out = new Uint8Array(9 + rest.length);
  out[0] = CONTROL_TYPE[type];
  putU32(out, 1, vni);
  putU32(out, 5, generation >>> 0);
  out.set(rest, 9);
  return out;
}

const BODY_LEN: Record<ControlType, number> = {
  allocate: TXID_LEN + 2 * KEY_LEN,
  allocated: TXID_LEN + 1 + 4 + 2 + 18,
  bind: 8 + KEY_LEN,
  challenge: 8 + MAC_LEN,
  answer: 8 + MAC_LEN,
  bound: 8 + 2,
  refused: 8 + 1,
};

/** Decodes the plaintext of a box. Extra trailing bytes are ignored (a later version may add fields). */
export function decodeControl(b: Uint8Array): ControlMessage {
  if (b.length < 1) throw new DecodeError('control message empty');
  const type = TYPE_BY_CODE.get(b[0]!);
  if (!type) throw new DecodeError('unknown control message type', { type: b[0] });
  if (b.length < 1 + BODY_LEN[type]) throw new DecodeError(`${type} message truncated`, { length: b.length });
  const copy = (o: number, n: number): Uint8Array => b.slice(o, o + n);
  if (type === 'allocate') return { type, txId: copy(1, TXID_LEN), nodeKey: copy(13, KEY_LEN), peerKey: copy(45, KEY_LEN) };
  if (type === 'allocated') {
    const status = ALLOC_STATUS[b[13]!];
    if (!status) throw new DecodeError('unknown allocation status', { status: b[13] });
    const vni = getU32(b, 14);
    if (vni > MAX_VNI) throw new DecodeError('VNI out of range', { vni });
    return { type, txId: copy(1, TXID_LEN), status, vni, unboundLifetimeSec: (b[18]! << 8) | b[19]!, relay: decodeEndpoint(b, 20) };
  }
  const vni = getU32(b, 1);
  if (vni > MAX_VNI) throw new DecodeError('VNI out of range', { vni });
  const generation = getU32(b, 5);
  switch (type) {
    case 'bind':
      return { type, vni, generation, nodeKey: copy(9, KEY_LEN) };
    case 'challenge':
    case 'answer':
      return { type, vni, generation, mac: copy(9, MAC_LEN) };
    case 'bound':
      return { type, vni, generation, idleLifetimeSec: (b[9]! << 8) | b[10]! };
    default: {
      const reason = REFUSE_REASON[b[9]!];
      if (!reason) throw new DecodeError('unknown refuse reason', { reason: b[9] });
      return { type: 'refused', vni, generation, reason };
    }
  }
}

/** header | sender key | nonce | box(control). `boxKey` is sharedBoxKey(sender private, recipient public). */
export function encodeControlPacket(m: ControlMessage, senderKey: Uint8Array, boxKey: Uint8Array, nonce: Uint8Array, flags = 0): Uint8Array {
  checkLen(senderKey, KEY_LEN, 'sender key');
  checkLen(nonce, NONCE_LEN, 'nonce');
  const sealed = seal(boxKey, nonce, encodeControl(m));
  const out = new Uint8Array(HEADER_LEN + KEY_LEN + NONCE_LEN + sealed.length);
  writeHeader(out, 'control', 0, flags);
  out.set(senderKey, HEADER_LEN);
  out.set(nonce, HEADER_LEN + KEY_LEN);
  out.set(sealed, HEADER_LEN + KEY_LEN + NONCE_LEN);
  return out;
}

export const MIN_CONTROL_PACKET = HEADER_LEN + KEY_LEN + NONCE_LEN + TAG_LEN + 1;

/** The clear part of a control packet (no crypto: the caller finds the box key for senderKey). */
export function decodeControlEnvelope(b: Uint8Array): ControlEnvelope {
  const h = decodeHeader(b);
  if (h.protocol !== 'control') throw new DecodeError('not a control packet');
  if (h.vni !== 0) throw new DecodeError('control packet with a VNI');
  if (b.length < MIN_CONTROL_PACKET) throw new DecodeError('control packet truncated', { length: b.length });
  return {
    flags: h.flags,
    senderKey: b.slice(HEADER_LEN, HEADER_LEN + KEY_LEN),
    nonce: b.slice(HEADER_LEN + KEY_LEN, HEADER_LEN + KEY_LEN + NONCE_LEN),
    sealed: b.subarray(HEADER_LEN + KEY_LEN + NONCE_LEN),
  };
}

/** Opens the box of an envelope; a box that does not open (wrong key, altered bytes) is a DecodeError. */
export function openControl(env: ControlEnvelope, boxKey: Uint8Array): ControlMessage {
  const plain = open(boxKey, env.nonce, env.sealed);
  if (!plain) throw new DecodeError('control message does not open');
  return decodeControl(plain);
}
