/**
 * Dialling a relay and logging in: what a relay does towards the other relays of its region (with the
 * mesh key), and the minimal client the relay's own tests and bench use. The full node-side client
 * (reconnects, home region, proxies) is agent/src/relay/client.
 *
 * Steps: verified TLS (pin or CA, tls-connect.ts) -> `GET /relay` with `Upgrade: conegate-relay` (or
 * WebSocket) -> 101 -> server-key frame (must match the 101's Conegate-Relay-Key) -> client-info sealed
 * to it -> server-info sealed back (proves the server holds that key). Bounded: 10 s for all of it,
 * 8 KiB of response headers.
 */
import { randomBytes } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { x25519Public } from '../../wg/x25519.ts';
import { realClock, type Clock } from '../../clock/clock.ts';
import { ConegateError, DecodeError } from '../../errors.ts';
import { connectVerified, type TlsTrust } from '../../node/tls-connect.ts';
import * as f from '../frames.ts';
import { decodeMessage, type RelayMessage } from '../frames-message.ts';
import { openServerInfo, RELAY_PROTOCOL_VERSION, sealJson, type ServerInfo } from '../frames-seal.ts';
import { encodeWsFrame, WsOpcode, WsReader } from '../server/websocket.ts';

export interface DialOptions {
  /** https://host:port of the relay (path ignored: always /relay). */
  url: string;
  trust: TlsTrust;
  /** Our X25519 private key: a node key, or a relay's own server key on mesh links. */
  secret: Uint8Array;
  meshKey?: string;
  prober?: boolean;
  websocket?: boolean;
  timeoutMs?: number;
  clock?: Clock;
}

export interface RelayLink {
  readonly serverKey: Uint8Array;
  readonly serverInfo: ServerInfo;
  readonly socket: TLSSocket;
  /** Writes whole frames (encodeSend(...) etc.); false when the socket buffer is full. */
  write(frame: Uint8Array): boolean;
  onMessage(fn: (m: RelayMessage) => void): void;
  onClose(fn: (reason: string) => void): void;
  close(): void;
}

const MAX_HEADER_BYTES = 8 * 1024;

export async function dialRelay(o: DialOptions): Promise<RelayLink> {
  const url = new URL(o.url);
  if (url.protocol !== 'https:') throw new ConegateError('CG_USAGE', `relay URL ${o.url} is not https`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const timeoutMs = o.timeoutMs ?? 10_000;
  const clock = o.clock ?? realClock;
  const socket = await connectVerified(host, Number(url.port || 443), o.trust, undefined, timeoutMs);
  socket.setNoDelay(true);
  const wsKey = randomBytes(16).toString('base64');
  const upgrade = o.websocket
    ? `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${wsKey}\r\nSec-WebSocket-Version: 13\r\n`
    : 'Upgrade: conegate-relay\r\nConnection: Upgrade\r\n';
  socket.write(`GET /relay HTTP/1.1\r\nHost: ${url.host}\r\n${upgrade}\r\n`);
  return new Promise<RelayLink>((resolve, reject) => {
    const frames = new f.FrameReader();
    const ws = o.websocket ? new WsReader(f.MAX_CLIENT_INFO_BYTES, false) : undefined;
    let header: Buffer | undefined = Buffer.alloc(0);
    let headerKey = '';
    let serverKey: Uint8Array | undefined;
    let link: RelayLink | undefined;
    const listeners: ((m: RelayMessage) => void)[] = [];
    const closers: ((reason: string) => void)[] = [];
    let closeReason = 'closed by the relay';
    const cancel = clock.setTimer(timeoutMs, () => fail(new ConegateError('CG_TIMEOUT', `relay login at ${o.url} timed out`)));
    const fail = (err: Error) => {
      cancel();
      closeReason = err.message;
      socket.destroy();
      reject(err);
    };
    const write = (frame: Uint8Array): boolean => socket.write(ws ? encodeWsFrame(WsOpcode.BINARY, frame, randomBytes(4)) : frame);
    const onFrame = (m: RelayMessage): void => {
      if (link) return listeners.forEach((fn) => fn(m));
      if (!serverKey) {
        if (m.kind !== 'server-key') return fail(new ConegateError('CG_NETWORK', `relay ${o.url} did not start with its key`));
        if (headerKey && Buffer.from(m.serverKey).toString('hex') !== headerKey) return fail(new ConegateError('CG_NETWORK', 'relay key in the frame differs from the header'));
        serverKey = m.serverKey;
        const info = { version: RELAY_PROTOCOL_VERSION, canAckPings: true, ...(o.meshKey ? { meshKey: o.meshKey } : {}), ...(o.prober ? { prober: true } : {}) };
        write(f.encodeClientInfo(x25519Public(o.secret), sealJson(info, o.secret, serverKey, (n) => Uint8Array.from(randomBytes(n)))));
        return;
      }
      if (m.kind === 'health') return void (closeReason = m.problem);
      if (m.kind !== 'server-info') return fail(new ConegateError('CG_NETWORK', `relay ${o.url} sent ${m.kind} before server-info`));
      const serverInfo = openServerInfo(m.sealed, o.secret, serverKey);
      cancel();
      const sk = serverKey;
      link = {
        serverKey: sk,
        serverInfo,
        socket,
        write,
        onMessage: (fn) => void listeners.push(fn),
        onClose: (fn) => void closers.push(fn),
        close: () => socket.destroy(),
      };
      resolve(link);
    };
    const onBytes = (chunk: Uint8Array): void => {
      for (const frame of frames.feed(chunk)) {
        const m = decodeMessage(frame);
        if (m) onFrame(m);
      }
    };
    const onData = (chunk: Buffer): void => {
      try {
        if (header !== undefined) {
          header = Buffer.concat([header, chunk]);
          const end = header.indexOf('\r\n\r\n');
          if (end < 0) {
            if (header.length > MAX_HEADER_BYTES) fail(new ConegateError('CG_NETWORK', 'relay response headers too long'));
            return;
          }
          const text = header.subarray(0, end).toString('latin1');
          if (!/^HTTP\/1\.1 101 /.test(text)) return fail(new ConegateError('CG_NETWORK', `relay ${o.url} refused the upgrade: ${text.split('\r\n')[0]}`));
          headerKey = /\r\nconegate-relay-key: *([0-9a-f]{64})/i.exec(text)?.[1]?.toLowerCase() ?? '';
          chunk = header.subarray(end + 4);
          header = undefined;
        }
        if (!ws) return onBytes(chunk);
        for (const e of ws.feed(chunk)) if (e.kind === 'binary') onBytes(e.data);
      } catch (err) {
        if (err instanceof DecodeError) return fail(new ConegateError('CG_NETWORK', `relay ${o.url} sent a bad frame: ${err.reason}`));
        throw err;
      }
    };
    socket.on('data', onData);
    socket.on('error', (err) => (closeReason = err.message));
    socket.once('close', () => {
      if (!link) fail(new ConegateError('CG_NETWORK', `relay ${o.url} closed the connection during login: ${closeReason}`));
      for (const fn of closers) fn(closeReason);
    });
  });
}
