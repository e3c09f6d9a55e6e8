/**
 * A minimal RFC 6455 framer for the relay's WebSocket upgrade (for networks whose proxies pass only
 * WebSocket). Pure: no sockets. Binary messages carry relay frames as a byte stream; text messages
 * are refused; ping is answered with pong; close ends the connection.
 *
 * Frame layout (RFC 6455 section 5.2):
 *   | FIN RSV1-3 opcode(4) | MASK len(7) | [len 16 or 64] | [mask key 4] | payload |
 * The server refuses: unmasked client frames (5.1), RSV bits without an extension (5.2), control
 * frames over 125 bytes or fragmented (5.5), 64-bit lengths with the top bit set (5.2), and any
 * message over maxMessageBytes (our limit: a relay frame stream needs no more per message).
 */
import { createHash } from 'node:crypto';
import { DecodeError } from '../../errors.ts';

/** RFC 6455 section 1.3: the GUID appended to Sec-WebSocket-Key. */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const WsOpcode = {
  CONTINUATION: 0x0, // payload continues the previous data frame
  TEXT: 0x1, // UTF-8 (refused by the relay)
  BINARY: 0x2, // relay frame bytes
  CLOSE: 0x8, // [status code 2 | reason]
  PING: 0x9, // <= 125 bytes, answered by a pong with the same payload
  PONG: 0xa, // <= 125 bytes
} as const;

export type WsEvent = { kind: 'binary'; data: Uint8Array } | { kind: 'ping'; data: Uint8Array } | { kind: 'pong' } | { kind: 'close'; code: number };

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key (section 4.2.2, item 5.4). */
export function wsAccept(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

/** One frame; with maskKey (4 bytes) the payload is masked, as a client must send it. */
export function encodeWsFrame(opcode: number, payload: Uint8Array, maskKey?: Uint8Array): Uint8Array {
  const n = payload.length;
  const lenBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const head = 2 + lenBytes + (maskKey ? 4 : 0);
  const out = new Uint8Array(head + n);
  const v = new DataView(out.buffer);
  out[0] = 0x80 | opcode;
  out[1] = (maskKey ? 0x80 : 0) | (lenBytes === 0 ? n : lenBytes === 2 ? 126 : 127);
  if (lenBytes === 2) v.setUint16(2, n);
  if (lenBytes === 8) v.setBigUint64(2, BigInt(n));
  if (maskKey) {
    out.set(maskKey, 2 + lenBytes);
    for (let i = 0; i < n; i++) out[head + i] = payload[i]! ^ maskKey[i & 3]!;
  } else out.set(payload, head);
  return out;
}

/** Incremental reader of client frames; feed() returns the events the chunk completes. */
export class WsReader {
  private pending: Uint8Array = new Uint8Array(0);
  private fragmentBytes = 0;
  private inMessage = false;

  constructor(
    private readonly maxMessageBytes: number,
    /** Servers require masked frames (RFC 6455 5.1); a client reading a server reads unmasked ones. */
    private readonly requireMask = true,
  ) {}

  feed(chunk: Uint8Array): WsEvent[] {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: WsEvent[] = [];
    let at = 0;
    for (;;) {
      const used = this.one(buf, at, out);
      if (used === 0) break;
      at += used;
    }
    this.pending = at === buf.length ? new Uint8Array(0) : Uint8Array.prototype.slice.call(buf, at);
    if (this.pending.length > this.maxMessageBytes + 14) throw new DecodeError('websocket frame over the limit');
    return out;
  }

  /** Parses one frame at `at`; returns the bytes it used, 0 if it is not complete yet. */
  private one(buf: Uint8Array, at: number, out: WsEvent[]): number {
    if (buf.length - at < 2) return 0;
    const b0 = buf[at]!;
    const b1 = buf[at + 1]!;
    if (b0 & 0x70) throw new DecodeError('websocket RSV bits set without an extension');
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    if (this.requireMask && !masked) throw new DecodeError('websocket client frame not masked');
    let len = b1 & 0x7f;
    let head = 2;
    if (len === 126) {
      if (buf.length - at < 4) return 0;
      len = (buf[at + 2]! << 8) | buf[at + 3]!;
      head = 4;
    } else if (len === 127) {
      if (buf.length - at < 10) return 0;
      const big = new DataView(buf.buffer, buf.byteOffset + at + 2, 8).getBigUint64(0);
      if (big > BigInt(this.maxMessageBytes)) throw new DecodeError('websocket frame over the limit');
      len = Number(big);
      head = 10;
    }
    if (len > this.maxMessageBytes) throw new DecodeError('websocket frame over the limit');
    const maskAt = at + head;
    if (masked) head += 4;
    if (buf.length - at < head + len) return 0;
    // A copy: Buffer#slice would be a view, and unmasking in place would change the caller's chunk.
    const payload = Uint8Array.prototype.slice.call(buf, at + head, at + head + len);
    if (masked) for (let i = 0; i < len; i++) payload[i] = payload[i]! ^ buf[maskAt + (i & 3)]!;
    this.handle(fin, opcode, payload, out);
    return head + len;
  }

  private handle(fin: boolean, opcode: number, payload: Uint8Array, out: WsEvent[]): void {
    if (opcode >= 0x8) {
      if (!fin || payload.length > 125) throw new DecodeError('websocket control frame fragmented or over 125 bytes');
      if (opcode === WsOpcode.PING) out.push({ kind: 'ping', data: payload });
      else if (opcode === WsOpcode.PONG) out.push({ kind: 'pong' });
      else if (opcode === WsOpcode.CLOSE) out.push({ kind: 'close', code: payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : 1005 });
      else throw new DecodeError('websocket control opcode unknown');
      return;
    }
    if (opcode === WsOpcode.TEXT) throw new DecodeError('websocket text messages are not relay frames');
    if (opcode === WsOpcode.BINARY) {
      if (this.inMessage) throw new DecodeError('websocket new message inside a fragmented one');
      this.inMessage = true;
    } else if (opcode !== WsOpcode.CONTINUATION || !this.inMessage) {
      throw new DecodeError('websocket opcode unexpected');
    }
    // The relay reads binary messages as one byte stream, so each fragment can be passed on at once;
    // only the message size is bounded.
    this.fragmentBytes += payload.length;
    if (this.fragmentBytes > this.maxMessageBytes) throw new DecodeError('websocket message over the limit');
    if (payload.length > 0) out.push({ kind: 'binary', data: payload });
    if (fin) {
      this.inMessage = false;
      this.fragmentBytes = 0;
    }
  }
}
