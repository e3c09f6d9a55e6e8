/**
 * The SocketSet twin: the mesh socket and extra sockets as MemoryBinds on a MemoryNetwork (wg/memory-bind),
 * so router and loop tests run two or more nodes in one process, through the network's tap (drop all
 * UDP, NAT-like rewrites) without any kernel socket. Extra sockets take free ports from 20000 up on
 * the mesh socket's address.
 */
import type { MemoryBind, MemoryNetwork } from '../wg/memory-bind.ts';
import type { Endpoint } from '../wg/ports.ts';
import { MESH_SOCKET, type SocketId, type SocketSet } from './types.ts';
import type { SendErrorHandler, SocketSetEdge } from './sockets.ts';

export class MemorySocketSet implements SocketSetEdge {
  private readonly binds = new Map<SocketId, MemoryBind>();
  private handler: ((packet: Uint8Array, from: Endpoint, socket: SocketId) => void) | undefined;
  private errorHandler: SendErrorHandler | undefined;
  private nextId = 1;
  private nextPort = 20_000;
  /** Tests: addresses whose sends fail at once (as an unreachable IPv6 network does). */
  readonly unreachable = new Set<string>();
  /** Tests: extra sockets refused after this many (as an OS out of descriptors). */
  extraLimit = Infinity;

  constructor(private readonly net: MemoryNetwork, at: Endpoint) {
    this.install(MESH_SOCKET, net.bind(at));
  }

  get local(): Endpoint {
    return this.binds.get(MESH_SOCKET)!.local;
  }

  send(socket: SocketId, packet: Uint8Array, to: Endpoint): void {
    const b = this.binds.get(socket);
    if (!b || this.unreachable.has(to.address)) {
      this.errorHandler?.(socket, to, b ? 'unreachable' : 'no-socket');
      return;
    }
    b.send(packet, to);
  }

  onReceive(handler: (packet: Uint8Array, from: Endpoint, socket: SocketId) => void): void {
    this.handler = handler;
  }

  onSendError(handler: SendErrorHandler): void {
    this.errorHandler = handler;
  }

  async openExtra(count: number): Promise<SocketId[]> {
    const ids: SocketId[] = [];
    const address = this.local.address;
    for (let i = 0; i < count && this.binds.size - 1 < this.extraLimit; i++) {
      while (!this.net.isFree({ address, port: this.nextPort })) this.nextPort++;
      const id = this.nextId++;
      this.install(id, this.net.bind({ address, port: this.nextPort++ }));
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
    return this.binds.get(socket)?.localPort;
  }

  extraCount(): number {
    return this.binds.size - 1;
  }

  async close(): Promise<void> {
    for (const b of this.binds.values()) b.close();
    this.binds.clear();
  }

  private install(id: SocketId, b: MemoryBind): void {
    this.binds.set(id, b);
    b.onReceive((packet, from) => this.handler?.(packet, from, id));
  }
}

export type { SocketSet };
