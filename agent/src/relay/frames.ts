/**
 * The relay's wire codec (our own design in the spirit of DERP). Pure: no sockets, clock or randomness.
 *
 * A relay connection, after the HTTP upgrade (or inside WebSocket binary messages), is a stream of frames:
 *   | type (1) | body length (4, big-endian) | body (length bytes) |
 *
 * Protocol flow:
 *   server -> client  server-key (magic + the server's X25519 key)
 *   client -> server  client-info (the client's node key + a box sealed from it to the server key)
 *   server -> client  server-info (a box sealed from the server key back to the node key)
 *   then both ways: send / recv, keepalive, ping / pong, peer-gone, health, restarting ...
 * Relays of one region that share the mesh key also send watch-conns, peer-present, forward, close-peer.
 *
 * Frame types this codec does not know are skipped by FrameReader (forward compatibility), but their
 * length is still bounded, so an unknown type cannot be used to make a reader buffer more.
 */
import { DecodeError } from '../errors.ts';

export const FRAME_HEADER_BYTES = 5;
export const KEY_BYTES = 32;
/** Largest packet payload a client may send or receive (a WireGuard packet is far below this). */
export const MAX_PACKET_BYTES = 64 * 1024;
/** Client info carries a sealed JSON document; anything larger is an attack, not a login. */
export const MAX_CLIENT_INFO_BYTES = 256 * 1024;
/** Every frame but client-info: a forward frame is the largest (two keys + a packet). */
export const MAX_FRAME_BODY_BYTES = 2 * KEY_BYTES + MAX_PACKET_BYTES;
export const PING_BYTES = 8;
/** Health text longer than this is refused: it is one line for a human. */
export const MAX_HEALTH_BYTES = 4096;
/** "CGRELAY" + protocol version 1: the first 8 bytes of the server-key frame's body. */
export const SERVER_KEY_MAGIC = Uint8Array.from([0x43, 0x47, 0x52, 0x45, 0x4c, 0x41, 0x59, 0x01]);

/** Frame type bytes, each with its body layout. */
export const FrameType = {
  SERVER_KEY: 0x01, // magic[8] | server key[32]
  CLIENT_INFO: 0x02, // client node key[32] | nonce[24] | box(JSON ClientInfo)
  SERVER_INFO: 0x03, // nonce[24] | box(JSON ServerInfo)
  SEND: 0x04, // dst key[32] | packet
  RECV: 0x05, // src key[32] | packet
  KEEPALIVE: 0x06, // empty
  NOTE_PREFERRED: 0x07, // 1 byte: 1 = this relay is the client's home, 0 = not
  PEER_GONE: 0x08, // key[32] | reason[1] (0 disconnected, 1 not here)
  PEER_PRESENT: 0x09, // key[32] | IPv6 or IPv4-mapped address[16] | port[2] | flags[1]  (51 bytes; or key only)
  FORWARD: 0x0a, // src key[32] | dst key[32] | packet   (relay to relay only, never re-forwarded)
  WATCH_CONNS: 0x10, // empty; mesh key required
  CLOSE_PEER: 0x11, // key[32]; mesh key required
  PING: 0x12, // 8 bytes, echoed in the pong
  PONG: 0x13, // 8 bytes of the ping
  HEALTH: 0x14, // UTF-8 text; empty = healthy
  RESTARTING: 0x15, // reconnect-in ms[4] | try-for ms[4]
} as const;
export type FrameTypeName = keyof typeof FrameType;
export type FrameTypeValue = (typeof FrameType)[FrameTypeName];

const KNOWN_TYPES = new Set<number>(Object.values(FrameType));

export function isKnownFrameType(type: number): type is FrameTypeValue {
  return KNOWN_TYPES.has(type);
}

/** The largest body a frame of this type may have; the reader refuses more before buffering it. */
export function maxBodyBytes(type: number): number {
  return type === FrameType.CLIENT_INFO ? MAX_CLIENT_INFO_BYTES : MAX_FRAME_BODY_BYTES;
}

export interface Frame {
  type: number;
  body: Uint8Array;
}

/** One whole frame: header + body. */
export function encodeFrame(type: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (!Number.isInteger(type) || type < 0 || type > 0xff) throw new RangeError(`frame type ${type} is not a byte`);
  if (body.length > maxBodyBytes(type)) throw new RangeError(`frame body of ${body.length} bytes is over the limit`);
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, body.length);
  out.set(body, FRAME_HEADER_BYTES);
  return out;
}

