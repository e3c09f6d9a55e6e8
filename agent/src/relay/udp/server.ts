/**
 * The UDP relay's edge: one UDP socket on its own port (never the mesh socket: relayed traffic and the
 * node's own WireGuard stay apart, and the admin opens one port for it), a timer for lifetimes, and the
 * pure core (server-core.ts) in between. Runs inside the agent process when `mesh.udpRelay.enabled`.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import type { CancelTimer, Clock } from '../../clock/clock.ts';
import { ConegateError } from '../../errors.ts';
import type { Endpoint } from '../../wg/ports.ts';
import { UdpRelayCore, type UdpRelayCoreDeps, type UdpRelayLimits, type UdpRelayStats } from './server-core.ts';

export interface UdpRelayServerConfig {
  /** Address to listen on (default all IPv4 addresses; an IPv6 address listens on IPv6). */
  host?: string;
  /** UDP port; 0 picks a free one (tests). */
  port: number;
  limits: UdpRelayLimits;
}

export interface UdpRelayServerDeps extends Omit<UdpRelayCoreDeps, 'send' | 'randomBytes'> {
  clock: Clock;
  randomBytes?: (n: number) => Uint8Array;
}

export interface UdpRelayServer {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The bound port once started. */
  port(): number | undefined;
  stats(): UdpRelayStats;
  /** Call when the network map changes: allocations of nodes that left end. */
  onMapChange(): void;
}

export function createUdpRelayServer(config: UdpRelayServerConfig, deps: UdpRelayServerDeps): UdpRelayServer {
  let socket: Socket | undefined;
  let core: UdpRelayCore | undefined;
  let cancel: CancelTimer | undefined;
  let starting: Promise<void> | undefined;
  const randomBytes = deps.randomBytes ?? ((n: number) => new Uint8Array(nodeRandomBytes(n)));

  const arm = (): void => {
    cancel?.();
    if (!core) return;
    const next = core.tick(deps.clock.nowMs());
    // Wake at the next deadline, but at least every second: allocations made meanwhile bring theirs earlier.
    cancel = deps.clock.setTimer(Math.min(1000, Math.max(0, next - deps.clock.nowMs())), arm);
  };

  // One callback for every send (a send error is that packet's only; nothing to allocate per packet).
  const ignore = (): void => undefined;
  const send = (packet: Uint8Array, to: Endpoint): void => {
    socket?.send(packet, to.port, to.address, ignore);
  };

  return {
    start() {
      starting ??= new Promise<void>((resolve, reject) => {
        // Larger socket buffers absorb a burst from one client while the event loop serves another (the
        // kernel caps them at net.core.rmem_max / wmem_max).
        const s = createSocket({ type: config.host?.includes(':') ? 'udp6' : 'udp4', reuseAddr: false, recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
        s.once('error', (err) => {
          s.close();
          starting = undefined;
          reject(new ConegateError('CG_NETWORK', `udp relay: cannot listen on UDP port ${config.port}: ${err.message}`, { cause: err }));
        });
        s.bind(config.port, config.host, () => {
          s.removeAllListeners('error');
          // A send error (ICMP unreachable from a client that left) is that packet's problem only.
          s.on('error', () => undefined);
          socket = s;
          core = new UdpRelayCore({ ...deps, randomBytes, send }, config.limits, deps.clock.nowMs());
          s.on('message', (msg, rinfo) => core!.onPacket(msg, rinfo, deps.clock.nowMs()));
          arm();
          resolve();
        });
      });
      return starting;
    },
    async stop() {
      cancel?.();
      cancel = undefined;
      const s = socket;
      socket = undefined;
      core = undefined;
      starting = undefined;
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    port: () => socket?.address().port,
    stats: () => core?.stats() ?? { allocations: 0, forwarded: 0, dropped: {} as UdpRelayStats['dropped'] },
    onMapChange: () => core?.onMapChange(),
  };
}
