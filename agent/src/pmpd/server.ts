/**
 * The socket edge of the NAT-PMP/PCP server: one UDP socket per LAN address on port 5351 carrying
 * both protocols (the version byte tells them apart, see core.ts), replies from the address that was
 * asked, announcements multicast from each LAN address, and the WAN address followed by an address
 * monitor (net/address-watch.ts) with a poll as fallback. Requests from outside the LAN subnets are ignored
 * without an answer (never a reflector for the internet).
 */
import { createSocket, type Socket, type RemoteInfo } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import type { CancelTimer } from '../clock/clock.ts';
import { ConegateError } from '../errors.ts';
import { cidrContains, parseCidr, parseIPv4, type Cidr } from '../net/ip.ts';
import { PMP_SERVER_PORT } from '../pmp/codec.ts';
import { PmpCore, type CoreDeps, type CoreOptions } from './core.ts';
import type { Announcement } from './announce.ts';
import { V6Announcer, linkLocalBinder, type BindV6 } from './announce6.ts';
import { MonitorWatch, type AddressWatch } from '../net/address-watch.ts';

export interface LanAddress {
  address: string;
  prefixLen: number;
  ifname?: string;
}

export interface PmpServerOptions extends CoreOptions {
  lan: LanAddress[];
  /** @default 5351 */
  port?: number;
  /** How often the WAN address is re-read. @default 5000 */
  wanCheckMs?: number;
  /** Interface data for finding IPv6 link-local addresses (tests inject it). @default os.networkInterfaces */
  interfaces?: () => ReturnType<typeof networkInterfaces>;
}

export interface PmpServerDeps extends Omit<CoreDeps, 'announce'> {
  /** The current public IPv4 address, or undefined while there is none. */
  wan: () => string | undefined;
  /** Binds the IPv6 announcement socket of a LAN interface (tests inject failures). @default link-local bind */
  bindV6?: BindV6;
  /** Tells when addresses may have changed (tests inject one). @default `ip -o monitor address` / `route -n monitor` */
  watch?: AddressWatch;
}

interface Binding {
  lan: LanAddress;
  subnet: Cidr;
  socket: Socket;
  seen: Map<string, boolean>;
}

function literalLookup(address: string, _family: unknown, cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  cb(null, address, 4);
}

export class PmpServer {
  readonly core: PmpCore;
  private bindings: Binding[] = [];
  /** Per LAN interface, a socket on its IPv6 link-local address, for PCP ANNOUNCE to ff02::1 only. */
  private readonly v6: V6Announcer;
  private readonly watch: AddressWatch;
  private wanTimer: CancelTimer | undefined;
  private running = false;
  /** Packets from outside the LAN subnets, ignored. */
  ignored = 0;

  constructor(
    private readonly options: PmpServerOptions,
    private readonly deps: PmpServerDeps,
  ) {
    if (options.lan.length === 0) throw new ConegateError('CG_CONFIG_INVALID', 'pmp: no LAN address to listen on (set --lan or pmp.lan)');
    const announceIpv6 = options.announceIpv6 ?? options.lan.some((l) => l.ifname !== undefined);
    this.core = new PmpCore({ ...options, announceIpv6 }, { ...deps, announce: (a, p) => this.sendAnnouncement(a, p) }, deps.wan());
    const v6Ifs = announceIpv6 ? [...new Set(options.lan.flatMap((l) => (l.ifname ? [l.ifname] : [])))] : [];
    this.v6 = new V6Announcer(v6Ifs, () => this.port(), { ...deps, bind: deps.bindV6 ?? linkLocalBinder(deps.log, options.interfaces) });
    this.watch = deps.watch ?? new MonitorWatch(deps);
  }

  /** Binds every LAN address, then starts the core (state recovery, announcements). Idempotent. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (const lan of this.options.lan) this.bindings.push(await this.bind(lan));
      this.v6.start();
      // The interface list read at construction may have missed a WAN that just came up.
      if (this.core.wanAddress() === undefined) await this.core.setExternalAddress(this.deps.wan());
      await this.core.start();
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.watch.start(() => void this.checkWan());
    this.pollWan();
    this.deps.log.info({ lan: this.options.lan.map((l) => `${l.address}:${this.port()}`), wan: this.deps.wan() ?? null, backend: this.deps.backend.name }, 'pmpd: serving NAT-PMP and PCP');
  }

  /** Closes the sockets and stops the core (state saved as clean). Idempotent. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wanTimer?.();
    this.wanTimer = undefined;
    this.watch.stop();
    await this.core.stop();
    await this.v6.stop();
    await Promise.all(this.bindings.map((b) => new Promise<void>((r) => b.socket.close(() => r()))));
    this.bindings = [];
  }

  /** The bound port (useful when tests ask for port 0). */
  port(): number {
    return this.bindings[0]?.socket.address().port ?? this.options.port ?? PMP_SERVER_PORT;
  }

