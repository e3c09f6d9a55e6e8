/**
 * The demo's last stage, "the mesh": the real coordinator (`conegate coord serve`, self-signed and
 * pinned, with a relay map) and STUN on s1, `conegate relay serve` (region "lab", admission by the
 * coordinator) on s2; `conegate up` on each site's ROUTER, which is the mesh node and the subnet router
 * for its LAN (--advertise-routes its LAN, approved with `coord routes approve`, --accept-routes). The
 * LAN hosts a.h1 and b.h1 run no mesh software. The stage follows each router's path to the other over
 * time, as `conegate status --json` says it (relayed first, then direct, or the reason it stays
 * relayed), then sends LAN-to-LAN traffic: ping and a 2 s iperf3 from a.h1 to b.h1.
 */
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { isConegateError } from '../../agent/src/errors.ts';
import type { Lab } from './lab.ts';
import type { LabProcess } from './proc.ts';

/** Lab nodes that run `conegate up`: each site's router. */
export const MESH_NODES = ['a.router', 'b.router'] as const;
const LAN_FROM = 'a.h1';
const LAN_TO = 'b.h1';
// Off the reflectors' ports (3478/3479 on s1 and s2).
const STUN_PORT = 3490;
const COORD_PORT = 8443;
const RELAY_PORT = 443;
export const RELAY_REGION = 'lab';
const MESH_PORT = 41641;
/** How long the stage follows the paths before it reports what it has (bounded demo). */
const FOLLOW_MS = 45_000;
/** Bound on the 2 s iperf3 run: a stalled stream is reported, not waited for. */
const TCP_LIMIT_MS = 20_000;

/** One change of a peer's path as status showed it, seconds after both agents were up. */
export interface PathStep {
  atSec: number;
  kind: string;
  endpoint: string | null;
  region: string | null;
  reason: string | null;
  /** Status said the direct path came from a birthday attempt (birthday.last.ok, extra socket). */
  viaBirthday: boolean;
}

export interface MeshPeerView {
  name: string;
  timeline: PathStep[];
  /** One line from the timeline: relayed, then direct (endpoint, time), or why it stays relayed. */
  summary: string;
  /** The path engine's candidates for the peer at the end (status --json). */
  candidates: unknown[];
  /** birthday.attempts from status at the end (0 when status shows none). */
  birthdayAttempts: number;
  lastHandshake: string | null;
  rxBytes: number;
  txBytes: number;
}

export interface MeshNodeReport {
  node: string;
  name: string | null;
  meshAddr: string | null;
  advertised: string[];
  peers: MeshPeerView[];
}

export interface LanTraffic {
  from: string;
  to: string;
  toAddr: string;
  ping: { sent: number; received: number };
  tcp: { ok: boolean; bytes: number; mbps: number; error: string | null };
}

export interface MeshStageReport {
  title: string;
  coordinator: { url: string; fingerprint: string };
  relay: { url: string; region: string };
  stun: string;
  nodes: MeshNodeReport[];
  lan: LanTraffic | null;
  /** Set when the stage could not run to its end (a process failed or a bounded wait ran out). */
  error: string | null;
}

/** The part of `conegate status --json` the stage reads. */
export interface StatusPathView {
  kind: string;
  endpoint: string | null;
  region: string | null;
  socket: number | null;
  reason: { code: string; text: string } | null;
  birthday: { attempts: number; last?: { ok: boolean; ms: number } } | null;
}
export interface StatusPeer {
  name: string;
  lastHandshake: string | null;
  rxBytes: number;
  txBytes: number;
  path: StatusPathView | null;
}
interface StatusJson {
  mesh: { self: { id: string; name: string | null; addresses: string[] }; peers: StatusPeer[] } | null;
}

const v4Of = (addrs: string[]) => addrs.find((a) => !a.includes(':'))?.split('/')[0] ?? null;
const nameOf = (node: string) => node.replace('.', '-');

/** The step status shows now; a new one only when kind, endpoint, region or reason changed (pure). */
export function nextStep(timeline: PathStep[], view: StatusPathView | null, atSec: number): PathStep | undefined {
  const v = view ?? { kind: 'none', endpoint: null, region: null, socket: null, reason: null, birthday: null };
  const step: PathStep = {
    atSec,
    kind: v.kind,
    endpoint: v.endpoint,
    region: v.region,
    reason: v.kind === 'direct' ? null : (v.reason?.code ?? null),
    viaBirthday: v.kind === 'direct' && v.birthday?.last?.ok === true && (v.socket ?? 0) !== 0,
  };
  const last = timeline[timeline.length - 1];
  if (last && last.kind === step.kind && last.endpoint === step.endpoint && last.region === step.region && last.reason === step.reason) return undefined;
  return step;
}

