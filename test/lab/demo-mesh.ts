/**
 * The demo's last stage, "the mesh": the real coordinator (`conegate coord serve`, self-signed, its
 * fingerprint pinned by the agents, an auth key from `coord authkey create`) on the lab internet, and
 * `conegate up` on each site's host and on a public server. Then what `conegate status --json` says per
 * peer, and ping between the mesh addresses. Hole punching and relays are not built yet: the only
 * packets that may open the NATs are WireGuard handshakes both sides send to the STUN endpoints the map
 * lists, so the stage pings in both directions at once and reports what really happened, per peer.
 */
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { isConegateError } from '../../agent/src/errors.ts';
import { INITIATION_LEN } from '../../agent/src/wg/messages.ts';
import type { Lab } from './lab.ts';
import type { LabProcess } from './proc.ts';

/** Lab nodes that run `conegate up`: one host per site, plus the public server s2 for contrast. */
export const MESH_NODES = ['a.h1', 'b.h1', 's2'] as const;
// Off the reflectors' ports (3478/3479 on s1 and s2).
const STUN_PORT = 3490;
const COORD_PORT = 8443;
// Seconds of ping at 2/s: the one-sided run spans a WireGuard handshake retry (REKEY_TIMEOUT, 5 s).
const PING_SEC = 6;
// The second side of a pair starts this much later: initiations sent at the same moment cross (see
// noPathReason) and, with both pings ticking in step, their retries can cross again.
const SECOND_SIDE_DELAY_MS = 1000;
const ONE_WAY_SEC = 8;

export interface MeshPeerView {
  name: string;
  meshAddr: string | null;
  endpoints: { addr: string; type: string }[];
  currentEndpoint: string | null;
  lastHandshake: string | null;
  rxBytes: number;
  txBytes: number;
  /** 'direct' once a handshake completed and bytes came back; else no path (with why). */
  path: 'direct' | 'none';
  reason: string | null;
}

export interface MeshNodeReport {
  node: string;
  name: string | null;
  meshAddr: string | null;
  peers: MeshPeerView[];
}

export interface MeshPingReport {
  from: string;
  to: string;
  toAddr: string;
  sent: number;
  received: number;
}

/** One side alone sends (the other sends nothing to it): what today's agent gets without coordination. */
export interface OneWayReport extends MeshPingReport {
  lastHandshake: string | null;
}

export interface MeshStageReport {
  title: string;
  oneWay: OneWayReport | null;
  coordinator: { url: string; fingerprint: string };
  stun: string;
  nodes: MeshNodeReport[];
  pings: MeshPingReport[];
  /** Set when the stage could not run to its end (a process failed or a bounded wait ran out). */
  error: string | null;
}

export interface StatusPeer {
  name: string;
  addresses: string[];
  endpoints: { addr: string; type: string }[];
  currentEndpoint: string | null;
  lastHandshake: string | null;
  rxBytes: number;
  txBytes: number;
}
interface StatusJson {
  mesh: { self: { name: string | null; addresses: string[] }; peers: StatusPeer[] } | null;
}

const v4Of = (addrs: string[]) => addrs.find((a) => !a.includes(':'))?.split('/')[0] ?? null;
const nameOf = (node: string) => node.replace('.', '-');

/** Polls `fn` every 250 ms until it returns a value or `timeoutMs` passes (then undefined). */
async function waitFor<T>(fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  return undefined;
}

class MeshRun {
  readonly configs = new Map<string, string>();
  constructor(private readonly lab: Lab) {}

  get dir(): string {
    return join(this.lab.workDir, 'mesh');
  }

