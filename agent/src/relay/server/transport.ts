/**
 * The byte stream a relay connection runs on, whatever carries it: a TLS socket after the
 * `Upgrade: conegate-relay` 101 (socketTransport below), WebSocket binary messages (websocket-transport.ts),
 * or an in-memory pipe in tests. The server never sees the socket itself.
 */
import type { Socket } from 'node:net';

export interface RelayTransport {
  /** Queues bytes for sending; false once the transport holds more than it wants (wait for onDrain). */
  write(bytes: Uint8Array): boolean;
  /** Bytes written but not yet handed to the network. */
  readonly bufferedBytes: number;
  pause(): void;
  resume(): void;
  /** Ends the connection now (idempotent); onClose follows. */
  close(): void;
  readonly remoteAddress: string;
  readonly remotePort: number;
  onData(fn: (chunk: Uint8Array) => void): void;
  onDrain(fn: () => void): void;
  onClose(fn: () => void): void;
}

/** A transport over a socket whose HTTP upgrade is done; `head` = bytes that arrived with the request. */
export function socketTransport(socket: Socket, head: Uint8Array = new Uint8Array(0)): RelayTransport {
  // Relay frames are small and latency matters more than segment count.
  socket.setNoDelay(true);
  // Errors surface as 'close' (with hadError): the relay treats every end of a connection alike.
  socket.on('error', () => {});
  return {
    write: (bytes) => !socket.destroyed && socket.write(bytes),
    get bufferedBytes() {
      return socket.writableLength;
    },
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    close: () => socket.destroy(),
    remoteAddress: socket.remoteAddress ?? '',
    remotePort: socket.remotePort ?? 0,
    onData(fn) {
      if (head.length > 0) fn(head);
      socket.on('data', fn);
    },
    onDrain: (fn) => socket.on('drain', fn),
    onClose: (fn) => socket.once('close', fn),
  };
}
