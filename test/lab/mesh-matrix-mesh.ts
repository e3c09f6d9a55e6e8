/**
 * The servers and agents of the NAT matrix (mesh-matrix.ts) on a built lab: `conegate stun serve`
 * (two ports, for the NAT-kind check) and `conegate coord serve` with a relay map on s1, `conegate relay
 * serve` with the coordinator's admission on s2 (both on TCP 443, the only port a UDP-blocking firewall
 * lets out), then `conegate up` on every matrix node with one reusable auth key. Same recipe as
 * mesh-paths.test.ts; every wait bounded, every process ended by the handle's stop().
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from './lab.ts';
import type { LabProcess } from './proc.ts';
import { startMeshServers } from './mesh-servers.ts';
import { controlRequest } from '../../agent/src/service/control-client.ts';

export interface PathJson {
  kind: string;
  endpoint: string | null;
  region: string | null;
  socket: number | null;
  rttMs: number | null;
  reason: { code: string; text: string } | null;
  birthday: {
    attempts: number;
    last?: { ok: boolean; ms: number; sockets: number; probes: number; concurrent?: number };
    /** The node's extra sockets (agent/src/paths/view.ts): open now, shared pool, held by tunnels, peaks. */
    node?: { open: number; pool: number; held: number; running: number; peakOpen: number; peakShared: number };
  } | null;
  events: { at: string; text: string }[];
}
export interface PeerJson {
  name: string;
  homeRelay: string | null;
  path: PathJson | null;
}
export interface StatusJson {
  mesh: { self: { name: string; addresses: string[] }; peers: PeerJson[] };
}

export interface MatrixMesh {
  /** `conegate status --json` on a node. */
  status(node: string): Promise<StatusJson>;
  /** The node's mesh IPv4 address (known once it registered). */
  meshV4(node: string): string;
  /** Ends every process this mesh started (agents first), by PID. */
  stop(): Promise<void>;
  procs: LabProcess[];
}

/** Hostname of a lab node in the mesh: `full.h1` -> `full-h1`. */
export const hostOf = (node: string) => node.replace('.', '-');

export interface MeshOptions {
  /** Extra config merged into the node's config file (e.g. `nat` for the router pass). */
  extraConfig?: (node: string) => Record<string, unknown>;
}


/** Starts the servers and `conegate up` on every node; resolves once each agent said "agent: up". */
export async function startMatrixMesh(lab: Lab, dir: string, nodes: readonly string[], opts: MeshOptions = {}): Promise<MatrixMesh> {
  mkdirSync(dir, { recursive: true });
  const procs: LabProcess[] = [];
  const v4 = new Map<string, string>();
  const tag = String(process.pid % 10000);
  // Straight to the agent's control socket (a path socket: reachable from outside the node's netns),
  // the request `conegate status --json` makes. Spawning the CLI on 9 nodes every half second took most
  // of a 2-core machine from the agents under test; the CLI itself is covered by the other lab tests.
  const status = async (node: string): Promise<StatusJson> => (await controlRequest(join(dir, node, 'conegate.sock'), 'status', 30_000)) as StatusJson;
  const mesh: MatrixMesh = {
    status,
    meshV4: (node) => {
      const a = v4.get(node);
      if (!a) throw new Error(`${node} has no mesh address yet`);
      return a;
    },
    procs,
    stop: async () => {
      for (const p of [...procs].reverse()) await p.stop();
    },
  };
  try {
    const { coordFp, authKey } = await startMeshServers(lab, dir, procs);
    const s1 = lab.addr('s1');
    await Promise.all(
      nodes.map(async (node, i) => {
        const path = join(dir, `${node}.json`);
        const config = {
          log: { level: 'info' },
          wg: { interface: `cgm${tag}${i}`, listenPort: 41641 },
          portmap: { enabled: false },
          netcheck: { stunServers: [`${s1}:3478`, `${s1}:3479`] },
          mesh: { enabled: true, coordinator: `https://${s1}:443`, coordinatorFingerprint: coordFp, hostname: hostOf(node), stateDir: join(dir, node) },
          ...(opts.extraConfig?.(node) ?? {}),
        };
        writeFileSync(path, JSON.stringify(config), { mode: 0o600 });
        const p = lab.spawnConegate(node, ['up', '--foreground', '--config', path, '--auth-key', authKey], { description: `conegate up on ${node}`, stopTimeoutMs: 10_000 });
        procs.push(p);
        await p.waitForOutput(/agent: up/, 90_000, 'stderr');
      }),
    );
    await Promise.all(
      nodes.map(async (node) => {
        const end = Date.now() + 30_000;
        while (Date.now() < end) {
          const a = (await status(node).catch(() => undefined))?.mesh.self.addresses.find((x) => !x.includes(':'));
          if (a) return void v4.set(node, a.split('/')[0]!);
          await new Promise((r) => setTimeout(r, 300));
        }
        throw new Error(`${node} got no mesh address within 30 s`);
      }),
    );
    return mesh;
  } catch (err) {
    await mesh.stop();
    throw err;
  }
}
