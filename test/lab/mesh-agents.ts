/**
 * The mesh lab tests' agents: one config file per node (the lab's STUN on s1, the coordinator from
 * startMeshServers, a per-run WireGuard interface name) and `conegate up --foreground` on each node,
 * waiting until it logs "agent: up". Every process goes into `procs` (the caller stops them by PID).
 * `restart` starts a node again from its config (same identity: no auth key needed).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from './lab.ts';
import type { LabProcess } from './proc.ts';

export interface MeshAgentsExtra {
  /** Where every started process is recorded. */
  procs: LabProcess[];
  /** What startMeshServers (or startHaServers) resolved with. */
  servers: { coordFp: string; authKey: string };
  /** Interface name prefix (unique per test file; the run's pid and the node's index follow). */
  ifPrefix: string;
  /** The lab's STUN ports on s1 (default 3478 and 3479). */
  stunPorts?: number[];
  /** Per node: top-level sections merged over the defaults (`mesh` is merged key by key). */
  config?: (node: string, i: number) => Record<string, unknown> | undefined;
  /** Argv after `up --foreground --config FILE --auth-key KEY`. */
  args?: string[];
}

export interface MeshAgents {
  /** The config file of each node. */
  configs: Map<string, string>;
  /** The running `conegate up` of each node (the latest after a restart). */
  agents: Map<string, LabProcess>;
  /** Starts `node` again from its config file (stop the old one first). */
  restart(node: string, args?: string[]): Promise<LabProcess>;
}

/** Names as the coordinator shows them (a dot is not allowed in a mesh hostname). */
export const meshName = (node: string): string => node.replace('.', '-');

export async function startMeshAgents(lab: Lab, dir: string, nodes: readonly string[], extra: MeshAgentsExtra): Promise<MeshAgents> {
  const configs = new Map<string, string>();
  const agents = new Map<string, LabProcess>();
  const tag = String(process.pid % 10000);
  const s1 = lab.addr('s1');
  const start = async (node: string, args: string[], description = `conegate up on ${node}`) => {
    const p = lab.spawnConegate(node, ['up', '--foreground', '--config', configs.get(node)!, ...args], { description, stopTimeoutMs: 10_000 });
    extra.procs.push(p);
    agents.set(node, p);
    await p.waitForOutput(/agent: up/, 60_000, 'stderr');
    return p;
  };
  await Promise.all(
    nodes.map(async (node, i) => {
      const path = join(dir, `${node}.json`);
      const { mesh, ...over } = extra.config?.(node, i) ?? {};
      const config = {
        log: { level: 'info' },
        wg: { interface: `${extra.ifPrefix}${tag}${i}`, listenPort: 41641 },
        portmap: { enabled: false },
        netcheck: { stunServers: (extra.stunPorts ?? [3478, 3479]).map((port) => `${s1}:${port}`) },
        ...over,
        mesh: {
          enabled: true, coordinator: `https://${s1}:443`, coordinatorFingerprint: extra.servers.coordFp, hostname: meshName(node), stateDir: join(dir, node),
          ...(mesh as Record<string, unknown> | undefined),
        },
      };
      writeFileSync(path, JSON.stringify(config));
      configs.set(node, path);
      await start(node, ['--auth-key', extra.servers.authKey, ...(extra.args ?? [])]);
    }),
  );
  return { configs, agents, restart: (node, args = []) => start(node, args, `conegate up on ${node} (restarted)`) };
}