const where = (s: PathStep) => (s.kind === 'tcp-relay' ? `tcp-relay, region ${s.region}` : `${s.kind} ${s.endpoint ?? ''}`.trim());

const v4Num = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);

/**
 * Whether a "direct" endpoint's address is one the mesh itself routes (a node's mesh address or an
 * advertised LAN): packets to it go into the tunnel, so such a path is not a direct one (pure).
 */
export function insideMesh(endpoint: string | null, meshAddrs: string[], routed: string[]): boolean {
  const host = endpoint?.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (!host || host.includes(':')) return false;
  if (meshAddrs.includes(host)) return true;
  return routed.some((cidr) => {
    const [net, len] = cidr.split('/');
    const bits = Number(len);
    if (!net || net.includes(':') || !(bits >= 0 && bits <= 32)) return false;
    const mask = bits === 0 ? 0 : 2 ** 32 - 2 ** (32 - bits);
    return (v4Num(host) & mask) >>> 0 === (v4Num(net) & mask) >>> 0;
  });
}

/**
 * Says the timeline as observed, in order (pure): never a path status did not show. Consecutive steps
 * of one kind are one segment (a relay's reason may change within it); a long story keeps its ends.
 */
export function summarize(timeline: PathStep[], reasonText?: string | null, inMesh: (endpoint: string | null) => boolean = () => false): string {
  if (!timeline.length) return 'status showed no path';
  const segs: PathStep[][] = [];
  for (const s of timeline) {
    const cur = segs[segs.length - 1];
    const same = cur && cur[0]!.kind === s.kind && (s.kind !== 'direct' || cur[0]!.endpoint === s.endpoint);
    if (same) cur.push(s);
    else segs.push([s]);
  }
  const say = (seg: PathStep[], i: number): string => {
    const s = seg[0]!;
    const prev = segs[i - 1]?.[0];
    if (s.kind === 'direct') {
      const took = prev && prev.kind !== 'direct' ? `, ${(s.atSec - prev.atSec).toFixed(1)} s after the ${prev.kind === 'none' ? 'start' : 'relay'}` : '';
      const fake = inMesh(s.endpoint) ? ` (NOT REALLY DIRECT: ${s.endpoint} is an address the mesh itself routes, so these packets go through the tunnel)` : '';
      return `DIRECT to ${s.endpoint} at ${s.atSec.toFixed(1)} s${took}${s.viaBirthday ? ' via birthday' : ''}${fake}`;
    }
    const what = s.kind === 'none' ? 'no path' : `${i > 0 ? 'back ' : ''}relayed (${where(s)})`;
    const last = i === segs.length - 1 ? seg[seg.length - 1]! : undefined;
    const why = last?.reason ? `, stays relayed (reason ${last.reason}${reasonText ? `: ${reasonText}` : ''})` : '';
    return `${what} at ${s.atSec.toFixed(1)} s${why}`;
  };
  const parts = segs.map(say);
  const shown = parts.length > 5 ? [...parts.slice(0, 2), `(${parts.length - 4} more changes)`, ...parts.slice(-2)] : parts;
  return shown.join(', then ');
}

class MeshRun {
  readonly configs = new Map<string, string>();
  readonly procs: LabProcess[] = [];
  constructor(private readonly lab: Lab) {}

  get dir(): string {
    return join(this.lab.workDir, 'mesh');
  }

