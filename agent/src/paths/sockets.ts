/**
 * The SocketSet edge: the mesh socket (id 0) is the node's DgramBind on wg.listenPort; extra sockets
 * (birthday attempts) are IPv4 DgramBinds on random ports, sending on the main thread (a few hundred
 * probes, not bulk data). Only the mesh socket carries the tunnel's bulk traffic, so only it keeps the
 * sender thread.
 *
 * Send errors: a send that fails synchronously (no socket for that address family, a bad address, a
 * closed socket) is reported to the error handler with the socket and destination, so the engine can
 * drop that path at once (an IPv6 candidate on a host without IPv6 must not hold up IPv4). Errors that
 * surface later (ICMP unreachable on the socket) are only counted by the bind: node:dgram does not say
 * which destination they belong to.
 */
import { DgramBind } from '../wg/bind/dgram.ts';
import type { Endpoint } from '../wg/ports.ts';
import { MESH_SOCKET, type SocketId, type SocketSet } from './types.ts';

export type SendErrorHandler = (socket: SocketId, to: Endpoint, code: 'unreachable' | 'no-socket') => void;

/** SocketSet plus what the router and the node need of an edge (errors, close). */
export interface SocketSetEdge extends SocketSet {
  onSendError(handler: SendErrorHandler): void;
  close(): Promise<void>;
}

/** At most this many extra sockets at once (docs/mesh-paths.md: the hard side opens at most 256). */
export const MAX_EXTRA_SOCKETS = 256;

export class DgramSocketSet implements SocketSetEdge {
  private readonly extras = new Map<SocketId, DgramBind>();
  private handler: ((packet: Uint8Array, from: Endpoint, socket: SocketId) => void) | undefined;
  private errorHandler: SendErrorHandler | undefined;
  private nextId = 1;

  /** `mesh` stays owned by the caller (the mesh node closes it); the extras are owned here. */
  constructor(private readonly mesh: DgramBind) {
    mesh.onReceive((packet, from) => this.handler?.(packet, from, MESH_SOCKET));
  }

  send(socket: SocketId, packet: Uint8Array, to: Endpoint): void {
    const b = socket === MESH_SOCKET ? this.mesh : this.extras.get(socket);
    if (b === undefined) {
      this.errorHandler?.(socket, to, 'no-socket');
      return;
    }
    const before = b.stats.sendErrors;
    b.send(packet, to);
    if (b.stats.sendErrors !== before) this.errorHandler?.(socket, to, 'unreachable');
  }

  onReceive(handler: (packet: Uint8Array, from: Endpoint, socket: SocketId) => void): void {
    this.handler = handler;
  }

  onSendError(handler: SendErrorHandler): void {
    this.errorHandler = handler;
  }

  async openExtra(count: number): Promise<SocketId[]> {
    const want = Math.max(0, Math.min(count, MAX_EXTRA_SOCKETS - this.extras.size));
    const opened = await Promise.allSettled(Array.from({ length: want }, () => DgramBind.open({ port: 0, ipv4Only: true, sendMode: 'main', bufferBytes: 64 * 1024 })));
    const ids: SocketId[] = [];
    for (const r of opened) {
      // The OS refusing some (descriptor limit, port range exhausted) is not an error: fewer sockets.
      if (r.status !== 'fulfilled') continue;
      const id = this.nextId++;
      r.value.onReceive((packet, from) => this.handler?.(packet, from, id));
      this.extras.set(id, r.value);
      ids.push(id);
    }
    return ids;
  }

  closeExtra(ids: SocketId[]): void {
    for (const id of ids) {
      const b = this.extras.get(id);
      if (!b) continue;
      this.extras.delete(id);
      void b.close();
    }
  }

  localPort(socket: SocketId): number | undefined {
    return socket === MESH_SOCKET ? this.mesh.localPort : this.extras.get(socket)?.localPort;
  }

  extraCount(): number {
    return this.extras.size;
  }

  /** Closes the extra sockets (the mesh socket is the caller's). */
  async close(): Promise<void> {
    const all = [...this.extras.values()];
    this.extras.clear();
    await Promise.all(all.map((b) => b.close()));
  }
}
