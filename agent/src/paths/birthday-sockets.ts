/**
 * A minimal SocketSet (agent/src/paths/types.ts) for birthday attempts: the mesh socket plus up to 256
 * extra UDP sockets opened at once. Two implementations, one compliance suite
 * (birthday-sockets.test.ts): node:dgram (the edge) and a memory twin on the WireGuard MemoryNetwork.
 * The paths area owns the node's full socket set (sockets.ts); this one is what the birthday executor
 * and its lab driver need, until that one lands.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { ConegateError } from '../errors.ts';
import type { MemoryBind, MemoryNetwork } from '../wg/memory-bind.ts';
import type { Endpoint } from '../wg/ports.ts';
import { BIRTHDAY_LIMITS, PORT_MIN, PORT_SPACE } from './birthday-plan.ts';
import { MESH_SOCKET, type SocketId, type SocketSet } from './types.ts';

type Handler = (packet: Uint8Array, from: Endpoint, socket: SocketId) => void;

/** What both implementations count (tests assert counters, so a silent failure cannot hide). */
export interface SocketSetCounters {
  sent: number;
  received: number;
  /** Sends to an unknown or closed socket id, and sends the OS refused. */
  sendErrors: number;
}

/** The edge: real UDP sockets (IPv4 or IPv6 by the mesh socket's address). */
export class DgramSocketSet implements SocketSet {
  private readonly socks = new Map<SocketId, Socket>();
  private handler: Handler | undefined;
  private nextId = 1;
  private closed = false;
  readonly counters: SocketSetCounters = { sent: 0, received: 0, sendErrors: 0 };

  private constructor(private readonly address: string) {}

  /** Binds the mesh socket (id 0) at address:port (port 0 = any). */
  static async open(address: string, port: number): Promise<DgramSocketSet> {
    const set = new DgramSocketSet(address);
    const s = await set.bindOne(port);
    if (!s) throw new ConegateError('CG_BUSY', `cannot bind UDP ${address}:${port}`, { context: { address, port } });
    set.adopt(MESH_SOCKET, s);
    return set;
  }

  private async bindOne(port: number): Promise<Socket | undefined> {
    const s = createSocket({ type: this.address.includes(':') ? 'udp6' : 'udp4' });
    try {
      s.bind(port, this.address);
      await Promise.race([once(s, 'listening'), once(s, 'error').then(([e]) => Promise.reject(e))]);
      return s;
    } catch {
      s.close();
      return undefined;
    }
  }

  private adopt(id: SocketId, s: Socket): void {
    s.on('message', (msg, rinfo) => {
      this.counters.received++;
      this.handler?.(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), { address: rinfo.address, port: rinfo.port }, id);
    });
    // An ICMP error surfaces as a socket error on Linux; it must not end the process.
    s.on('error', () => this.counters.sendErrors++);
    this.socks.set(id, s);
  }

  send(socket: SocketId, packet: Uint8Array, to: Endpoint): void {
    const s = this.socks.get(socket);
    if (!s || this.closed) {
      this.counters.sendErrors++;
      return;
    }
    this.counters.sent++;
    s.send(packet, to.port, to.address, (err) => {
      if (err) this.counters.sendErrors++;
    });
  }

  onReceive(handler: Handler): void {
    this.handler = handler;
  }

  /** Binds up to `count` (at most 256) sockets on kernel-chosen ports in parallel; those the OS refuses are left out. */
  async openExtra(count: number): Promise<SocketId[]> {
    if (this.closed) return [];
    const n = Math.max(0, Math.min(Math.floor(count), BIRTHDAY_LIMITS.maxSockets));
    const bound = await Promise.all(Array.from({ length: n }, () => this.bindOne(0)));
    const ids: SocketId[] = [];
    for (const s of bound) {
      if (!s) continue;
      if (this.closed) {
        s.close();
        continue;
      }
      const id = this.nextId++;
      this.adopt(id, s);
      ids.push(id);
    }
    return ids;
  }

  closeExtra(ids: SocketId[]): void {
    for (const id of ids) {
      if (id === MESH_SOCKET) continue;
      this.socks.get(id)?.close();
      this.socks.delete(id);
    }
  }

  localPort(socket: SocketId): number | undefined {
    const s = this.socks.get(socket);
    try {
      return s?.address().port;
    } catch {
      return undefined;
    }
  }

  /** Extra sockets currently open. */
  extraCount(): number {
    return this.socks.size - (this.socks.has(MESH_SOCKET) ? 1 : 0);
  }

  /** Closes every socket, the mesh socket included. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.socks.values()) s.close();
    this.socks.clear();
  }
}

/** The twin: binds on a MemoryNetwork at one address; extra sockets on random free ports (injected randomness). */
export class MemorySocketSet implements SocketSet {
  private readonly binds = new Map<SocketId, MemoryBind>();
  private handler: Handler | undefined;
  private nextId = 1;
  private closed = false;
  readonly counters: SocketSetCounters = { sent: 0, received: 0, sendErrors: 0 };

  constructor(
    private readonly net: MemoryNetwork,
    private readonly mesh: Endpoint,
    private readonly randomBytes: (n: number) => Uint8Array,
  ) {
    this.adopt(MESH_SOCKET, net.bind(mesh));
  }

  private adopt(id: SocketId, b: MemoryBind): void {
    b.onReceive((packet, from) => {
      this.counters.received++;
      this.handler?.(packet, from, id);
    });
    this.binds.set(id, b);
  }

  send(socket: SocketId, packet: Uint8Array, to: Endpoint): void {
    const b = this.binds.get(socket);
    if (!b || this.closed) {
      this.counters.sendErrors++;
      return;
    }
    this.counters.sent++;
    b.send(packet, to);
  }

  onReceive(handler: Handler): void {
    this.handler = handler;
  }

  async openExtra(count: number): Promise<SocketId[]> {
    if (this.closed) return [];
    const n = Math.max(0, Math.min(Math.floor(count), BIRTHDAY_LIMITS.maxSockets));
    const ids: SocketId[] = [];
    for (let tries = 0; ids.length < n && tries < n * 8; tries++) {
      const r = this.randomBytes(2);
      const port = PORT_MIN + (((r[0]! << 8) | r[1]!) % PORT_SPACE);
      if (!this.net.isFree({ address: this.mesh.address, port })) continue;
      const id = this.nextId++;
      this.adopt(id, this.net.bind({ address: this.mesh.address, port }));
      ids.push(id);
    }
    return ids;
  }

  closeExtra(ids: SocketId[]): void {
    for (const id of ids) {
      if (id === MESH_SOCKET) continue;
      this.binds.get(id)?.close();
      this.binds.delete(id);
    }
  }

  localPort(socket: SocketId): number | undefined {
    return this.binds.get(socket)?.local.port;
  }

  extraCount(): number {
    return this.binds.size - (this.binds.has(MESH_SOCKET) ? 1 : 0);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const b of this.binds.values()) b.close();
    this.binds.clear();
  }
}
