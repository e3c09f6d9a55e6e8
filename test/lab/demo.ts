/**
 * The lab demo: two sites behind different NATs, measured from the inside, then changed and measured
 * again. Each stage = optional change + measurement of every site + a direct (hole-punched) UDP attempt
 * between the two sites. Later steps plug in conegate's own router configuration as a DemoChange.
 */
import { join } from 'node:path';
import { printMeshStage, runMeshStage, type MeshStageReport } from './demo-mesh.ts';
import type { Lab } from './lab.ts';
import { measureNat, startReflector, tryDirect, type DirectResult, type NatMeasurement } from './measure.ts';
import { MAPPING_WORDS } from './plan.ts';
import type { FilteringType, LabSpec, MappingType } from './spec.ts';

/** A change applied to the lab between stages (e.g. conegate configuring a router). */
export interface DemoChange {
  title: string;
  apply(lab: Lab): Promise<void>;
}

export interface SiteReport {
  site: string;
  host: string;
  publicAddr: string;
  /** Declared NAT of each hop from the host outward: `<node>: <mapping>/<filtering>`. */
  path: string[];
  measured: NatMeasurement;
  difficulty: 'easy' | 'hard' | 'unknown';
}

export interface StageReport {
  title: string;
  sites: SiteReport[];
  direct: DirectResult;
}

export interface DemoReport {
  labId: string;
  stages: StageReport[];
  /** The last stage: the mesh coming up over the changed NATs (absent when the run skips it). */
  mesh?: MeshStageReport;
}

/** The demo topology: a behind a symmetric ("hard", PF-default-like) NAT; b behind a home router behind a CGNAT. */
export const DEMO_SPEC: LabSpec = {
  sites: [
    { name: 'a', nat: 'symmetric', hosts: ['h1'] },
    { name: 'b', nat: 'port-restricted', hosts: ['h1'], uplink: 'cgn' },
  ],
  // RFC 6888 REQ-1: a carrier-grade NAT has endpoint-independent mapping; its filtering stays strict.
  isps: [{ name: 'cgn', nat: 'port-restricted', inside: 'cgnat' }],
  servers: ['s1', 's2'],
};

/**
 * conegate's nftables backend on site a's router, run inside the router's namespace like on a Linux
 * router: `conegate nat apply --backend nftables` for the whole LAN. It adds its own table with a nat
 * chain ahead of the router's, giving endpoint-independent mapping; filtering stays the router's.
 */
export const CONEGATE_NAT_CHANGE: DemoChange = {
  title: 'conegate nat apply --backend nftables on a.router (endpoint-independent mapping for the LAN)',
  async apply(lab) {
    const router = lab.node('a.router');
    const lanNet = `${router.lan!.v4!.replace(/\.\d+$/, '.0')}/${router.lan!.v4Prefix ?? 24}`;
    const args = ['nat', 'apply', '--backend', 'nftables', '--wan', router.wan!.name, '--sources', lanNet, '--confirm-sec', '0', '--state-dir', join(lab.workDir, 'conegate-nat'), '--json'];
    // An empty CONEGATE_CONFIG: the defaults plus these flags, never the machine's own config file.
    await lab.execConegate('a.router', args, { env: { CONEGATE_CONFIG: '' }, timeoutMs: 60_000, check: true });
  },
};

/** The lab's own stand-in: site a's router made endpoint-independent in mapping and filtering. */
export const LAB_EIM_EIF_CHANGE: DemoChange = {
  title: 'a.router switched to endpoint-independent mapping and filtering (lab ruleset)',
  apply: (lab) => lab.setNat('a.router', { mapping: 'eim', filtering: 'eif', hairpin: true }),
};

/** The demo's default change list. */
export const DEFAULT_CHANGES: DemoChange[] = [CONEGATE_NAT_CHANGE];

const FILTERING_WORDS: Record<FilteringType, string> = {
  eif: 'endpoint-independent filtering',
  adf: 'address-dependent filtering',
  apdf: 'address-and-port-dependent filtering',
};
const MAPPING_MEANING: Record<MappingType, string> = {
  eim: 'one external port for every destination',
  adm: 'a new external port for each destination address',
  apdm: 'a new external port for each destination address and port',
};
const FILTERING_MEANING: Record<FilteringType, string> = {
  eif: 'anyone may send to an open mapping',
  adf: 'only addresses it sent to may answer, from any port',
  apdf: 'only the exact address and port it sent to may answer',
};

function hopPath(lab: Lab, host: string): string[] {
  const out: string[] = [];
  let node = lab.node(host);
  while (node.upstream && node.upstream !== 'inet') {
    node = lab.node(node.upstream);
    if (node.nat) out.push(`${node.name}: ${node.nat.mapping}/${node.nat.filtering}${node.nat.hairpin ? '/hairpin' : ''}`);
  }
  return out;
}

async function measureStage(lab: Lab, title: string, stageIndex: number): Promise<StageReport> {
  const sites = await Promise.all(
    lab.spec.sites.map(async (s): Promise<SiteReport> => {
      const host = `${s.name}.${s.hosts[0]!}`;
      const measured = await measureNat(lab, host, 's1', 's2');
      const difficulty = measured.mapping === 'unknown' ? 'unknown' : measured.mapping === 'eim' ? 'easy' : 'hard';
      return { site: s.name, host, publicAddr: lab.publicAddr(host), path: hopPath(lab, host), measured, difficulty };
    }),
  );
  // A distinct local port per stage: conntrack entries of the last stage keep their old mappings.
  const direct = await tryDirect(lab, sites[0]!.host, sites[1]!.host, 51820 + stageIndex);
  return { title, sites, direct };
}