/**
 * One frame whose body is `parts` end to end, built in one allocation. The per-packet frames (send,
 * recv, forward) go through here: building the body first and then the frame copied every packet
 * twice, the largest cost of our own code in the relay server's profile (bench mesh, TCP relay case).
 */
function encodeFrameOf(type: number, ...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  if (n > maxBodyBytes(type)) throw new RangeError(`frame body of ${n} bytes is over the limit`);
  const out = new Uint8Array(FRAME_HEADER_BYTES + n);
  out[0] = type;
  out[1] = n >>> 24;
  out[2] = (n >>> 16) & 0xff;
  out[3] = (n >>> 8) & 0xff;
  out[4] = n & 0xff;
  let at = FRAME_HEADER_BYTES;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A copy of b[start, end). Bodies are often views of a Node Buffer, whose slice() is another view;
 * decoded keys must not change if the caller reuses its buffer.
 */
export function copyOf(b: Uint8Array, start = 0, end = b.length): Uint8Array {
  return Uint8Array.prototype.slice.call(b, start, end);
}

function checkKey(key: Uint8Array, what: string): void {
  if (key.length !== KEY_BYTES) throw new RangeError(`${what} must be ${KEY_BYTES} bytes, got ${key.length}`);
}

function checkPacket(data: Uint8Array): void {
  if (data.length > MAX_PACKET_BYTES) throw new RangeError(`packet of ${data.length} bytes is over ${MAX_PACKET_BYTES}`);
}

function need(body: Uint8Array, bytes: number, what: string): void {
  if (body.length < bytes) throw new DecodeError(`${what} body too short`, { length: body.length, need: bytes });
}

// ---- server-key ----

export function encodeServerKey(serverKey: Uint8Array): Uint8Array {
  checkKey(serverKey, 'server key');
  return encodeFrame(FrameType.SERVER_KEY, concat(SERVER_KEY_MAGIC, serverKey));
}

export function decodeServerKey(body: Uint8Array): Uint8Array {
  need(body, SERVER_KEY_MAGIC.length + KEY_BYTES, 'server-key');
  for (let i = 0; i < SERVER_KEY_MAGIC.length; i++) {
    if (body[i] !== SERVER_KEY_MAGIC[i]) throw new DecodeError('server-key magic mismatch');
  }
  return copyOf(body, SERVER_KEY_MAGIC.length, SERVER_KEY_MAGIC.length + KEY_BYTES);
}

// ---- client-info / server-info (the sealed boxes are made in frames-seal.ts) ----

export function encodeClientInfo(clientKey: Uint8Array, sealed: Uint8Array): Uint8Array {
  checkKey(clientKey, 'client key');
  return encodeFrame(FrameType.CLIENT_INFO, concat(clientKey, sealed));
}

export function decodeClientInfo(body: Uint8Array): { clientKey: Uint8Array; sealed: Uint8Array } {
  need(body, KEY_BYTES, 'client-info');
  if (body.length > MAX_CLIENT_INFO_BYTES) throw new DecodeError('client-info too large', { length: body.length });
  return { clientKey: copyOf(body, 0, KEY_BYTES), sealed: body.subarray(KEY_BYTES) };
}

export function encodeServerInfo(sealed: Uint8Array): Uint8Array {
  return encodeFrame(FrameType.SERVER_INFO, sealed);
}

export function decodeServerInfo(body: Uint8Array): { sealed: Uint8Array } {
  return { sealed: body };
}

// ---- send / recv / forward ----

export function encodeSend(dstKey: Uint8Array, data: Uint8Array): Uint8Array {
  checkKey(dstKey, 'destination key');
  checkPacket(data);
  return encodeFrameOf(FrameType.SEND, dstKey, data);
}

export function decodeSend(body: Uint8Array): { dstKey: Uint8Array; data: Uint8Array } {
  need(body, KEY_BYTES, 'send');
  if (body.length > KEY_BYTES + MAX_PACKET_BYTES) throw new DecodeError('send packet too large');
  return { dstKey: body.subarray(0, KEY_BYTES), data: body.subarray(KEY_BYTES) };
}

export function encodeRecv(srcKey: Uint8Array, data: Uint8Array): Uint8Array {
  checkKey(srcKey, 'source key');
  checkPacket(data);
  return encodeFrameOf(FrameType.RECV, srcKey, data);
}

export function decodeRecv(body: Uint8Array): { srcKey: Uint8Array; data: Uint8Array } {
  need(body, KEY_BYTES, 'recv');
  if (body.length > KEY_BYTES + MAX_PACKET_BYTES) throw new DecodeError('recv packet too large');
  return { srcKey: body.subarray(0, KEY_BYTES), data: body.subarray(KEY_BYTES) };
}

export function encodeForward(srcKey: Uint8Array, dstKey: Uint8Array, data: Uint8Array): Uint8Array {
  checkKey(srcKey, 'source key');
  checkKey(dstKey, 'destination key');
  checkPacket(data);
  return encodeFrameOf(FrameType.FORWARD, srcKey, dstKey, data);
}

export function decodeForward(body: Uint8Array): { srcKey: Uint8Array; dstKey: Uint8Array; data: Uint8Array } {
  need(body, 2 * KEY_BYTES, 'forward');
  if (body.length > MAX_FRAME_BODY_BYTES) throw new DecodeError('forward packet too large');
  return {
    srcKey: body.subarray(0, KEY_BYTES),
    dstKey: body.subarray(KEY_BYTES, 2 * KEY_BYTES),
    data: body.subarray(2 * KEY_BYTES),
  };
}

// ---- small control frames ----

export function encodeKeepalive(): Uint8Array {
  return encodeFrame(FrameType.KEEPALIVE);
}

export function encodeWatchConns(): Uint8Array {
  return encodeFrame(FrameType.WATCH_CONNS);
}

export function encodeNotePreferred(preferred: boolean): Uint8Array {
  return encodeFrame(FrameType.NOTE_PREFERRED, Uint8Array.of(preferred ? 1 : 0));
}

export function decodeNotePreferred(body: Uint8Array): boolean {
  need(body, 1, 'note-preferred');
  return body[0] !== 0;
}

export type PeerGoneReason = 'disconnected' | 'not-here';
const PEER_GONE_CODES: Record<PeerGoneReason, number> = { disconnected: 0, 'not-here': 1 };

export function encodePeerGone(key: Uint8Array, reason: PeerGoneReason): Uint8Array {
  checkKey(key, 'peer key');
  return encodeFrame(FrameType.PEER_GONE, concat(key, Uint8Array.of(PEER_GONE_CODES[reason])));
}

/** A missing reason byte means "disconnected" (the first version of such a frame carried only the key). */
export function decodePeerGone(body: Uint8Array): { key: Uint8Array; reason: PeerGoneReason } {
  need(body, KEY_BYTES, 'peer-gone');
  const code = body.length > KEY_BYTES ? body[KEY_BYTES] : 0;
  if (code !== 0 && code !== 1) throw new DecodeError('peer-gone reason unknown', { code });
  return { key: copyOf(body, 0, KEY_BYTES), reason: code === 0 ? 'disconnected' : 'not-here' };
}

export interface PeerPresent {
  key: Uint8Array;
  /** The client's address as the relay saw it: 16 bytes (IPv4 as ::ffff:a.b.c.d), or absent. */
  ip?: Uint8Array;
  port?: number;
  flags?: number;
}

export function encodePeerPresent(p: PeerPresent): Uint8Array {
  checkKey(p.key, 'peer key');
  if (p.ip === undefined) return encodeFrame(FrameType.PEER_PRESENT, copyOf(p.key));
  if (p.ip.length !== 16) throw new RangeError('peer-present address must be 16 bytes');
  const tail = new Uint8Array(3);
  new DataView(tail.buffer).setUint16(0, p.port ?? 0);
  tail[2] = p.flags ?? 0;
  return encodeFrame(FrameType.PEER_PRESENT, concat(p.key, p.ip, tail));
}

export function decodePeerPresent(body: Uint8Array): PeerPresent {
  need(body, KEY_BYTES, 'peer-present');
  const key = copyOf(body, 0, KEY_BYTES);
  if (body.length < KEY_BYTES + 19) return { key };
  const ip = copyOf(body, KEY_BYTES, KEY_BYTES + 16);
  const v = new DataView(body.buffer, body.byteOffset, body.length);
  return { key, ip, port: v.getUint16(KEY_BYTES + 16), flags: v.getUint8(KEY_BYTES + 18) };
}

export function encodeClosePeer(key: Uint8Array): Uint8Array {
  checkKey(key, 'peer key');
  return encodeFrame(FrameType.CLOSE_PEER, copyOf(key));
}

export function decodeClosePeer(body: Uint8Array): Uint8Array {
  need(body, KEY_BYTES, 'close-peer');
  return copyOf(body, 0, KEY_BYTES);
}

function encodePingLike(type: number, data: Uint8Array): Uint8Array {
  if (data.length !== PING_BYTES) throw new RangeError(`ping data must be ${PING_BYTES} bytes`);
  return encodeFrame(type, copyOf(data));
}

function decodePingLike(body: Uint8Array, what: string): Uint8Array {
  if (body.length !== PING_BYTES) throw new DecodeError(`${what} body must be ${PING_BYTES} bytes`, { length: body.length });
  return copyOf(body);
}

export const encodePing = (data: Uint8Array): Uint8Array => encodePingLike(FrameType.PING, data);
export const encodePong = (data: Uint8Array): Uint8Array => encodePingLike(FrameType.PONG, data);
export const decodePing = (body: Uint8Array): Uint8Array => decodePingLike(body, 'ping');
export const decodePong = (body: Uint8Array): Uint8Array => decodePingLike(body, 'pong');

export function encodeHealth(problem: string): Uint8Array {
  const body = new TextEncoder().encode(problem);
  if (body.length > MAX_HEALTH_BYTES) throw new RangeError('health text too long');
  return encodeFrame(FrameType.HEALTH, body);
}

/** The relay's problem in words, or '' when it is healthy. */
export function decodeHealth(body: Uint8Array): string {
  if (body.length > MAX_HEALTH_BYTES) throw new DecodeError('health text too long', { length: body.length });
  return new TextDecoder('utf-8', { fatal: false }).decode(body);
}

export interface Restarting {
  /** Wait this long before the first reconnect attempt. */
  reconnectInMs: number;
  /** Keep trying for this long before giving the relay up. */
  tryForMs: number;
}

export function encodeRestarting(r: Restarting): Uint8Array {
  const body = new Uint8Array(8);
  const v = new DataView(body.buffer);
  v.setUint32(0, r.reconnectInMs);
  v.setUint32(4, r.tryForMs);
  return encodeFrame(FrameType.RESTARTING, body);
}

export function decodeRestarting(body: Uint8Array): Restarting {
  need(body, 8, 'restarting');
  const v = new DataView(body.buffer, body.byteOffset, 8);
  return { reconnectInMs: v.getUint32(0), tryForMs: v.getUint32(4) };
}

// ---- the incremental reader ----

/**
 * Cuts a byte stream into frames. feed() takes chunks as they arrive (any split, even mid-header) and
 * returns the whole frames they complete; a header announcing more than the type's limit throws
 * DecodeError at once, before the body is buffered, so a peer can never make us hold more than
 * FRAME_HEADER_BYTES + maxBodyBytes(type). Frames of unknown types are skipped and counted.
 */
export class FrameReader {
  private pending: Uint8Array = new Uint8Array(0);
  /** Frames of types this codec does not know, skipped so far. */
  skipped = 0;

  /** Bytes held waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.pending.length;
  }

  feed(chunk: Uint8Array): Frame[] {
    let buf = this.pending.length === 0 ? chunk : concat(this.pending, chunk);
    const out: Frame[] = [];
    let at = 0;
    for (;;) {
      if (buf.length - at < FRAME_HEADER_BYTES) break;
      const header = new DataView(buf.buffer, buf.byteOffset + at, FRAME_HEADER_BYTES);
      const type = header.getUint8(0);
      const length = header.getUint32(1);
      if (length > maxBodyBytes(type)) {
        this.pending = new Uint8Array(0);
        throw new DecodeError('frame length over the limit', { type, length });
      }
      const end = at + FRAME_HEADER_BYTES + length;
      if (end > buf.length) break;
      if (isKnownFrameType(type)) out.push({ type, body: buf.subarray(at + FRAME_HEADER_BYTES, end) });
      else this.skipped++;
      at = end;
    }
    // Keep only the unfinished tail, copied so the caller may reuse its chunk buffer.
    buf = buf.subarray(at);
    this.pending = buf.length === 0 ? new Uint8Array(0) : copyOf(buf);
    return out;
  }
}
