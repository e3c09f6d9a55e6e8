/**
 * The lab side of the mesh and relay benches: a netns lab with the mesh servers (STUN and the
 * coordinator on s1, `conegate relay serve` on s2, from test/lab/mesh-servers.ts), `conegate up` on
 * chosen nodes (the bundle, as shipped), the path each node's status shows for a peer, UDP between two
 * sites taken away (TCP relay only), iperf3 runs, and CPU time / RSS of any process by PID.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, type Lab } from '../test/lab/lab.ts';
import type { LabSpec } from '../test/lab/spec.ts';
import type { LabProcess } from '../test/lab/proc.ts';
import { startMeshServers } from '../test/lab/mesh-servers.ts';
import { conegateArgv } from '../test/conegate.ts';
import { cpuSecFromStat, dropUdpText, parseIperf, rssMbFromStatus, type IperfRun } from './mesh-figures.ts';

/** The port every agent's WireGuard socket listens on (admitted on the routers' WAN, as the demo does). */
export const MESH_PORT = 41641;

export const cpuSec = (pid: number): number => cpuSecFromStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
export const rssMb = (pid: number): number => rssMbFromStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));

interface StatusPeer {
  name: string;
  path: { kind: string; endpoint: string | null } | null;
}
interface StatusJson {
  mesh: { self: { id: string; addresses: string[] }; peers: StatusPeer[] } | null;
}

export const meshName = (node: string): string => node.replace('.', '-');

export class MeshBenchLab {
  readonly procs: LabProcess[] = [];
  readonly agents = new Map<string, LabProcess>();
  private readonly configs = new Map<string, string>();
  private servers: { coordFp: string; authKey: string } | undefined;

  private constructor(
    readonly lab: Lab,
    readonly dir: string,
  ) {}

  /** Builds the lab and starts the mesh servers; on failure the lab is destroyed. */
  static async create(spec: LabSpec): Promise<MeshBenchLab> {
    const lab = await createLab(spec);
    try {
      const dir = join(lab.workDir, 'mesh');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const m = new MeshBenchLab(lab, dir);
      m.servers = await startMeshServers(lab, dir, m.procs);
      return m;
    } catch (err) {
      await lab.destroy();
      throw err;
    }
  }

  /** `conegate relay serve` of the mesh servers (startMeshServers names it so). */
  get relayProcess(): LabProcess {
    const p = this.procs.find((x) => x.description === 'conegate relay serve' && !x.exited);
    if (!p) throw new Error('the relay server is not running');
    return p;
  }

  /**
   * Replaces the relay server with one run with Node options (e.g. --cpu-prof), same arguments as
   * startMeshServers gives it (its state dir keeps the certificate the relay map pins).
   */
  async restartRelay(nodeArgs: string[]): Promise<LabProcess> {
    const old = this.relayProcess;
    await old.stop();
    this.procs.splice(this.procs.indexOf(old), 1);
    const [s1, s2] = [this.lab.addr('s1'), this.lab.addr('s2')];
    const args = ['relay', 'serve', '--listen', `${s2}:443`, '--self-signed', '--state-dir', join(this.dir, 'relay'), '--region', 'r1', '--coordinator', `https://${s1}:443`, '--coordinator-fingerprint', this.servers!.coordFp, '--coordinator-secret-file', join(this.dir, 'relay-secret'), '--json'];
    const p = this.lab.spawn('s2', conegateArgv(args, nodeArgs), { description: 'conegate relay serve', stopTimeoutMs: 10_000 });
    this.procs.push(p);
    await p.waitForOutput(/"fingerprint"/, 60_000, 'stdout');
    return p;
  }

  /** The LAN prefix of a site's router. */
  lanOf(router: string): string {
    const lan = this.lab.node(router).lan!;
    return `${lan.v4!.replace(/\.\d+$/, '.0')}/${lan.v4Prefix ?? 24}`;
  }

  /**
   * `conegate up` on a node. A router gets its WAN port admitted and the mesh interface admitted into its
   * LAN (as its admin would: the lab router's forward policy drops) and, with `subnet`, advertises its LAN.
   */
  async startAgent(node: string, opts: { subnet?: boolean; nodeArgs?: string[]; mesh?: Record<string, unknown> } = {}): Promise<LabProcess> {
    const ifname = this.lab.uniqueIfname('m');
    const isRouter = this.lab.node(node).kind === 'router';
    if (isRouter) {
      await this.lab.allowRouterInput(node, 'udp', MESH_PORT);
      await this.lab.exec(node, ['nft', 'insert', 'rule', 'inet', 'lab', 'forward', 'iifname', ifname, 'accept'], { check: true });
    }
    const path = join(this.dir, `${node}.json`);
    const config = {
      wg: { interface: ifname, listenPort: MESH_PORT },
      portmap: { enabled: false },
      netcheck: { stunServers: [`${this.lab.addr('s1')}:3478`] },
      mesh: {
        enabled: true,
        coordinator: `https://${this.lab.addr('s1')}:443`,
        coordinatorFingerprint: this.servers!.coordFp,
        hostname: meshName(node),
        stateDir: join(this.dir, node),
        ...(opts.subnet ? { advertiseRoutes: [this.lanOf(node)], acceptRoutes: true } : {}),
        ...opts.mesh,
      },
    };
    writeFileSync(path, JSON.stringify(config));
    this.configs.set(node, path);
    // nodeArgs (e.g. --cpu-prof): Node options for the agent's process, the bundle as shipped otherwise.
    const argv = conegateArgv(['up', '--foreground', '--config', path, '--auth-key', this.servers!.authKey], opts.nodeArgs ?? []);
    const p = this.lab.spawn(node, argv, { env: { CONEGATE_CONFIG: '' }, description: `conegate up on ${node}`, stopTimeoutMs: 10_000 });
    this.procs.push(p);
    this.agents.set(node, p);
    await p.waitForOutput(/agent: up/, 60_000, 'stderr');
    return p;
  }

