/**
 * Real miniupnpd (Debian `miniupnpd-nftables`) as the upstream router of a lab site, with coturn
 * (`turnserver`) on a lab internet server for the STUN check miniupnpd needs before it will forward
 * ports to a documentation-range WAN address. Facts this relies on (checked with miniupnpd 2.3.1):
 * - its nftables chains must exist beforehand (Debian's nft init script is broken);
 * - STUN must see RFC 5780 support (coturn with two listening addresses) or miniupnpd decides the
 *   upstream NAT is restrictive and disables port forwarding;
 * - NAT-PMP/PCP listen only after STUN is done, so readiness is probed, not assumed;
 * - as a daemon it forks: its PID comes from the per-run pid file and is ended by PID.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Lab, } from '../lab/lab.ts';
import { recordPid, type LabProcess } from '../lab/proc.ts';
import { requirePeers as requireTools } from '../lab/require-peers.ts';

/** The peers a miniupnpd lab needs; a missing one fails (never skips) with the package to install. */
export function requirePeers(): void {
  requireTools({ miniupnpd: 'miniupnpd-nftables', turnserver: 'coturn', nft: 'nftables' });
}

const CHAINS = `table inet filter {
  chain miniupnpd {
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    jump miniupnpd
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
  }
}
`;

export class Miniupnpd {
  readonly dir: string;
  pid: number | undefined;
  starts = 0;
  private turn: LabProcess | undefined;

  constructor(
    private readonly lab: Lab,
    private readonly router: string,
    private readonly stunServer: string,
  ) {
    this.dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'miniupnpd-'));
  }

  get leaseFile(): string {
    return join(this.dir, 'leases');
  }

  /** coturn on the STUN server with both of its addresses (RFC 5780), then the chains, then the daemon. */
  async setup(): Promise<void> {
    const s = this.stunServer;
    this.turn = this.lab.spawn(s, [
      'turnserver', '--stun-only', '--no-cli', '-n', '--no-stdout-log', '--simple-log', '--log-file', join(this.dir, 'turn.log'),
      '--listening-ip', this.lab.addr(s), '--listening-ip', this.lab.addr(s, { alt: true }), '--listening-port', '3478',
      '--pidfile', join(this.dir, 'turn.pid'),
    ]);
    // miniupnpd's STUN check tests the router's own filtering with answers from the server's other
    // address and port; a router that drops them makes miniupnpd refuse every mapping (NO_RESOURCES).
    await this.lab.allowRouterInputFrom(this.router, this.lab.addr(s));
    await this.lab.allowRouterInputFrom(this.router, this.lab.addr(s, { alt: true }));
    await this.lab.nftApply(this.router, CHAINS);
    const r = this.lab.node(this.router);
    writeFileSync(
      join(this.dir, 'miniupnpd.conf'),
      [
        `ext_ifname=${r.wan!.name}`,
        `listening_ip=${r.lan!.name}`,
        // A new HTTP port on every start, as after a real reboot: clients must rediscover the control URL.
        'http_port=0',
        'enable_natpmp=yes',
        'enable_upnp=yes',
        'secure_mode=yes',
        // Daemon uptime as the epoch, so a restart resets it (system_uptime=yes reports a bogus epoch).
        'system_uptime=no',
        `lease_file=${this.leaseFile}`,
        'ext_perform_stun=yes',
        `ext_stun_host=${this.lab.addr(s)}`,
        'ext_stun_port=3478',
        'min_lifetime=120',
        'max_lifetime=86400',
        'uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b',
        `allow 1024-65535 ${r.lan!.v4}/${r.lan!.v4Prefix} 1024-65535`,
        'deny 0-65535 0.0.0.0/0 0-65535',
        '',
      ].join('\n'),
    );
  }

  async start(): Promise<void> {
    const pidFile = join(this.dir, 'miniupnpd.pid');
    rmSync(pidFile, { force: true });
    const r = await this.lab.exec(this.router, ['miniupnpd', '-f', join(this.dir, 'miniupnpd.conf'), '-P', pidFile], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`miniupnpd did not start: ${r.stderr}`);
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((res) => setTimeout(res, 20));
    this.pid = Number(readFileSync(pidFile, 'utf8').trim());
    recordPid(this.pid, `miniupnpd (${this.router})`);
    this.starts++;
  }

  /** SIGTERM by PID and wait (bounded) until it is gone; SIGKILL if it lingers. */
  async stop(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    this.pid = undefined;
    const alive = (): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    for (let i = 0; i < 150 && alive(); i++) await new Promise((res) => setTimeout(res, 20));
    if (alive()) process.kill(pid, 'SIGKILL');
  }

  /** A router reboot: daemon gone, its rules and lease file lost, a fresh daemon with a new epoch. */
  async reboot(): Promise<void> {
    await this.stop();
    rmSync(this.leaseFile, { force: true });
    await this.lab.exec(this.router, ['nft', 'flush chain inet filter miniupnpd; flush chain inet filter prerouting_miniupnpd; flush chain inet filter postrouting_miniupnpd'], { check: true });
    await this.start();
  }

  /** The miniupnpd dnat rules currently loaded, as "port->addr:port" strings. */
  async dnatRules(): Promise<string[]> {
    const r = await this.lab.exec(this.router, ['nft', 'list', 'chain', 'inet', 'filter', 'prerouting_miniupnpd'], { check: true });
    return [...r.stdout.matchAll(/dport (\d+) dnat ip to ([\d.]+:\d+)/g)].map((m) => `${m[1]}->${m[2]}`);
  }

  async teardown(): Promise<void> {
    await this.stop();
    await this.turn?.stop();
  }
}
