/**
 * The edge: from a relay node of the map to a byte stream carrying relay frames.
 *   [HTTP proxy CONNECT] -> TLS verified (the map's SHA-256 pin, else the system CAs) ->
 *   `GET /relay` with `Upgrade: conegate-relay` (101, then raw frames), or WebSocket (101, then the
 *   same frames in binary messages) when the upgrade is refused or the path only passes WebSocket.
 * One deadline covers all of it (10 s, as tailscale's derphttp dial: DNS + TCP + TLS + upgrade).
 * Nothing is written before the certificate is checked (tls-connect.ts).
 */
import type { TLSSocket } from 'node:tls';
import { ConegateError } from '../../errors.ts';
import type { RelayNode } from '../../coord/protocol.ts';
import { connectVerified } from '../../node/tls-connect.ts';
import type { ByteStream } from './conn.ts';
import { headerHasToken, type ResponseHead } from './http-head.ts';
import { resolveProxy, type ProxySources, type ProxyTarget } from './proxy.ts';
import { connectThroughProxy, readHead } from './tunnel.ts';
import { encodeWsFrame, wsAccept, WsOpcode, WsReader, wsUpgradeRequest } from './ws.ts';
import { MAX_CLIENT_INFO_BYTES } from '../frames.ts';

/** What the relay server serves (agent/src/relay/server, docs/mesh-protocol.md "Relay"). */
export const RELAY_HTTP = {
  path: '/relay',
  upgrade: 'conegate-relay',
  wsProtocol: 'conegate-relay',
  latencyPath: '/relay/latency',
  /** The 101 answer's header with the relay's X25519 server key (hex). */
  keyHeader: 'conegate-relay-key',
  dialTimeoutMs: 10_000,
} as const;

export type RelayTransportKind = 'upgrade' | 'websocket';

export interface DialOptions {
  proxy: ProxySources;
  transport: RelayTransportKind;
  timeoutMs?: number;
  signal?: AbortSignal;
  randomBytes: (n: number) => Uint8Array;
}

export interface Dialed {
  stream: ByteStream;
  transport: RelayTransportKind;
  /** The proxy used (without credentials), if any. */
  proxy?: string;
  /** The server key the 101 answer announced (checked against the map's pin when there is one). */
  serverKey?: Uint8Array;
}

/**
 * The key a relay announced in its 101 answer (`Conegate-Relay-Key`, 64 hex) checked against the relay
 * map's pin: a pinned relay must announce exactly that key (refused with CG_RELAY_KEY_MISMATCH before
 * any login byte is sent); an unpinned one may announce any well-formed key or none.
 */
export function checkAnnouncedKey(header: string | undefined, pin: string | undefined, url: string): Uint8Array | undefined {
  const announced = header !== undefined && /^[0-9a-f]{64}$/i.test(header.trim()) ? header.trim().toLowerCase() : undefined;
  if (pin === undefined) return announced === undefined ? undefined : Uint8Array.from(Buffer.from(announced, 'hex'));
  const want = pin.toLowerCase();
  if (announced !== want) {
    const got = announced ? `${announced.slice(0, 16)}...` : header === undefined ? 'none' : 'a malformed key';
    throw new ConegateError('CG_RELAY_KEY_MISMATCH', `the relay ${url} announced the server key ${got}, not the key ${want.slice(0, 16)}... the relay map pins for it`, { context: { url } });
  }
  return Uint8Array.from(Buffer.from(want, 'hex'));
}

/** The relay answered the upgrade with something other than 101: try WebSocket. */
export class UpgradeRefused extends ConegateError {
  constructor(readonly status: number, url: string) {
    super('CG_RELAY_REFUSED', `the relay ${url} refused the upgrade (HTTP ${status})`, { context: { status } });
  }
}

export function relayHostPort(url: string): { host: string; port: number; authority: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConegateError('CG_INPUT_INVALID', `relay URL "${url}" is not a URL`);
  }
  if (u.protocol !== 'https:') throw new ConegateError('CG_INPUT_INVALID', `relay URL "${url}" is not https`);
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port ? Number(u.port) : 443, authority: u.host };
}