  async status(node: string): Promise<StatusJson> {
    const r = await this.lab.execConegate(node, ['status', '--json', '--config', this.configs.get(node)!], { env: { CONEGATE_CONFIG: '' }, timeoutMs: 20_000 });
    if (r.code !== 0) throw new Error(`conegate status on ${node}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as StatusJson;
  }

  async meshAddr(node: string): Promise<string> {
    const a = (await this.status(node)).mesh?.self.addresses.find((x) => !x.includes(':'));
    if (!a) throw new Error(`${node} has no mesh IPv4 address`);
    return a.split('/')[0]!;
  }

  /** `coord routes approve` for a router's LAN. */
  async approveLan(router: string): Promise<void> {
    const id = (await this.status(router)).mesh!.self.id;
    await this.lab.execConegate('s1', ['coord', 'routes', 'approve', id, this.lanOf(router), '--admin-socket', join(this.dir, 'coord-admin.sock')], { env: { CONEGATE_CONFIG: '' }, timeoutMs: 20_000, check: true });
  }

  /**
   * Waits (bounded) until `node`'s status shows the path to `peer` of `kind`, pinging `target` from
   * `pinger` meanwhile (the path engine probes only while the tunnel carries traffic).
   */
  async waitPath(node: string, peer: string, kind: string, pinger: string, target: string, timeoutMs: number): Promise<{ endpoint: string | null; afterMs: number }> {
    const t0 = Date.now();
    let seen = 'none';
    while (Date.now() - t0 < timeoutMs) {
      await this.lab.exec(pinger, ['ping', '-n', '-q', '-c', '1', '-W', '1', target], { timeoutMs: 5000 });
      const p = (await this.status(node).catch(() => undefined))?.mesh?.peers.find((x) => x.name === meshName(peer));
      seen = p?.path?.kind ?? 'none';
      if (seen === kind) return { endpoint: p!.path!.endpoint, afterMs: Date.now() - t0 };
    }
    throw new Error(`${node}'s path to ${peer} is still ${seen}, not ${kind}, after ${timeoutMs / 1000} s`);
  }

  /** Takes UDP between `router` and `peerAddr` away (both ways) until restoreUdp(). */
  async dropUdp(router: string, peerAddr: string): Promise<void> {
    await this.lab.nftApply(router, dropUdpText(peerAddr));
  }

  async restoreUdp(router: string): Promise<void> {
    await this.lab.exec(router, ['nft', 'delete', 'table', 'inet', 'cgbench'], { check: true });
  }

  /**
   * One iperf3 TCP run from `client` to `server` (-R: the server sends), with the CPU seconds each of
   * `watch` spent over it. The server is one-shot and bound to `serverAddr`.
   */
  async iperf(client: string, server: string, serverAddr: string, seconds: number, reverse: boolean, watch: number[]): Promise<IperfRun & { cpuSec: number[]; wallSec: number }> {
    const srv = this.lab.spawn(server, ['iperf3', '-s', '-1', '-B', serverAddr, '--forceflush'], { description: `iperf3 server on ${server}` });
    try {
      await srv.waitForOutput(/listening/, 10_000);
      const before = watch.map(cpuSec);
      const t0 = performance.now();
      const r = await this.lab.exec(client, ['iperf3', '-c', serverAddr, '-t', String(seconds), '-J', '--connect-timeout', '5000', ...(reverse ? ['-R'] : [])], { timeoutMs: (seconds + 30) * 1000 });
      const wallSec = (performance.now() - t0) / 1000;
      const after = watch.map(cpuSec);
      const run = parseIperf(r.stdout || r.stderr);
      return { ...run, cpuSec: after.map((a, i) => a - before[i]!), wallSec };
    } finally {
      await srv.stop();
    }
  }

  async destroy(): Promise<void> {
    for (const p of [...this.procs].reverse()) await p.stop();
    await this.lab.destroy();
  }
}