  async status(node: string): Promise<StatusJson> {
    const r = await this.lab.execConegate(node, ['status', '--json', '--config', this.configs.get(node)!], { timeoutMs: 20_000 });
    if (r.code !== 0) throw new Error(`conegate status on ${node}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as StatusJson;
  }

  private spawn(node: string, args: string[], description: string): LabProcess {
    const p = this.lab.spawnConegate(node, args, { env: { CONEGATE_CONFIG: '' }, description, stopTimeoutMs: 5_000 });
    this.procs.push(p);
    return p;
  }

  /** The relay's certificate first (kept in its state dir), for the relay map; then coordinator and relay. */
  async startServers(stun: string): Promise<{ url: string; fingerprint: string; authKey: string; admin: string; relayUrl: string }> {
    const [s1, s2] = [this.lab.addr('s1'), this.lab.addr('s2')];
    const stunProc = this.spawn('s1', ['stun', 'serve', '--listen', stun], 'conegate stun serve');
    await stunProc.waitForOutput(/listening on/, 30_000, 'stdout');
    const relayUrl = `https://${s2}:${RELAY_PORT}`;
    const relayState = join(this.dir, 'relay');
    writeFileSync(join(this.dir, 'allow-none'), '');
    const first = this.spawn('s2', ['relay', 'serve', '--listen', `${s2}:${RELAY_PORT}`, '--self-signed', '--state-dir', relayState, '--region', RELAY_REGION, '--admission-allow-file', join(this.dir, 'allow-none'), '--json'], 'conegate relay serve (certificate)');
    const relayFp = (await first.waitForOutput(/"fingerprint": "([0-9a-f]{64})"/, 30_000, 'stdout'))[1]!;
    await first.stop();
    writeFileSync(join(this.dir, 'relays.json'), JSON.stringify({ regions: [{ id: RELAY_REGION, name: RELAY_REGION, nodes: [{ url: relayUrl, certSha256: relayFp }] }] }));
    const admin = join(this.dir, 'coord-admin.sock');
    const secret = join(this.dir, 'relay-secret');
    const coord = this.spawn('s1', ['coord', 'serve', '--listen', `${s1}:${COORD_PORT}`, '--db', join(this.dir, 'coord-db'), '--self-signed', '--admin-socket', admin, '--relay-map', join(this.dir, 'relays.json'), '--relay-secret-file', secret, '--json'], 'conegate coord serve');
    const fingerprint = (await coord.waitForOutput(/"fingerprint": "([0-9a-f]{64})"/, 30_000, 'stdout'))[1]!;
    const url = `https://${s1}:${COORD_PORT}`;
    const relay = this.spawn('s2', ['relay', 'serve', '--listen', `${s2}:${RELAY_PORT}`, '--self-signed', '--state-dir', relayState, '--region', RELAY_REGION, '--coordinator', url, '--coordinator-fingerprint', fingerprint, '--coordinator-secret-file', secret, '--json'], 'conegate relay serve');
    await relay.waitForOutput(/"fingerprint"/, 30_000, 'stdout');
    const key = await this.lab.execConegate('s1', ['coord', 'authkey', 'create', '--reusable', '--json', '--admin-socket', admin], { env: { CONEGATE_CONFIG: '' }, timeoutMs: 20_000, check: true });
    return { url, fingerprint, admin, relayUrl, authKey: (JSON.parse(key.stdout) as { secret: string }).secret };
  }

  lanOf(router: string): string {
    const lan = this.lab.node(router).lan!;
    return `${lan.v4!.replace(/\.\d+$/, '.0')}/${lan.v4Prefix ?? 24}`;
  }

  /** The router admits WireGuard on its WAN and the mesh interface into its LAN, as its admin would. */
  async startRouter(node: string, coord: { url: string; fingerprint: string; authKey: string }, stun: string): Promise<LabProcess> {
    const ifname = this.lab.uniqueIfname('m');
    await this.lab.allowRouterInput(node, 'udp', MESH_PORT);
    await this.lab.exec(node, ['nft', 'insert', 'rule', 'inet', 'lab', 'forward', 'iifname', ifname, 'accept'], { check: true });
    const path = join(this.dir, `${node}.json`);
    const config = {
      wg: { interface: ifname, listenPort: MESH_PORT },
      portmap: { enabled: false },
      netcheck: { stunServers: [stun] },
      mesh: { enabled: true, coordinator: coord.url, coordinatorFingerprint: coord.fingerprint, hostname: nameOf(node), stateDir: join(this.dir, node), advertiseRoutes: [this.lanOf(node)], acceptRoutes: true },
    };
    writeFileSync(path, JSON.stringify(config));
    this.configs.set(node, path);
    return this.spawn(node, ['up', '--foreground', '--config', path, '--auth-key', coord.authKey], `conegate up on ${node}`);
  }

  async approve(node: string, admin: string): Promise<void> {
    const id = (await this.status(node)).mesh!.self.id;
    await this.lab.execConegate('s1', ['coord', 'routes', 'approve', id, this.lanOf(node), '--admin-socket', admin], { env: { CONEGATE_CONFIG: '' }, timeoutMs: 20_000, check: true });
  }

  async ping(count: number): Promise<{ sent: number; received: number }> {
    const r = await this.lab.exec(LAN_FROM, ['ping', '-n', '-q', '-c', String(count), '-i', '0.2', '-W', '1', '-w', String(count), this.lab.addr(LAN_TO)], { timeoutMs: (count + 5) * 1000 }).catch(() => undefined);
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r?.stdout ?? '');
    return { sent: m ? Number(m[1]) : 0, received: m ? Number(m[2]) : 0 };
  }

