/**
 * The relay's HTTPS edge (TLS only; the relay is meant for TCP 443):
 * - `GET /relay` with `Upgrade: conegate-relay`: 101 with the server key in `Conegate-Relay-Key`, then raw frames;
 * - `GET /relay` with `Upgrade: websocket` (RFC 6455 4.2): 101, then frames inside binary messages;
 * - `HEAD /relay/latency` (and GET): an empty 200, for clients measuring latency without UDP;
 * - anything else: 404; `GET /relay` without an upgrade: 426.
 * Slow clients: the TLS handshake, the request headers and the login each have a 10 s deadline.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { RelayServer } from './relay-server.ts';
import { socketTransport } from './transport.ts';
import { wsAccept } from './websocket.ts';
import { wsTransport } from './ws-transport.ts';

export const RELAY_PATH = '/relay';
export const LATENCY_PATH = '/relay/latency';
export const UPGRADE_TOKEN = 'conegate-relay';
export const KEY_HEADER = 'conegate-relay-key';

export interface RelayHttpsOptions {
  key: string;
  cert: string;
  handshakeMs?: number;
  headersMs?: number;
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '').split('?')[0]!;
}

function refuse(socket: Socket, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroySoon();
}

export function createRelayHttpsServer(relay: RelayServer, o: RelayHttpsOptions): Server {
  const t = o.headersMs ?? 10_000;
  const server = createServer({ key: o.key, cert: o.cert, handshakeTimeout: o.handshakeMs ?? 10_000, headersTimeout: t, requestTimeout: t, keepAliveTimeout: 5_000 }, (req, res) => {
    const path = pathOf(req);
    if (path === LATENCY_PATH && (req.method === 'HEAD' || req.method === 'GET')) {
      res.writeHead(200, { 'cache-control': 'no-store', 'content-length': '0' }).end();
    } else if (path === RELAY_PATH) {
      res.writeHead(426, { upgrade: UPGRADE_TOKEN, connection: 'close', 'content-length': '0' }).end();
    } else {
      res.writeHead(404, { 'content-length': '0' }).end();
    }
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => {});
    if (pathOf(req) !== RELAY_PATH || req.method !== 'GET') return refuse(socket, '404 Not Found');
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    const serverKey = Buffer.from(relay.serverKey).toString('hex');
    if (upgrade === UPGRADE_TOKEN) {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${UPGRADE_TOKEN}\r\nConnection: Upgrade\r\nConegate-Relay-Key: ${serverKey}\r\n\r\n`);
      relay.accept(socketTransport(socket, head));
      return;
    }
    const wsKey = req.headers['sec-websocket-key'];
    if (upgrade === 'websocket' && typeof wsKey === 'string' && req.headers['sec-websocket-version'] === '13') {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${wsAccept(wsKey)}\r\nConegate-Relay-Key: ${serverKey}\r\n\r\n`);
      relay.accept(wsTransport(socket, head));
      return;
    }
    refuse(socket, '400 Bad Request');
  });
  // Connections whose TLS handshake never completes are cut by handshakeTimeout; errors are per socket.
  server.on('tlsClientError', () => {});
  return server;
}