/** TCP (through the proxy when one applies) and TLS verified against the node's pin or the system CAs. */
export async function openVerified(node: RelayNode, proxySources: ProxySources, signal: AbortSignal, timeoutMs: number): Promise<{ tls: TLSSocket; proxy?: ProxyTarget; authority: string }> {
  const { host, port, authority } = relayHostPort(node.url);
  const started = performance.now();
  const proxy = resolveProxy(host, port, proxySources);
  const tunnel = proxy ? await connectThroughProxy(proxy, host, port, signal) : undefined;
  try {
    const tls = await connectVerified(host, port, node.certSha256 ? { fingerprint: node.certSha256 } : {}, signal, Math.max(1, timeoutMs - (performance.now() - started)), {
      peer: `the relay ${node.url}`,
      refusedCode: 'CG_RELAY_REFUSED',
      hint: 'the relay map pins another certificate, or no CA of this system signed it',
      ...(tunnel ? { socket: tunnel } : {}),
    });
    return { tls, authority, ...(proxy ? { proxy } : {}) };
  } catch (err) {
    tunnel?.destroy();
    throw err;
  }
}

export async function dialRelay(node: RelayNode, opts: DialOptions): Promise<Dialed> {
  // AbortSignal.timeout takes whole milliseconds only.
  const timeoutMs = Math.max(1, Math.round(opts.timeoutMs ?? RELAY_HTTP.dialTimeoutMs));
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  try {
    const { tls, proxy, authority } = await openVerified(node, opts.proxy, signal, timeoutMs);
    try {
      const { stream, serverKey } = opts.transport === 'upgrade' ? await upgrade(tls, authority, node, signal) : await websocket(tls, authority, node, signal, opts.randomBytes);
      return { stream, transport: opts.transport, ...(proxy ? { proxy: proxy.display } : {}), ...(serverKey ? { serverKey } : {}) };
    } catch (err) {
      tls.destroy();
      throw err;
    }
  } catch (err) {
    // Whatever stage the deadline cut (TCP, proxy, TLS, upgrade) reports "aborted": say what it was.
    if (deadline.aborted && !opts.signal?.aborted) throw new ConegateError('CG_TIMEOUT', `cannot connect to the relay ${node.url} within ${timeoutMs} ms (TCP, proxy, TLS and upgrade together)`, { cause: err, context: { stage: (err as ConegateError).context?.stage } });
    throw err;
  }
}

/**
 * Upgrade first; WebSocket when the relay (or a proxy in the way) answered the upgrade with anything
 * but 101, or cut the connection after TLS. The transport that worked is remembered per server.
 */
export function autoDialer(opts: Omit<DialOptions, 'transport' | 'signal'> & { force?: RelayTransportKind }): (node: RelayNode, signal: AbortSignal) => Promise<Dialed> {
  const learned = new Map<string, RelayTransportKind>();
  return async (node, signal) => {
    const first = opts.force ?? learned.get(node.url) ?? 'upgrade';
    const started = performance.now();
    try {
      const d = await dialRelay(node, { ...opts, transport: first, signal });
      learned.set(node.url, first);
      return d;
    } catch (err) {
      const fallback = opts.force === undefined && first === 'upgrade' && (err instanceof UpgradeRefused || (err as ConegateError).context?.stage === 'upgrade');
      if (!fallback || signal.aborted) throw err;
      // The WebSocket attempt gets what is left of the one dial deadline, not a new one.
      const left = (opts.timeoutMs ?? RELAY_HTTP.dialTimeoutMs) - (performance.now() - started);
      if (left <= 0) throw err;
      const d = await dialRelay(node, { ...opts, transport: 'websocket', signal, timeoutMs: left });
      learned.set(node.url, 'websocket');
      return d;
    }
  };
}

/** Latency of a relay server: HEAD /relay/latency on a fresh verified connection, timed from the request to the answer's head. */
export async function probeLatency(node: RelayNode, opts: { proxy: ProxySources; signal: AbortSignal; timeoutMs?: number }): Promise<number> {
  const { tls, authority } = await openVerified(node, opts.proxy, opts.signal, opts.timeoutMs ?? RELAY_HTTP.dialTimeoutMs);
  try {
    const t0 = performance.now();
    tls.write(`HEAD ${RELAY_HTTP.latencyPath} HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`);
    const head = await readHead(tls, opts.signal, `the relay ${node.url}`);
    if (head.status !== 200) throw new ConegateError('CG_NETWORK', `the relay ${node.url} answered the latency probe with HTTP ${head.status}`);
    return performance.now() - t0;
  } finally {
    tls.destroy();
  }
}