  /** `iperf3 -t 2` from a.h1 to b.h1 (server one-shot on b.h1). */
  async tcp(): Promise<LanTraffic['tcp']> {
    const to = this.lab.addr(LAN_TO);
    const srv = this.lab.spawn(LAN_TO, ['iperf3', '-s', '-1', '-B', to, '--forceflush'], { description: 'iperf3 server on b.h1' });
    try {
      await srv.waitForOutput(/listening/, 10_000);
      const r = await this.lab.exec(LAN_FROM, ['iperf3', '-c', to, '-t', '2', '-J', '--connect-timeout', '5000'], { timeoutMs: TCP_LIMIT_MS });
      const j = JSON.parse(r.stdout || '{}') as { error?: string; end?: { sum_received?: { bytes: number; bits_per_second: number } } };
      const bytes = j.end?.sum_received?.bytes ?? 0;
      return { ok: r.code === 0 && bytes > 0, bytes, mbps: (j.end?.sum_received?.bits_per_second ?? 0) / 1e6, error: j.error ?? (r.code === 0 ? null : r.code === null ? `iperf3 did not finish within ${TCP_LIMIT_MS / 1000} s (the stream stalled)` : `iperf3 exit ${r.code}`) };
    } finally {
      await srv.stop();
    }
  }

  /**
   * Follows every router's path to the other until all are direct or FOLLOW_MS passes, with a.h1
   * pinging b.h1 meanwhile (the engine probes only while the tunnel is in use).
   */
  async follow(t0: number): Promise<Map<string, { timeline: PathStep[]; last: StatusPeer | undefined }>> {
    const seen = new Map<string, { timeline: PathStep[]; last: StatusPeer | undefined }>(MESH_NODES.map((n) => [n, { timeline: [], last: undefined }]));
    const end = Date.now() + FOLLOW_MS;
    while (Date.now() < end) {
      const traffic = this.ping(1);
      for (const n of MESH_NODES) {
        const other = MESH_NODES.find((x) => x !== n)!;
        const peer = (await this.status(n).catch(() => undefined))?.mesh?.peers.find((p) => p.name === nameOf(other));
        if (!peer) continue;
        const s = seen.get(n)!;
        s.last = peer;
        const step = nextStep(s.timeline, peer.path, (Date.now() - t0) / 1000);
        if (step) s.timeline.push(step);
      }
      await traffic;
      if ([...seen.values()].every((s) => s.last?.path?.kind === 'direct')) break;
    }
    return seen;
  }
}

