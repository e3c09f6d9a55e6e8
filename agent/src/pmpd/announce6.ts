/**
 * The IPv6 side of the PCP ANNOUNCE (RFC 6887 14.1.3: also to [ff02::1]:5350): one socket per LAN
 * interface on its link-local address and the server port. Right after a link comes up its
 * link-local address is tentative (duplicate address detection) and binding it fails with
 * EADDRNOTAVAIL; a router's daemon often starts exactly then. So the bind is retried with back-off,
 * a bounded number of times, instead of giving up on IPv6 announcements for good.
 */
import { createSocket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import type { Clock, CancelTimer } from '../clock/clock.ts';
import type { Logger } from '../log/logger.ts';

export interface AnnounceSocket {
  send(packet: Uint8Array, port: number, address: string): void;
  close(): Promise<void>;
}

/** Binds the announcement socket of one interface; rejects (e.g. EADDRNOTAVAIL, ENOLINKLOCAL) to be retried. */
export type BindV6 = (ifname: string, port: number) => Promise<AnnounceSocket>;

/**
 * Delays between attempts: 250 ms doubling, capped at 30 s, 12 attempts in all (about 3 minutes):
 * DAD takes a second or two, a link plugged in a little later is still caught, and a LAN without
 * IPv6 costs 12 failed binds, not a loop.
 */
export function bindRetryDelaysMs(attempts = 12, firstMs = 250, capMs = 30_000): number[] {
  const out: number[] = [];
  for (let i = 0, d = firstMs; i < attempts - 1; i++, d = Math.min(capMs, d * 2)) out.push(d);
  return out;
}

export class V6Announcer {
  private readonly sockets = new Map<string, AnnounceSocket>();
  private readonly timers = new Map<string, CancelTimer>();
  private running = false;
  /** Failed bind attempts, for tests and logs. */
  failures = 0;

  constructor(
    private readonly ifnames: string[],
    private readonly port: () => number,
    private readonly deps: { clock: Clock; log: Logger; bind: BindV6 },
    private readonly delaysMs: number[] = bindRetryDelaysMs(),
  ) {}

  /** Starts binding every interface (first attempt at once). Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const ifname of this.ifnames) void this.attempt(ifname, 0);
  }

  /** Cancels pending retries and closes the sockets. Idempotent. */
  async stop(): Promise<void> {
    this.running = false;
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
    const open = [...this.sockets.values()];
    this.sockets.clear();
    await Promise.all(open.map((s) => s.close()));
  }

  /** Interfaces whose socket is bound. */
  ready(): string[] {
    return [...this.sockets.keys()];
  }

  /** Sends to `group%ifname` on every bound interface. */
  send(packet: Uint8Array, port: number, group: string): void {
    for (const [ifname, s] of this.sockets) s.send(packet, port, `${group}%${ifname}`);
  }

  private async attempt(ifname: string, n: number): Promise<void> {
    this.timers.delete(ifname);
    let socket: AnnounceSocket;
    try {
      socket = await this.deps.bind(ifname, this.port());
    } catch (err) {
      if (!this.running) return;
      this.failures++;
      const delay = this.delaysMs[n];
      if (delay === undefined) {
        this.deps.log.warn({ err, ifname, attempts: n + 1 }, 'pmpd: no IPv6 announcement socket; PCP ANNOUNCE goes to 224.0.0.1 only on this interface');
        return;
      }
      this.deps.log.debug({ err, ifname, attempt: n + 1, retryInMs: delay }, 'pmpd: IPv6 link-local not usable yet, will retry');
      this.timers.set(ifname, this.deps.clock.setTimer(delay, () => void this.attempt(ifname, n + 1)));
      return;
    }
    if (!this.running) {
      await socket.close();
      return;
    }
    this.sockets.set(ifname, socket);
    if (n > 0) this.deps.log.info({ ifname, attempts: n + 1 }, 'pmpd: IPv6 announcement socket bound');
  }
}

/** The real bind: the interface's link-local address (read afresh each attempt), the given port, TTL 1, no loopback. */
export function linkLocalBinder(log: Logger, interfaces: () => ReturnType<typeof networkInterfaces> = networkInterfaces): BindV6 {
  return (ifname, port) => {
    const ll = (interfaces()[ifname] ?? []).find((a) => a.family === 'IPv6' && a.address.startsWith('fe80:'));
    if (!ll) return Promise.reject(Object.assign(new Error(`${ifname} has no IPv6 link-local address (yet)`), { code: 'ENOLINKLOCAL' }));
    const socket = createSocket({ type: 'udp6', ipv6Only: true, lookup: (address, _f, cb) => cb(null, address, 6) });
    // It answers nothing (mappings are IPv4 only): anything received is ignored.
    socket.on('message', () => undefined);
    return new Promise((resolve, reject) => {
      socket.once('error', (err) => {
        socket.close();
        reject(err);
      });
      socket.bind({ address: `${ll.address}%${ifname}`, port, exclusive: true }, () => {
        socket.removeAllListeners('error');
        socket.on('error', (err) => log.warn({ err, ifname }, 'pmpd: IPv6 announcement socket error'));
        try {
          socket.setMulticastInterface(`::%${ifname}`);
          socket.setMulticastTTL(1);
          socket.setMulticastLoopback(false);
        } catch (err) {
          log.warn({ err, ifname }, 'pmpd: cannot set IPv6 multicast options');
        }
        resolve({
          send: (packet, p, address) => socket.send(packet, p, address),
          close: () => new Promise<void>((r) => socket.close(() => r())),
        });
      });
    });
  };
}
