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
import { KernelForwarder, kernelForwardDecision, localRelayAddress, readPreconditions, type KernelForwardMode, type KernelForwardStatus } from './kernel-forward.ts';
import { KERNEL_TABLE } from './kernel-forward-plan.ts';
import { openNftRunner } from '../../fw/nft-lib.ts';
import { NftKernelTable, type KernelForwardTable } from './kernel-table.ts';

/** How often the kernel path's counters are read (idle lifetime is minutes; status wants fresh-ish numbers). */
export const KERNEL_POLL_MS = 5000;
/** Never less often than this: well inside the idle lifetime (5 min), so a forwarded pair never expires. */
export const KERNEL_POLL_MAX_MS = 60_000;

export interface UdpRelayServerConfig {
  /** Address to listen on (default all IPv4 addresses; an IPv6 address listens on IPv6). */
  host?: string;
  /** UDP port; 0 picks a free one (tests). */
  port: number;
  limits: UdpRelayLimits;
  /** The kernel fast path (Linux, nftables): "auto" uses it when its preconditions hold. @default 'off' */
  kernelForward?: KernelForwardMode;
}

export interface UdpRelayServerDeps extends Omit<UdpRelayCoreDeps, 'send' | 'randomBytes'> {
  clock: Clock;
  randomBytes?: (n: number) => Uint8Array;
  /** Tests: the kernel table (the memory twin) and the decision, instead of nftables and this machine's facts. */
  kernelTable?: KernelForwardTable;
  kernelDecision?: { use: boolean; reason: string };
  log?: (msg: string) => void;
}

export interface UdpRelayServer {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The bound port once started. */
  port(): number | undefined;
  stats(): UdpRelayStats & { kernel: KernelForwardStatus | undefined };
  /** The kernel path (tests wait for its loads). */
  kernel(): KernelForwarder | undefined;
  /** Call when the network map changes: allocations of nodes that left end. */
  onMapChange(): void;
}

export function createUdpRelayServer(config: UdpRelayServerConfig, deps: UdpRelayServerDeps): UdpRelayServer {
  let socket: Socket | undefined;
  let core: UdpRelayCore | undefined;
  let cancel: CancelTimer | undefined;
  let starting: Promise<void> | undefined;
  let kernel: KernelForwarder | undefined;
  let lastPollMs = 0;
  let pollEveryMs = KERNEL_POLL_MS;
  const randomBytes = deps.randomBytes ?? ((n: number) => new Uint8Array(nodeRandomBytes(n)));

  const arm = (): void => {
    cancel?.();
    if (!core) return;
    const now = deps.clock.nowMs();
    if (kernel && now - lastPollMs >= pollEveryMs) {
      lastPollMs = now;
      const c = core;
      const t0 = performance.now();
      void kernel.poll().then((act) => {
        // Reading counters runs on this thread (about 0.35 s for 1,000 pairs here): at most ~1% of it.
        pollEveryMs = Math.max(KERNEL_POLL_MS, Math.min(KERNEL_POLL_MAX_MS, 100 * (performance.now() - t0)));
        if (act) c.noteActivity(act.active, deps.clock.nowMs());
      });
    }
    const next = core.tick(now);
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
          kernel = startKernel(config, deps, s.address().port);
          const k = kernel;
          core = new UdpRelayCore({ ...deps, randomBytes, send, onPairChange: (vni, sources) => k.setPair(vni, sources) }, config.limits, deps.clock.nowMs());
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
      const k = kernel;
      kernel = undefined;
      await k?.close();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    port: () => socket?.address().port,
    stats: () => ({ ...(core?.stats() ?? { allocations: 0, forwarded: 0, dropped: {} as UdpRelayStats['dropped'] }), kernel: kernel?.status() }),
    kernel: () => kernel,
    onMapChange: () => core?.onMapChange(),
  };
}

function startKernel(config: UdpRelayServerConfig, deps: UdpRelayServerDeps, port: number): KernelForwarder {
  const mode = config.kernelForward ?? 'off';
  const injected = deps.kernelTable !== undefined;
  // The nft context is opened only when the fast path is wanted: `off` costs nothing.
  const runner = !injected && mode !== 'off' && process.platform === 'linux' ? openNftRunner() : undefined;
  const decision = deps.kernelDecision ?? kernelForwardDecision(mode, readPreconditions(runner !== undefined));
  if (!decision.use) runner?.close();
  const table = deps.kernelTable ?? (decision.use && runner ? new NftKernelTable(KERNEL_TABLE, runner, { packetsPerSec: config.limits.packetsPerSec, packetsBurst: config.limits.packetsBurst }) : undefined);
  return new KernelForwarder({
    table, mode, decision, log: deps.log,
    relay: () => {
      const address = injected ? deps.publicEndpoint().address : localRelayAddress(config.host, deps.publicEndpoint().address);
      return address ? { address, port } : undefined;
    },
  });
}