type Upgraded = { stream: ByteStream; serverKey: Uint8Array | undefined };

async function upgrade(tls: TLSSocket, authority: string, node: RelayNode, signal: AbortSignal): Promise<Upgraded> {
  const url = node.url;
  tls.write(`GET ${RELAY_HTTP.path} HTTP/1.1\r\nHost: ${authority}\r\nUpgrade: ${RELAY_HTTP.upgrade}\r\nConnection: Upgrade\r\n\r\n`);
  let head: ResponseHead;
  try {
    head = await readHead(tls, signal, `the relay ${url}`);
  } catch (err) {
    // A middlebox that cuts unknown upgrades: the WebSocket attempt may still pass.
    if (err instanceof ConegateError && err.code === 'CG_NETWORK') err.context.stage = 'upgrade';
    throw err;
  }
  if (head.status !== 101 || !headerHasToken(head.headers.get('upgrade'), RELAY_HTTP.upgrade)) throw new UpgradeRefused(head.status, url);
  const serverKey = checkAnnouncedKey(head.headers.get(RELAY_HTTP.keyHeader), node.serverKey, url);
  return { stream: socketStream(tls, head.rest), serverKey };
}

async function websocket(tls: TLSSocket, authority: string, node: RelayNode, signal: AbortSignal, randomBytes: (n: number) => Uint8Array): Promise<Upgraded> {
  const url = node.url;
  const key = Buffer.from(randomBytes(16)).toString('base64');
  tls.write(wsUpgradeRequest(authority, RELAY_HTTP.path, key, RELAY_HTTP.wsProtocol));
  const head = await readHead(tls, signal, `the relay ${url}`);
  if (head.status !== 101) throw new ConegateError('CG_RELAY_REFUSED', `the relay ${url} refused the WebSocket upgrade (HTTP ${head.status})`, { context: { status: head.status } });
  if (head.headers.get('sec-websocket-accept') !== wsAccept(key)) throw new ConegateError('CG_RELAY_REFUSED', `the relay ${url} answered the WebSocket upgrade with a wrong Sec-WebSocket-Accept`);
  const serverKey = checkAnnouncedKey(head.headers.get(RELAY_HTTP.keyHeader), node.serverKey, url);
  return { stream: wsStream(tls, head.rest, randomBytes), serverKey };
}

function socketStream(sock: TLSSocket, head: Uint8Array): ByteStream {
  sock.setNoDelay(true);
  sock.on('error', () => {}); // surfaces as 'close'
  return {
    write: (b) => void (!sock.destroyed && sock.write(b)),
    close: () => sock.destroy(),
    onData(fn) {
      if (head.length) queueMicrotask(() => fn(head));
      sock.on('data', (c: Buffer) => fn(new Uint8Array(c.buffer, c.byteOffset, c.length)));
      sock.resume();
    },
    onClose: (fn) => void sock.once('close', fn),
  };
}

function wsStream(sock: TLSSocket, head: Uint8Array, randomBytes: (n: number) => Uint8Array): ByteStream {
  sock.setNoDelay(true);
  sock.on('error', () => {});
  // A relay frame is at most client-info sized; a message holding one frame is below this.
  const reader = new WsReader(MAX_CLIENT_INFO_BYTES + 64);
  const send = (opcode: number, b: Uint8Array) => void (!sock.destroyed && sock.write(encodeWsFrame(opcode, b, randomBytes(4))));
  return {
    write: (b) => send(WsOpcode.BINARY, b),
    close: () => {
      send(WsOpcode.CLOSE, Uint8Array.of(0x03, 0xe8));
      sock.destroy();
    },
    onData(fn) {
      const feed = (c: Uint8Array) => {
        try {
          for (const ev of reader.feed(c)) {
            if (ev.t === 'binary') fn(ev.data);
            else if (ev.t === 'ping') send(WsOpcode.PONG, ev.data);
            else if (ev.t === 'close') sock.destroy();
          }
        } catch {
          sock.destroy(); // a broken WebSocket stream ends this connection only
        }
      };
      if (head.length) queueMicrotask(() => feed(head));
      sock.on('data', (c: Buffer) => feed(new Uint8Array(c.buffer, c.byteOffset, c.length)));
      sock.resume();
    },
    onClose: (fn) => void sock.once('close', fn),
  };
}