  private bind(lan: LanAddress): Promise<Binding> {
    const subnet = parseCidr(`${lan.address}/${lan.prefixLen}`, { loose: true });
    if (!subnet || subnet.family !== 4) return Promise.reject(new ConegateError('CG_CONFIG_INVALID', `pmp: LAN address ${lan.address}/${lan.prefixLen} is not IPv4`));
    // Answers always go to IPv4 literals: skip the per-send DNS lookup (a nextTick and a parse each).
    const socket = createSocket({ type: 'udp4', reuseAddr: false, lookup: literalLookup });
    const binding: Binding = { lan, subnet, socket, seen: new Map() };
    socket.on('message', (msg, rinfo) => this.onMessage(binding, msg, rinfo));
    // Also receives send failures (answers are sent without a callback, which costs less per packet).
    socket.on('error', (err) => this.deps.log.warn({ err, address: lan.address }, 'pmpd: socket error'));
    return new Promise((resolve, reject) => {
      socket.once('error', (err: NodeJS.ErrnoException) => {
        const code = err.code === 'EACCES' ? 'CG_NOT_PERMITTED' : err.code === 'EADDRINUSE' ? 'CG_BUSY' : 'CG_NETWORK';
        reject(new ConegateError(code, `pmp: cannot listen on ${lan.address}:${this.options.port ?? PMP_SERVER_PORT}: ${err.message}`, { cause: err }));
      });
      socket.bind({ address: lan.address, port: this.options.port ?? PMP_SERVER_PORT, exclusive: true }, () => {
        try {
          socket.setMulticastTTL(1);
          socket.setMulticastInterface(lan.address);
          socket.setMulticastLoopback(false);
        } catch (err) {
          this.deps.log.warn({ err }, 'pmpd: cannot set multicast options; announcements may not go out');
        }
        resolve(binding);
      });
    });
  }

  private onMessage(b: Binding, msg: Buffer, rinfo: RemoteInfo, wanRechecked = false): void {
    if (!this.isLan(b, rinfo.address)) {
      this.ignored++;
      this.deps.log.debug({ from: `${rinfo.address}:${rinfo.port}`, lan: b.lan.address }, 'pmpd: request from outside the LAN ignored');
      return;
    }
    const packet = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
    const src = { address: rinfo.address, port: rinfo.port };
    // No WAN address yet: look again now rather than answer NETWORK_FAILURE until the next poll.
    if (!wanRechecked && this.core.wanAddress() === undefined && this.deps.wan() !== undefined) {
      void this.checkWan().then(() => this.onMessage(b, msg, rinfo, true));
      return;
    }
    // Public-address requests are answered synchronously: no promise, no queue (the common case).
    const now = this.core.answerNow(packet, src);
    if (now !== false) {
      if (now) b.socket.send(now, rinfo.port, rinfo.address);
      return;
    }
    this.core.handle(packet, src).then(
      (out) => {
        if (out && this.running) b.socket.send(out, rinfo.port, rinfo.address);
      },
      (err: unknown) => this.deps.log.error({ err, from: rinfo.address }, 'pmpd: request handling failed'),
    );
  }

  /** Source address inside the binding's subnet; answers are cached (bounded) since clients repeat. */
  private isLan(b: Binding, address: string): boolean {
    let ok = b.seen.get(address);
    if (ok === undefined) {
      const ip = parseIPv4(address);
      ok = ip !== undefined && cidrContains(b.subnet, ip);
      if (b.seen.size >= 4096) b.seen.clear();
      b.seen.set(address, ok);
    }
    return ok;
  }

  private sendAnnouncement(a: Announcement, packet: Uint8Array): void {
    if (a.group.includes(':')) {
      this.v6.send(packet, a.port, a.group);
      return;
    }
    for (const b of this.bindings) {
      b.socket.send(packet, a.port, a.group, (err) => err && this.deps.log.warn({ err, group: a.group, lan: b.lan.address }, 'pmpd: announcement not sent'));
    }
    this.deps.log.debug({ protocol: a.protocol, group: a.group }, 'pmpd: announcement sent');
  }

  /** Re-reads the WAN address; the core announces a new one and starts a new epoch on a change. */
  private checkWan(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return this.core.setExternalAddress(this.deps.wan());
  }

  /** The fallback when the address monitor cannot run. */
  private pollWan(): void {
    if (!this.running) return;
    this.wanTimer = this.deps.clock.setTimer(this.options.wanCheckMs ?? 5000, () => {
      this.wanTimer = undefined;
      void this.checkWan().finally(() => this.pollWan());
    });
  }
}