/** Runs the mesh stage on a built demo lab (servers s1, s2; sites a and b with router and host h1). */
export async function runMeshStage(lab: Lab): Promise<MeshStageReport> {
  const run = new MeshRun(lab);
  const stun = `${lab.addr('s1')}:${STUN_PORT}`;
  const title = `the mesh: coord serve + STUN on s1, relay serve (region ${RELAY_REGION}) on s2, conegate up on ${MESH_NODES.join(' and ')} (subnet routers for their LANs)`;
  const report: MeshStageReport = { title, coordinator: { url: '', fingerprint: '' }, relay: { url: '', region: RELAY_REGION }, stun, nodes: [], lan: null, error: null };
  try {
    mkdirSync(run.dir, { recursive: true, mode: 0o700 });
    const coord = await run.startServers(stun);
    report.coordinator = { url: coord.url, fingerprint: coord.fingerprint };
    report.relay.url = coord.relayUrl;
    const agents = [];
    for (const n of MESH_NODES) agents.push(await run.startRouter(n, coord, stun));
    await Promise.all(agents.map((p) => p.waitForOutput(/agent: up/, 45_000, 'stderr')));
    const t0 = Date.now();
    // Followed from the start: the relayed phase can be short once discovery finds a path.
    const following = run.follow(t0);
    for (const n of MESH_NODES) await run.approve(n, coord.admin);
    const seen = await following;
    const finals = new Map<string, StatusJson>();
    for (const n of MESH_NODES) finals.set(n, await run.status(n));
    const meshAddrs = [...finals.values()].map((st) => v4Of(st.mesh?.self.addresses ?? [])).filter((a): a is string => !!a);
    const inMesh = (ep: string | null) => insideMesh(ep, meshAddrs, MESH_NODES.map((n) => run.lanOf(n)));
    for (const n of MESH_NODES) {
      const st = finals.get(n)!;
      const s = seen.get(n)!;
      const other = nameOf(MESH_NODES.find((x) => x !== n)!);
      const p = st.mesh?.peers.find((x) => x.name === other) ?? s.last;
      report.nodes.push({
        node: n,
        name: st.mesh?.self.name ?? null,
        meshAddr: v4Of(st.mesh?.self.addresses ?? []),
        advertised: [run.lanOf(n)],
        peers: p ? [{ name: p.name, timeline: s.timeline, summary: summarize(s.timeline, p.path?.reason?.text, inMesh), candidates: (p.path as { candidates?: unknown[] } | null)?.candidates ?? [], birthdayAttempts: p.path?.birthday?.attempts ?? 0, lastHandshake: p.lastHandshake, rxBytes: p.rxBytes, txBytes: p.txBytes }] : [],
      });
    }
    report.lan = { from: LAN_FROM, to: LAN_TO, toAddr: lab.addr(LAN_TO), ping: await run.ping(5), tcp: await run.tcp() };
  } catch (err) {
    // The lab torn down under us (Ctrl-C) is no result to report: let it end the demo.
    if (isConegateError(err) && err.code === 'CG_USAGE') throw err;
    report.error = (err as Error).message.split('\n')[0]!;
  } finally {
    for (const p of run.procs.reverse()) await p.stop();
  }
  return report;
}

export function printMeshStage(m: MeshStageReport, n: number, print: (line: string) => void): void {
  print('');
  print(`Stage ${n}: ${m.title}`);
  print(`  coordinator ${m.coordinator.url || '-'} (self-signed; agents pin sha256 ${m.coordinator.fingerprint ? `${m.coordinator.fingerprint.slice(0, 16)}...` : '-'}), STUN ${m.stun}, relay ${m.relay.url || '-'} region ${m.relay.region}`);
  print('  shown after stage 2. `nat apply --sources <LAN>` maps the LAN hosts\' traffic; the mesh nodes here are the routers');
  print('  themselves, whose WireGuard sockets use their own WAN addresses (port 41641 admitted on each router\'s WAN)');
  for (const node of m.nodes) {
    print(`  ${node.node} (${node.name ?? '-'}, mesh ${node.meshAddr ?? '-'}, advertises ${node.advertised.join(', ')} approved by coord routes approve)`);
    for (const p of node.peers) {
      print(`    path to ${p.name}, from conegate status --json (seconds after both agents were up):`);
      for (const s of p.timeline) print(`      ${s.atSec.toFixed(1).padStart(5)} s  ${where(s)}${s.reason ? ` (${s.reason})` : ''}${s.viaBirthday ? ' via birthday' : ''}`);
      print(`      => ${p.summary}`);
      print(`      birthday attempts (status): ${p.birthdayAttempts}`);
    }
  }
  const l = m.lan;
  if (l) {
    print(`  LAN to LAN (${l.from} and ${l.to} run no mesh software):`);
    print(`    ping ${l.from} -> ${l.to} ${l.toAddr}: ${l.ping.received}/${l.ping.sent} replies ${l.ping.received > 0 ? 'WORKS' : 'FAILS'}`);
    print(`    iperf3 -t 2 ${l.from} -> ${l.to}: ${l.tcp.ok ? `WORKS, ${l.tcp.bytes} bytes, ${l.tcp.mbps.toFixed(0)} Mbit/s (shared machine, noisy)` : `FAILS${l.tcp.error ? `: ${l.tcp.error}` : ''}`}`);
  }
  if (m.error) print(`  stage incomplete: ${m.error}`);
}