  async status(node: string): Promise<StatusJson> {
    const r = await this.lab.execConegate(node, ['status', '--json', '--config', this.configs.get(node)!], { timeoutMs: 20_000 });
    if (r.code !== 0) throw new Error(`conegate status on ${node}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as StatusJson;
  }

  async startCoordinator(): Promise<{ url: string; fingerprint: string; authKey: string }> {
    const s1 = this.lab.addr('s1');
    const admin = join(this.dir, 'coord-admin.sock');
    const coord = this.lab.spawnConegate('s1', ['coord', 'serve', '--listen', `${s1}:${COORD_PORT}`, '--db', join(this.dir, 'coord-db'), '--self-signed', '--admin-socket', admin, '--json'], { env: { CONEGATE_CONFIG: '' }, description: 'conegate coord serve' });
    const fingerprint = (await coord.waitForOutput(/"fingerprint": "([0-9a-f]{64})"/, 30_000, 'stdout'))[1]!;
    const key = await this.lab.execConegate('s1', ['coord', 'authkey', 'create', '--reusable', '--json', '--admin-socket', admin], { env: { CONEGATE_CONFIG: '' }, timeoutMs: 20_000, check: true });
    return { url: `https://${s1}:${COORD_PORT}`, fingerprint, authKey: (JSON.parse(key.stdout) as { secret: string }).secret };
  }

  startAgent(node: string, coord: { url: string; fingerprint: string }, authKey: string, stun: string): LabProcess {
    const path = join(this.dir, `${node}.json`);
    const config = {
      wg: { interface: this.lab.uniqueIfname('m'), listenPort: 41641 },
      portmap: { enabled: false },
      netcheck: { stunServers: [stun] },
      mesh: { enabled: true, coordinator: coord.url, coordinatorFingerprint: coord.fingerprint, hostname: nameOf(node), stateDir: join(this.dir, node) },
    };
    writeFileSync(path, JSON.stringify(config));
    this.configs.set(node, path);
    return this.lab.spawnConegate(node, ['up', '--foreground', '--config', path, '--auth-key', authKey], { description: `conegate up on ${node}`, stopTimeoutMs: 5_000 });
  }

  /** Every node lists the others, each with the STUN endpoint it learned on its mesh socket. */
  async waitForMap(): Promise<boolean> {
    const ok = await waitFor(async () => {
      for (const node of MESH_NODES) {
        const st = await this.status(node);
        const peers = st.mesh?.peers ?? [];
        if (peers.length !== MESH_NODES.length - 1) return undefined;
        if (!peers.every((p) => p.endpoints.some((e) => e.type === 'stun'))) return undefined;
      }
      return true;
    }, 40_000);
    return ok === true;
  }

  /** `ping` in the node's namespace, bounded in count and time; how many replies came back. */
  async ping(from: string, to: string, toAddr: string, seconds = PING_SEC): Promise<MeshPingReport> {
    const r = await this.lab.exec(from, ['ping', '-n', '-q', '-c', String(seconds * 2), '-i', '0.5', '-W', '1', '-w', String(seconds), toAddr], { timeoutMs: (seconds + 5) * 1000 }).catch(() => undefined);
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r?.stdout ?? '');
    return { from, to, toAddr, sent: m ? Number(m[1]) : 0, received: m ? Number(m[2]) : 0 };
  }
}

/**
 * Why a peer has no path, from what status shows, said as observed. Received bytes that are whole
 * handshake initiations (148 B each) and no handshake mean the two sides' initiations crossed: each
 * answered the other's and forgot its own (as WireGuard does), so both wait as responder until a retry.
 */
export function noPathReason(p: StatusPeer, pingOut: MeshPingReport | undefined): string {
  const ep = p.currentEndpoint ?? 'none';
  const next = 'needs hole punching/relay (next)';
  if (p.lastHandshake) return `handshake at ${p.lastHandshake} but ${pingOut ? `${pingOut.received}/${pingOut.sent} pings answered` : 'no ping'}: ${next}`;
  if (p.rxBytes === 0) return `nothing came back from ${ep} (the map's STUN endpoint) while both sides sent: the NATs in the way dropped our handshakes; ${next}`;
  if (p.rxBytes % INITIATION_LEN === 0) return `only the peer's handshake initiations arrived (${p.rxBytes / INITIATION_LEN} x ${INITIATION_LEN} B), no response to ours: the initiations crossed and no retry completed within the run; ${next}`;
  return `packets arrived from ${ep} (rx ${p.rxBytes} B) but no handshake completed within the run; ${next}`;
}

/** Direct only with a completed handshake, bytes back and ping replies; otherwise no path, and why. */
export function peerPath(p: StatusPeer, pingOut: MeshPingReport | undefined): { path: 'direct' | 'none'; reason: string | null } {
  const direct = !!p.lastHandshake && p.rxBytes > 0 && (pingOut?.received ?? 0) > 0;
  return direct ? { path: 'direct', reason: null } : { path: 'none', reason: noPathReason(p, pingOut) };
}

