/**
 * A RelayTransport over WebSocket binary messages on an upgraded socket: each write is one binary
 * message; incoming binary payloads are the relay byte stream. Ping is answered, close ends it, and a
 * framing error closes with status 1002 (protocol error).
 */
import type { Socket } from 'node:net';
import { DecodeError } from '../../errors.ts';
import { MAX_CLIENT_INFO_BYTES, FRAME_HEADER_BYTES } from '../frames.ts';
import type { RelayTransport } from './transport.ts';
import { encodeWsFrame, WsOpcode, WsReader } from './websocket.ts';

export function wsTransport(socket: Socket, head: Uint8Array): RelayTransport {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  const reader = new WsReader(MAX_CLIENT_INFO_BYTES + FRAME_HEADER_BYTES);
  const closeWith = (code: number) => {
    if (socket.destroyed) return;
    socket.end(encodeWsFrame(WsOpcode.CLOSE, Uint8Array.of(code >> 8, code & 0xff)));
    socket.destroySoon();
  };
  let onBytes: (chunk: Uint8Array) => void = () => {};
  const onChunk = (chunk: Uint8Array) => {
    let events;
    try {
      events = reader.feed(chunk);
    } catch (err) {
      if (err instanceof DecodeError) return closeWith(1002);
      throw err;
    }
    for (const e of events) {
      if (e.kind === 'binary') onBytes(e.data);
      else if (e.kind === 'ping') socket.write(encodeWsFrame(WsOpcode.PONG, e.data));
      else if (e.kind === 'close') return closeWith(1000);
    }
  };
  return {
    write: (bytes) => !socket.destroyed && socket.write(encodeWsFrame(WsOpcode.BINARY, bytes)),
    get bufferedBytes() {
      return socket.writableLength;
    },
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    close: () => socket.destroy(),
    remoteAddress: socket.remoteAddress ?? '',
    remotePort: socket.remotePort ?? 0,
    onData(fn) {
      onBytes = fn;
      if (head.length > 0) onChunk(head);
      socket.on('data', onChunk);
    },
    onDrain: (fn) => socket.on('drain', fn),
    onClose: (fn) => socket.once('close', fn),
  };
}
