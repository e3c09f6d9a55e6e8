/**
 * `ips responder`: the far end of `ips probe`. Listens on one address and port for UDP and TCP,
 * and for every probe that arrives sends a neutral ack (and, for UDP kinds, a reply of the same
 * shape). It never starts traffic of its own and answers at most `maxRepliesPerSec` packets a second,
 * so it cannot be turned into a flood source; replies are at most a few bytes longer than requests.
 */
import { createSocket, type Socket, type RemoteInfo } from 'node:dgram';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { isIP } from 'node:net';
import type { Clock, CancelTimer } from '../../clock/clock.ts';
import type { Logger } from '../../log/logger.ts';
import { ConegateError } from '../../errors.ts';
import { classifyArrival, encodeNeutral, MSG_ACK, shapedReply, type ProbeKind } from './wire.ts';

export interface ResponderConfig {
  host: string;
  port: number;
  /** Replies per second across all peers; beyond it arrivals are counted but not answered. */
  maxRepliesPerSec?: number;
  /** A TCP connection that sends no ClientHello within this time is closed. */
  tcpIdleMs?: number;
  maxTcpConnections?: number;
}

export interface ResponderDeps {
  clock: Clock;
  log?: Logger;
}

export interface ResponderStats {
  arrived: Record<ProbeKind, number>;
  unanswered: number;
  ignored: number;
}

export interface Responder {
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): ResponderStats;
  /** The bound port (useful with port 0). */
  port(): number;
}

export function createResponder(config: ResponderConfig, deps: ResponderDeps): Responder {
  const maxPerSec = config.maxRepliesPerSec ?? 200;
  const idleMs = config.tcpIdleMs ?? 5000;
  const maxConns = config.maxTcpConnections ?? 32;
  const stats: ResponderStats = { arrived: { control: 0, stun: 0, wireguard: 0, relay: 0 }, unanswered: 0, ignored: 0 };
  let udp: Socket | undefined;
  let tcp: Server | undefined;
  const conns = new Set<TcpSocket>();
  let windowStartMs = 0;
  let windowCount = 0;
  let started = false;
  let boundPort = config.port;

  const budget = (): boolean => {
    const now = deps.clock.nowMs();
    if (now - windowStartMs >= 1000) {
      windowStartMs = now;
      windowCount = 0;
    }
    return windowCount++ < maxPerSec;
  };

  const onUdp = (msg: Buffer, rinfo: RemoteInfo): void => {
    const bytes = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
    const what = classifyArrival(bytes);
    if (!what || what.kind === 'relay') {
      stats.ignored++;
      return;
    }
    stats.arrived[what.kind]++;
    if (!budget()) {
      stats.unanswered++;
      return;
    }
    deps.log?.debug({ kind: what.kind, from: `${rinfo.address}:${rinfo.port}` }, 'probe arrived');
    udp?.send(encodeNeutral({ type: MSG_ACK, kind: what.kind, nonce: what.nonce }), rinfo.port, rinfo.address);
    const v4 = isIP(rinfo.address) === 4 ? (rinfo.address.split('.').map(Number) as [number, number, number, number]) : undefined;
    const reply = shapedReply(what.kind, what.nonce, v4 ? { ipv4: v4, port: rinfo.port } : { port: rinfo.port });
    if (reply) udp?.send(reply, rinfo.port, rinfo.address);
  };

  const onTcp = (sock: TcpSocket): void => {
    if (conns.size >= maxConns) {
      sock.destroy();
      return;
    }
    conns.add(sock);
    let buf = new Uint8Array(0);
    let cancel: CancelTimer | undefined = deps.clock.setTimer(idleMs, () => sock.destroy());
    const done = (): void => {
      cancel?.();
      cancel = undefined;
      conns.delete(sock);
    };
    sock.on('close', done);
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: Buffer) => {
      const next = new Uint8Array(buf.length + chunk.length);
      next.set(buf, 0);
      next.set(chunk, buf.length);
      buf = next;
      const what = buf.length >= 15 ? classifyArrival(buf) : undefined;
      if (what?.kind === 'relay') {
        stats.arrived.relay++;
        if (budget()) sock.end(encodeNeutral({ type: MSG_ACK, kind: 'relay', nonce: what.nonce }));
        else {
          stats.unanswered++;
          sock.destroy();
        }
      } else if (buf.length >= 4096 || (buf.length >= 15 && !what)) {
        stats.ignored++;
        sock.destroy();
      }
    });
  };

  const listenBoth = async (): Promise<void> => {
    const family = isIP(config.host) === 6 ? 'udp6' : 'udp4';
    const s = createSocket({ type: family });
    udp = s;
    s.on('message', onUdp);
    s.on('error', (e) => deps.log?.warn({ err: e.message }, 'responder UDP error'));
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(config.port, config.host, () => {
        s.off('error', reject);
        resolve();
      });
    }).catch((e: NodeJS.ErrnoException) => {
      throw new ConegateError('CG_NETWORK', `cannot listen on UDP ${config.host}:${config.port}: ${e.code ?? e.message}`);
    });
    boundPort = s.address().port;
    const server = createServer(onTcp);
    tcp = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(boundPort, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((e: NodeJS.ErrnoException) => {
      throw new ConegateError('CG_NETWORK', `cannot listen on TCP ${config.host}:${boundPort}: ${e.code ?? e.message}`, { context: { retry: e.code === 'EADDRINUSE' } });
    });
  };

  const closeAll = async (): Promise<void> => {
    for (const c of conns) c.destroy();
    conns.clear();
    const u = udp;
    const t = tcp;
    udp = undefined;
    tcp = undefined;
    if (u) await new Promise<void>((r) => u.close(() => r()));
    if (t?.listening) await new Promise<void>((r) => t.close(() => r()));
  };

  return {
    async start() {
      if (started) return;
      // UDP and TCP share one port number. With port 0 the kernel picks a free UDP port whose TCP twin
      // may be taken (by any other program): then close the UDP socket and try another port, a few
      // times, so a failed start never leaves a socket open behind it.
      const attempts = config.port === 0 ? 8 : 1;
      for (let i = 1; ; i++) {
        try {
          await listenBoth();
          started = true;
          return;
        } catch (e) {
          await closeAll();
          if (i >= attempts || !(e instanceof ConegateError) || e.context.retry !== true) throw e;
        }
      }
    },
    async stop() {
      if (!started) return;
      started = false;
      await closeAll();
    },
    stats: () => structuredClone(stats),
    port: () => boundPort,
  };
}