/** Runs the mesh stage on a built demo lab (servers s1, s2; sites a and b with host h1). */
export async function runMeshStage(lab: Lab): Promise<MeshStageReport> {
  const run = new MeshRun(lab);
  const stun = `${lab.addr('s1')}:${STUN_PORT}`;
  const title = `the mesh: conegate coord serve on s1, conegate up on ${MESH_NODES.join(', ')}`;
  const report: MeshStageReport = { title, oneWay: null, coordinator: { url: '', fingerprint: '' }, stun, nodes: [], pings: [], error: null };
  try {
    const stunProc = lab.spawnConegate('s1', ['stun', 'serve', '--listen', stun], { env: { CONEGATE_CONFIG: '' }, description: 'conegate stun serve' });
    await stunProc.waitForOutput(/listening on/, 30_000, 'stdout');
    const coord = await run.startCoordinator();
    report.coordinator = { url: coord.url, fingerprint: coord.fingerprint };
    const agents = MESH_NODES.map((n) => run.startAgent(n, coord, coord.authKey, stun));
    await Promise.all(agents.map((p) => p.waitForOutput(/agent: up/, 45_000, 'stderr')));
    if (!(await run.waitForMap())) report.error = 'not every node listed the others with a STUN endpoint within 40 s';
    const selves = new Map<string, string | null>();
    for (const n of MESH_NODES) selves.set(n, v4Of((await run.status(n)).mesh?.self.addresses ?? []));
    // First one site alone: a.h1 pings b.h1 while b.h1 sends nothing toward a.
    const [from, to] = ['a.h1', 'b.h1'] as const;
    const alone = await run.ping(from, to, selves.get(to) ?? '0.0.0.0', ONE_WAY_SEC);
    const peerOfA = (await run.status(from)).mesh?.peers.find((p) => p.name === nameOf(to));
    report.oneWay = { ...alone, lastHandshake: peerOfA?.lastHandshake ?? null };
    // Both directions of every pair: the only packets that can open the NATs today are the
    // handshakes each side sends to the other's STUN endpoint.
    const pairs = MESH_NODES.flatMap((from) => MESH_NODES.filter((to) => to !== from && selves.get(to)).map((to) => [from, to] as const));
    const second = (from: string, to: string) => MESH_NODES.indexOf(from as never) > MESH_NODES.indexOf(to as never);
    report.pings = await Promise.all(
      pairs.map(async ([from, to]) => {
        if (second(from, to)) await new Promise((r) => setTimeout(r, SECOND_SIDE_DELAY_MS));
        return run.ping(from, to, selves.get(to)!);
      }),
    );
    for (const n of MESH_NODES) {
      const st = await run.status(n);
      report.nodes.push({
        node: n,
        name: st.mesh?.self.name ?? null,
        meshAddr: selves.get(n) ?? null,
        peers: (st.mesh?.peers ?? []).map((p) => {
          const to = MESH_NODES.find((x) => nameOf(x) === p.name);
          const pingOut = report.pings.find((x) => x.from === n && x.to === to);
          return { name: p.name, meshAddr: v4Of(p.addresses), endpoints: p.endpoints, currentEndpoint: p.currentEndpoint, lastHandshake: p.lastHandshake, rxBytes: p.rxBytes, txBytes: p.txBytes, ...peerPath(p, pingOut) };
        }),
      });
    }
  } catch (err) {
    // The lab torn down under us (Ctrl-C) is no result to report: let it end the demo.
    if (isConegateError(err) && err.code === 'CG_USAGE') throw err;
    report.error = (err as Error).message.split('\n')[0]!;
  }
  return report;
}

export function printMeshStage(m: MeshStageReport, n: number, print: (line: string) => void): void {
  print('');
  print(`Stage ${n}: ${m.title}`);
  print(`  coordinator ${m.coordinator.url || '-'} (self-signed; agents pin sha256 ${m.coordinator.fingerprint ? `${m.coordinator.fingerprint.slice(0, 16)}...` : '-'}), auth key from coord authkey create; STUN ${m.stun}`);
  const o = m.oneWay;
  if (o) {
    print(`  one side alone: ping ${o.from} -> ${o.to} ${o.toAddr} while ${o.to} sends nothing to ${o.from}: ${o.received}/${o.sent} replies, handshake ${o.lastHandshake ?? 'never'}`);
    if (o.received === 0) print(`    as measured above, ${o.to}'s NATs filter by address and port: ${o.from}'s handshakes to ${o.to}'s STUN endpoint are dropped until ${o.to} sends to ${o.from} too`);
  }
  print(`  both sides (every pair pings in both directions, the second side ${SECOND_SIDE_DELAY_MS / 1000} s after the first, so its handshake meets the opening the first one made):`);
  for (const p of m.pings) print(`    ping ${p.from} -> ${p.to} ${p.toAddr} (over the mesh): ${p.received}/${p.sent} replies ${p.received > 0 ? 'WORKS' : 'FAILS'}`);
  for (const node of m.nodes) {
    print(`  ${node.node} (${node.name ?? '-'}, mesh ${node.meshAddr ?? '-'}): conegate status --json, after the pings`);
    for (const p of node.peers) {
      const hs = p.lastHandshake ? p.lastHandshake.replace(/\.\d+Z$/, 'Z') : 'never';
      print(`    ${p.name.padEnd(6)} ${String(p.meshAddr ?? '-').padEnd(15)} endpoint ${String(p.currentEndpoint ?? '-').padEnd(21)} handshake ${hs.padEnd(20)} rx ${p.rxBytes} B, tx ${p.txBytes} B`);
      print(`           ${p.path === 'direct' ? `path: DIRECT via ${p.currentEndpoint}` : `no path yet: ${p.reason}`}`);
    }
  }
  if (m.error) print(`  stage incomplete: ${m.error}`);
}
