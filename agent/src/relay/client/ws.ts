/**
 * The client side of WebSocket (RFC 6455), just what a relay connection needs when a proxy or
 * middlebox passes only WebSocket: the opening handshake, masked binary frames out, and a reader for the
 * server's frames (binary messages carry relay frames; ping answered with pong; close). Pure apart from
 * the injected random mask and key; the reader throws only DecodeError.
 *
 * Why not a package: Node 20 has no WebSocket client without a flag, and the relay connection must run
 * over our own verified TLS socket, possibly inside a proxy's CONNECT tunnel.
 */
import { createHash } from 'node:crypto';
import { DecodeError } from '../../errors.ts';

/** RFC 6455 section 1.3: the GUID appended to Sec-WebSocket-Key. */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const WsOpcode = {
  CONTINUATION: 0x0, // payload continues the previous data frame
  TEXT: 0x1, // UTF-8 (never used by the relay; read and ignored)
  BINARY: 0x2, // relay frames
  CLOSE: 0x8, // status[2] | reason
  PING: 0x9, // up to 125 bytes, echoed in a pong
  PONG: 0xa, // the ping's bytes
} as const;

export type WsEvent = { t: 'binary'; data: Uint8Array } | { t: 'ping'; data: Uint8Array } | { t: 'pong' } | { t: 'close'; code?: number } | { t: 'text' };

/** Sec-WebSocket-Accept for a key (RFC 6455 section 4.2.2, step 5.4). */
export function wsAccept(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

export function wsUpgradeRequest(host: string, path: string, key: string, protocol: string): string {
  return [`GET ${path} HTTP/1.1`, `Host: ${host}`, 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Protocol: ${protocol}`, '', ''].join('\r\n');
}

/** One client frame, masked with `mask` (4 bytes) as RFC 6455 section 5.3 requires of clients. */
export function encodeWsFrame(opcode: number, payload: Uint8Array, mask: Uint8Array): Uint8Array {
  if (mask.length !== 4) throw new RangeError('a WebSocket mask is 4 bytes');
  const n = payload.length;
  const lenBytes = n < 126 ? 0 : n < 0x10000 ? 2 : 8;
  const out = new Uint8Array(2 + lenBytes + 4 + n);
  out[0] = 0x80 | opcode;
  const view = new DataView(out.buffer);
  if (lenBytes === 0) out[1] = 0x80 | n;
  else if (lenBytes === 2) {
    out[1] = 0x80 | 126;
    view.setUint16(2, n);
  } else {
    out[1] = 0x80 | 127;
    view.setBigUint64(2, BigInt(n));
  }
  const at = 2 + lenBytes;
  out.set(mask, at);
  for (let i = 0; i < n; i++) out[at + 4 + i] = payload[i]! ^ mask[i & 3]!;
  return out;
}

/**
 * Cuts the server's byte stream into WebSocket events. A message (with its continuations) longer than
 * `maxMessageBytes` is refused before it is buffered whole, so a server cannot make us hold more.
 */
export class WsReader {
  private pending: Uint8Array = new Uint8Array(0);
  private fragments: Uint8Array[] = [];
  private fragmentBytes = 0;
  private fragmentOpcode: number | undefined;

  constructor(private readonly maxMessageBytes: number) {}

  feed(chunk: Uint8Array): WsEvent[] {
    let buf = this.pending.length ? concat([this.pending, chunk]) : chunk;
    const out: WsEvent[] = [];
    for (;;) {
      const frame = this.cut(buf);
      if (!frame) break;
      buf = buf.subarray(frame.consumed);
      const ev = this.onFrame(frame.fin, frame.opcode, frame.payload);
      if (ev) out.push(ev);
    }
    this.pending = buf.length ? buf.slice() : new Uint8Array(0);
    return out;
  }

  private cut(buf: Uint8Array): { fin: boolean; opcode: number; payload: Uint8Array; consumed: number } | undefined {
    if (buf.length < 2) return undefined;
    const b0 = buf[0]!;
    const b1 = buf[1]!;
    if (b0 & 0x70) throw new DecodeError('WebSocket frame with reserved bits set (no extension was negotiated)');
    // RFC 6455 section 5.1: a client must close the connection on a masked frame from the server.
    if (b1 & 0x80) throw new DecodeError('masked WebSocket frame from the server');
    const opcode = b0 & 0x0f;
    let len = b1 & 0x7f;
    let at = 2;
    if (len === 126) {
      if (buf.length < 4) return undefined;
      len = (buf[2]! << 8) | buf[3]!;
      at = 4;
    } else if (len === 127) {
      if (buf.length < 10) return undefined;
      const big = new DataView(buf.buffer, buf.byteOffset + 2, 8).getBigUint64(0);
      if (big > BigInt(this.maxMessageBytes)) throw new DecodeError('WebSocket frame too large');
      len = Number(big);
      at = 10;
    }
    if (opcode >= 0x8 && (len > 125 || !(b0 & 0x80))) throw new DecodeError('WebSocket control frame too long or fragmented');
    if (opcode < 0x8 && this.fragmentBytes + len > this.maxMessageBytes) throw new DecodeError('WebSocket message too large');
    if (buf.length < at + len) return undefined;
    return { fin: (b0 & 0x80) !== 0, opcode, payload: buf.slice(at, at + len), consumed: at + len };
  }

  private onFrame(fin: boolean, opcode: number, payload: Uint8Array): WsEvent | undefined {
    switch (opcode) {
      case WsOpcode.PING:
        return { t: 'ping', data: payload };
      case WsOpcode.PONG:
        return { t: 'pong' };
      case WsOpcode.CLOSE:
        return payload.length >= 2 ? { t: 'close', code: (payload[0]! << 8) | payload[1]! } : { t: 'close' };
      case WsOpcode.TEXT:
      case WsOpcode.BINARY:
        if (this.fragmentOpcode !== undefined) throw new DecodeError('WebSocket data frame inside a fragmented message');
        if (fin) return opcode === WsOpcode.BINARY ? { t: 'binary', data: payload } : { t: 'text' };
        this.fragmentOpcode = opcode;
        this.fragments = [payload];
        this.fragmentBytes = payload.length;
        return undefined;
      case WsOpcode.CONTINUATION: {
        if (this.fragmentOpcode === undefined) throw new DecodeError('WebSocket continuation without a message');
        this.fragments.push(payload);
        this.fragmentBytes += payload.length;
        if (!fin) return undefined;
        const whole = concat(this.fragments);
        const kind = this.fragmentOpcode;
        this.fragments = [];
        this.fragmentBytes = 0;
        this.fragmentOpcode = undefined;
        return kind === WsOpcode.BINARY ? { t: 'binary', data: whole } : { t: 'text' };
      }
      default:
        throw new DecodeError('WebSocket opcode unknown', { opcode });
    }
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