/** Runs the demo on a built lab (two sites, servers s1 and s2); `print` gets human-readable lines as they come. */
export async function runDemo(lab: Lab, opts: { changes?: DemoChange[]; mesh?: boolean; print?: (line: string) => void } = {}): Promise<DemoReport> {
  const print = opts.print ?? (() => {});
  const changes = opts.changes ?? DEFAULT_CHANGES;
  await Promise.all([startReflector(lab, 's1'), startReflector(lab, 's2')]);
  printTopology(lab, print);
  const stages: StageReport[] = [];
  const titles = ['as found', ...changes.map((c) => c.title)];
  for (let i = 0; i < titles.length; i++) {
    if (i > 0) await changes[i - 1]!.apply(lab);
    const stage = await measureStage(lab, titles[i]!, i);
    printStage(stage, i + 1, print);
    stages.push(stage);
  }
  const mesh = opts.mesh === false ? undefined : await runMeshStage(lab);
  if (mesh) printMeshStage(mesh, stages.length + 1, print);
  printSummary(stages, mesh, print);
  return { labId: lab.id, stages, ...(mesh ? { mesh } : {}) };
}

function printSummary(stages: StageReport[], mesh: MeshStageReport | undefined, print: (line: string) => void): void {
  print('');
  print('Summary');
  const rows = stages.map((st) => st.sites.map((s) => `${s.site} ${s.difficulty.toUpperCase()} (${s.measured.mapping}/${s.measured.filtering})`).join(', '));
  const width = Math.max(...rows.map((r) => r.length)) + 2;
  stages.forEach((st, i) => print(`  stage ${i + 1}  ${rows[i]!.padEnd(width)}-> direct UDP ${st.direct.ok ? 'WORKS' : 'FAILS'}   (${st.title})`));
  if (!mesh) return;
  print(`  stage ${stages.length + 1}  the mesh${mesh.error ? ` (incomplete: ${mesh.error})` : ''}`);
  for (const n of mesh.nodes) for (const p of n.peers) print(`           ${`${n.name ?? n.node} -> ${p.name}`.padEnd(22)} ${p.summary}`);
  const l = mesh.lan;
  if (l) print(`           ${`${l.from} -> ${l.to} (LANs)`.padEnd(22)} ping ${l.ping.received}/${l.ping.sent}, iperf3 ${l.tcp.ok ? `${l.tcp.mbps.toFixed(0)} Mbit/s` : 'FAILS'}`);
}

function printTopology(lab: Lab, print: (line: string) => void): void {
  print(`Topology (lab ${lab.id}, namespaces ${lab.id}-*)`);
  const servers = lab.spec.servers.map((s) => `${s} ${lab.addr(s)} (alt ${lab.addr(s, { alt: true })})`).join(', ');
  print(`  internet   203.0.113.0/24 and 198.51.100.0/24; servers ${servers}`);
  for (const s of lab.spec.sites) {
    const host = `${s.name}.${s.hosts[0]!}`;
    const hops = [`${host} ${lab.addr(host)}`];
    let node = lab.node(host);
    while (node.upstream && node.upstream !== 'inet') {
      node = lab.node(node.upstream);
      hops.push(`${node.name} ${node.addr4} [${node.nat?.mapping}/${node.nat?.filtering}]`);
    }
    print(`  site ${s.name.padEnd(5)} ${hops.join(' -> ')} -> internet`);
  }
}

function printStage(stage: StageReport, n: number, print: (line: string) => void): void {
  print('');
  print(`Stage ${n}: ${stage.title}`);
  for (const s of stage.sites) {
    const m = s.measured;
    print(`  site ${s.site} (${s.host}, seen on the internet as ${s.publicAddr})`);
    if (m.mapping === 'unknown') print(`    mapping    unknown: the reflectors did not answer`);
    else print(`    mapping    ${MAPPING_WORDS[m.mapping]}: ${MAPPING_MEANING[m.mapping]}`);
    print(`               ${m.seen.map((x) => `${x.to} saw ${x.seen ?? '-'}`).join(', ')}`);
    if (m.filtering === 'unknown') print(`    filtering  unknown`);
    else print(`    filtering  ${FILTERING_WORDS[m.filtering]}: ${FILTERING_MEANING[m.filtering]}`);
    print(`               reply from the server's other port ${m.otherPort ? 'arrived' : 'dropped'}, from its other address ${m.otherAddr ? 'arrived' : 'dropped'}`);
    print(`    verdict    ${s.difficulty === 'easy' ? 'EASY NAT (stable external port)' : s.difficulty === 'hard' ? 'HARD NAT (external port changes per destination)' : 'UNKNOWN'}`);
  }
  const d = stage.direct;
  const [a, b] = stage.sites;
  print(`  direct UDP ${a?.host} <-> ${b?.host} (both punch to the other's reflexive address ${d.bSeenAs ?? '-'} / ${d.aSeenAs ?? '-'}):`);
  print(`    ${d.ok ? 'WORKS' : 'FAILS'}: ${a?.host} received ${d.aReceived}, ${b?.host} received ${d.bReceived} packets from the peer${d.ok ? '' : ' (a relay would be needed)'}`);
}
