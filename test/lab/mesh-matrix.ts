/**
 * The mesh NAT matrix (#18 acceptance): ONE lab with one `conegate up` node per NAT kind, all in one
 * mesh, every pair driven at once. For each pair: ping between the mesh addresses from both sides, poll
 * `status --json` on both until both say direct or the budget runs out, and record the path (direct, or
 * relayed with the reason the node gave), the time from the pair's first packet to both sides direct
 * (from the engines' own events in status: the first "traffic to an idle peer" on either side, the last
 * side's "direct via"; polling and the start of 72 ping processes add nothing), and whether a birthday
 * attempt made it.
 * Expected (docs/mesh-paths.md): direct on every pair except hard+hard (both-hard) and anything with UDP
 * blocked (udp-blocked); pings work on every pair, relayed or not.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, type Lab } from './lab.ts';
import { hostOf, startMatrixMesh, type MatrixMesh, type PathJson, type StatusJson } from './mesh-matrix-mesh.ts';
import type { LabSpec } from './spec.ts';

export type NodeClass = 'public' | 'easy' | 'hard' | 'udp-blocked';
export interface MatrixNode {
  node: string;
  label: string;
  cls: NodeClass;
  /** The NAT in front filters by address and port (so a hard peer needs the birthday attempt). */
  apdf: boolean;
}

/** One node per NAT kind; two hard ones so that hard+hard is a cell. */
export const MATRIX_NODES: readonly MatrixNode[] = [
  { node: 'pub', label: 'no NAT', cls: 'public', apdf: false },
  { node: 'full.h1', label: 'EIM/EIF full-cone', cls: 'easy', apdf: false },
  { node: 'rcone.h1', label: 'EIM/ADF restricted', cls: 'easy', apdf: false },
  { node: 'prc.h1', label: 'EIM/APDF port-restr', cls: 'easy', apdf: true },
  { node: 'dbl.h1', label: 'double NAT', cls: 'easy', apdf: true },
  { node: 'cgn.h1', label: 'CGNAT + home', cls: 'easy', apdf: true },
  { node: 'hard.h1', label: 'symmetric (hard)', cls: 'hard', apdf: true },
  { node: 'hard2.h1', label: 'symmetric 2', cls: 'hard', apdf: true },
  { node: 'udpb.h1', label: 'UDP blocked', cls: 'udp-blocked', apdf: true },
];

/**
 * The second pass: conegate's own endpoint-independent NAT (`conegate nat apply`, as in the demo) on
 * the hard sites' routers. Those nodes then map like a port-restricted home router: no birthday needed.
 */
export function routerNatNodes(): MatrixNode[] {
  return MATRIX_NODES.map((n) => (n.cls === 'hard' ? { ...n, cls: 'easy', label: `${n.label.replace(' (hard)', '')} +nat` } : n));
}

async function applyRouterNat(lab: Lab, router: string): Promise<void> {
  const r = lab.node(router);
  const lanNet = `${r.lan!.v4!.replace(/\.\d+$/, '.0')}/${r.lan!.v4Prefix ?? 24}`;
  const args = ['nat', 'apply', '--backend', 'nftables', '--wan', r.wan!.name, '--sources', lanNet, '--confirm-sec', '0', '--state-dir', join(lab.workDir, `conegate-nat-${router}`), '--json'];
  // An empty CONEGATE_CONFIG: the defaults plus these flags, never the machine's own config file.
  await lab.execConegate(router, args, { env: { CONEGATE_CONFIG: '' }, timeoutMs: 60_000, check: true });
}

/** The lab: a site per NAT kind; `pub` is an internet server (no NAT) like s1 (coordinator, STUN) and s2 (relay). */
export function matrixSpec(): LabSpec {
  return {
    sites: [
      { name: 'full', nat: 'full-cone' },
      { name: 'rcone', nat: 'restricted-cone' },
      { name: 'prc', nat: 'port-restricted' },
      { name: 'dbl', nat: 'port-restricted', uplink: 'outer' },
      { name: 'cgn', nat: 'port-restricted', uplink: 'carrier' },
      { name: 'hard', nat: 'symmetric' },
      { name: 'hard2', nat: 'symmetric' },
      { name: 'udpb', nat: 'port-restricted', firewall: 'udp-blocked' },
    ],
    isps: [
      { name: 'outer', nat: 'port-restricted', inside: 'private' },
      // Carrier-grade NATs map endpoint-independently (RFC 6888 REQ-1 by way of RFC 4787).
      { name: 'carrier', nat: 'port-restricted', inside: 'cgnat' },
    ],
    servers: ['s1', 's2', 'pub'],
  };
}

export interface Expectation {
  direct: boolean;
  /** The relay reason expected when not direct. */
  reason?: string;
  birthday: boolean;
}

export function expectFor(a: MatrixNode, b: MatrixNode): Expectation {
  if (a.cls === 'udp-blocked' || b.cls === 'udp-blocked') return { direct: false, reason: 'udp-blocked', birthday: false };
  if (a.cls === 'hard' && b.cls === 'hard') return { direct: false, reason: 'both-hard', birthday: false };
  const oneHard = (x: MatrixNode, y: MatrixNode) => x.cls === 'hard' && y.apdf;
  return { direct: true, birthday: oneHard(a, b) || oneHard(b, a) };
}

export interface MatrixCell {
  a: string;
  b: string;
  expected: Expectation;
  /** Each side's view of the other at the end. */
  aPath: string;
  bPath: string;
  direct: boolean;
  reason: string | null;
  birthday: boolean;
  /** From the pair's first packet (either side's engine saw traffic) to both sides direct (null: never). */
  toDirectMs: number | null;
  /** From the start of the run (before the ping processes were started) to both sides direct. */
  fromRunStartMs: number | null;
  pingAB: boolean;
  pingBA: boolean;
  ok: boolean;
  /** Why the cell fails its expectation (empty when ok). */
  problem: string;
  /** Set when the failure is the known limitation below (the test reports it instead of failing). */
  known: string | null;
  /** Each side's full path view at the end (status --json), for the post-mortem. */
  aView: PathJson | null;
  bView: PathJson | null;
}

/** A full birthday attempt (256 sockets x 1,024 probes) misses with P = 1.7% by the formula; the pair then
 * waits 5 min on the relay. The matrix allows one such miss per run (two in six attempts: P < 0.5%). */
export const BIRTHDAY_MISS = 'a full birthday attempt missed (P = 1.7% per attempt for 256 sockets x 1,024 probes); the next one comes after 5 min, the pair works through the relay meanwhile'

export interface MatrixReport {
  pass: string;
  nodes: readonly MatrixNode[];
  cells: MatrixCell[];
  summary: Record<string, { n: number; p50Ms: number | null; p95Ms: number | null }>;
  budgetMs: number;
  startedAt: string;
}

const describePath = (p: PathJson | null | undefined) => (!p ? 'none' : p.kind === 'direct' ? `direct ${p.endpoint}${p.socket ? ` socket ${p.socket}` : ''}` : `${p.kind}${p.reason ? ` (${p.reason.code}: ${p.reason.text})` : ''}`);
const usedBirthday = (p: PathJson | null | undefined) => p?.kind === 'direct' && ((p.socket ?? 0) !== 0 || p.birthday?.last?.ok === true);

async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

function quantile(xs: number[], q: number): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

export interface RunOptions {
  /** Budget for every pair to go direct, from the first pings. @default 30000 */
  budgetMs?: number;
  pass?: string;
  /** The nodes and what they are (routerNatNodes() for the second pass). @default MATRIX_NODES */
  nodes?: readonly MatrixNode[];
  log?: (line: string) => void;
  /** Start the pings as soon as every agent has its mesh address, without waiting until every node's map
   * has every peer's home relay (traffic that starts while the maps are still being delivered). */
  early?: boolean;
}

/** Drives every pair at once on a running mesh and returns the cells. */
export async function runMatrix(lab: Lab, mesh: MatrixMesh, opts: RunOptions = {}): Promise<MatrixReport> {
  const budgetMs = opts.budgetMs ?? 30_000;
  const log = opts.log ?? (() => {});
  const nodes = opts.nodes ?? MATRIX_NODES;
  const ping = async (from: string, to: string) => (await lab.exec(from, ['ping', '-c1', '-W1', mesh.meshV4(to)], { timeoutMs: 5000 })).code === 0;
  const pairs: Array<[MatrixNode, MatrixNode]> = [];
  for (let i = 0; i < nodes.length; i++) for (let j = i + 1; j < nodes.length; j++) pairs.push([nodes[i]!, nodes[j]!]);
  const views = new Map<string, StatusJson>();
  const view = (from: string, to: string) => views.get(from)?.mesh.peers.find((p) => p.name === hostOf(to))?.path;
  const poll = () => pool([...nodes], nodes.length, async (n) => void views.set(n.node, await mesh.status(n.node).catch(() => views.get(n.node)!)));
  // Every peer must know every other's home relay first: the first packet then has a way to go.
  const known = Date.now() + 60_000;
  while (!opts.early) {
    await poll();
    const missing = nodes.filter((n) => nodes.some((m) => m !== n && !views.get(n.node)?.mesh.peers.find((p) => p.name === hostOf(m.node))?.homeRelay));
    if (!missing.length) break;
    if (Date.now() > known) throw new Error(`peers' home relays still unknown on ${missing.map((n) => n.node).join(', ')} after 60 s`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const startedAt = new Date().toISOString();
  const key = (a: MatrixNode, b: MatrixNode) => `${a.node}|${b.node}`;
  // Traffic both ways on every pair at once, from now until the budget ends (the engine probes only
  // while the tunnel is in use): one bounded `ping` process per direction, 2 packets a second.
  const t0 = Date.now();
  const seconds = Math.ceil(budgetMs / 1000);
  const pingers = pairs.flatMap(([a, b]) => [[a, b], [b, a]].map(([x, y]) => lab.spawn(x!.node, ['ping', '-q', '-i', '0.5', '-c', String(seconds * 2), '-w', String(seconds), mesh.meshV4(y!.node)], { description: `ping ${x!.node} -> ${y!.node}` })));
  const settled = (a: MatrixNode, b: MatrixNode) => {
    const e = expectFor(a, b);
    const [pa, pb] = [view(a.node, b.node), view(b.node, a.node)];
    if (e.direct && pa?.kind === 'direct' && pb?.kind === 'direct') return true;
    // A failed birthday attempt waits 5 min before the next one: nothing more to see within the budget.
    if (e.birthday) return [pa, pb].some((p) => p?.reason?.code === 'birthday-backoff' || p?.reason?.code === 'birthday-failed');
    if (e.direct) return false;
    return reasonOf(a, b, view(a.node, b.node), view(b.node, a.node)) === e.reason;
  };
  const end = t0 + budgetMs;
  let round = 0;
  try {
    while (Date.now() < end) {
      round++;
      await poll();
      const open = pairs.filter(([a, b]) => !settled(a, b)).length;
      log(`${((Date.now() - t0) / 1000).toFixed(1)} s, status round ${round}: ${pairs.length - open} of ${pairs.length} pairs settled`);
      if (!open) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await Promise.all(pingers.map((p) => p.stop()));
  }
  // Pings on every pair at the end: relayed or direct, the mesh must carry them (up to 8 one-second tries each way: a WireGuard handshake may be under way after a failed attempt).
  const reach = new Map<string, [boolean, boolean]>();
  const tryPing = async (x: string, y: string) => {
    for (let i = 0; i < 8; i++) if (await ping(x, y)) return true;
    return false;
  };
  await pool(pairs, 12, async ([a, b]) => void reach.set(key(a, b), [await tryPing(a.node, b.node), await tryPing(b.node, a.node)]));
  await poll();
  const cells = pairs.map(([a, b]) => cellOf(a, b, view(a.node, b.node), view(b.node, a.node), t0, reach.get(key(a, b))!));
  return { pass: opts.pass ?? 'plain', nodes, cells, summary: summarize(cells), budgetMs, startedAt };
}

/** When a path became direct: the engine's first "…: direct via" event (wall clock, from status). */
function directSince(p: PathJson | null | undefined): number | undefined {
  if (p?.kind !== 'direct') return undefined;
  const e = p.events.find((x) => x.text.includes(': direct via'));
  return e ? Date.parse(e.at) : undefined;
}

/** When this side's engine first saw traffic to the peer in this run (its "traffic to an idle peer" event). */
function trafficSince(p: PathJson | null | undefined, t0: number): number | undefined {
  const e = p?.events.find((x) => x.text.startsWith('traffic to an idle peer') && Date.parse(x.at) >= t0);
  return e ? Date.parse(e.at) : undefined;
}

/**
 * The reason a relayed pair gives: the UDP-blocked node's own (its peer cannot know why nothing answers
 * and says no-answer), otherwise the first relayed side's.
 */
export function reasonOf(a: MatrixNode, b: MatrixNode, pa: PathJson | null | undefined, pb: PathJson | null | undefined): string | null {
  if (b.cls === 'udp-blocked') return pb?.kind === 'direct' ? null : (pb?.reason?.code ?? null);
  if (a.cls === 'udp-blocked') return pa?.kind === 'direct' ? null : (pa?.reason?.code ?? null);
  return pa?.kind !== 'direct' ? (pa?.reason?.code ?? null) : pb?.kind !== 'direct' ? (pb?.reason?.code ?? null) : null;
}

function cellOf(a: MatrixNode, b: MatrixNode, pa: PathJson | null | undefined, pb: PathJson | null | undefined, t0: number, [pingAB, pingBA]: [boolean, boolean]): MatrixCell {
  const expected = expectFor(a, b);
  const [da, db] = [directSince(pa), directSince(pb)];
  const direct = pa?.kind === 'direct' && pb?.kind === 'direct';
  const tDirect = direct && da !== undefined && db !== undefined ? Math.max(da, db) : undefined;
  // The pair's first packet: the earlier side to see traffic (the run start if neither event is there).
  const firstPacket = Math.min(trafficSince(pa, t0) ?? Infinity, trafficSince(pb, t0) ?? Infinity, tDirect ?? Infinity);
  const pairStart = Number.isFinite(firstPacket) ? firstPacket : t0;
  const reason = reasonOf(a, b, pa, pb);
  const birthday = usedBirthday(pa) || usedBirthday(pb);
  const problems: string[] = [];
  if (expected.direct && !direct) problems.push(`expected direct; ${a.node} says ${describePath(pa)}, ${b.node} says ${describePath(pb)}`);
  if (!expected.direct && direct) problems.push('expected relayed, went direct');
  if (!expected.direct && reason !== expected.reason) problems.push(`expected reason ${expected.reason}, got ${reason}`);
  if (!pingAB || !pingBA) problems.push(`ping ${a.node}->${b.node} ${pingAB ? 'ok' : 'FAILED'}, ${b.node}->${a.node} ${pingBA ? 'ok' : 'FAILED'}`);
  return {
    a: a.node, b: b.node, expected, aPath: describePath(pa), bPath: describePath(pb), direct, reason, birthday,
    toDirectMs: tDirect !== undefined ? Math.max(0, tDirect - pairStart) : null, fromRunStartMs: tDirect !== undefined ? Math.max(0, tDirect - t0) : null, pingAB, pingBA, ok: problems.length === 0, problem: problems.join('; '),
    known: expected.birthday && !direct && pingAB && pingBA && [pa, pb].some((p) => /birthday attempt \d+: \d+ sockets, 1024 probes, no pong/.test(p?.reason?.text ?? '')) ? BIRTHDAY_MISS : null,
    aView: pa ?? null, bView: pb ?? null,
  };
}

function summarize(cells: MatrixCell[]): MatrixReport['summary'] {
  const out: MatrixReport['summary'] = {};
  const add = (name: string, xs: number[]) => (out[name] = { n: xs.length, p50Ms: quantile(xs, 0.5), p95Ms: quantile(xs, 0.95) });
  const direct = cells.filter((c) => c.toDirectMs !== null);
  add('direct without birthday', direct.filter((c) => !c.birthday).map((c) => c.toDirectMs!));
  add('direct by birthday', direct.filter((c) => c.birthday).map((c) => c.toDirectMs!));
  // The same from the start of the run, before the 72 ping processes were started one after another.
  add('direct without birthday, from the run start', direct.filter((c) => !c.birthday).map((c) => c.fromRunStartMs!));
  add('direct by birthday, from the run start', direct.filter((c) => c.birthday).map((c) => c.fromRunStartMs!));
  out.relayed = { n: cells.filter((c) => !c.direct).length, p50Ms: null, p95Ms: null };
  return out;
}

/** Rows x columns: `D` direct, `B` direct by birthday, `R:reason` relayed; `!` where the cell fails. */
export function formatMatrix(r: MatrixReport): string[] {
  const short = (c: MatrixCell) => `${c.direct ? (c.birthday ? 'B' : 'D') : `R:${c.reason ?? '?'}`}${c.direct && c.toDirectMs !== null ? ` ${(c.toDirectMs / 1000).toFixed(1)}s` : ''}${c.ok ? '' : c.known ? ' k' : ' !'}`;
  const w = 18;
  const lines = [`mesh NAT matrix (${r.pass}): D direct, B direct by birthday, R relayed (reason); time = the pair's first packet to both sides direct; ! = not as expected, k = known limitation (below)`, ''];
  lines.push(''.padEnd(w) + r.nodes.map((n) => n.node.replace('.h1', '').padEnd(w)).join(''));
  for (const a of r.nodes) {
    const row = r.nodes.map((b) => {
      if (a === b) return '-'.padEnd(w);
      const c = r.cells.find((x) => (x.a === a.node && x.b === b.node) || (x.a === b.node && x.b === a.node));
      return (c ? short(c) : '?').padEnd(w);
    });
    lines.push(`${a.label.slice(0, w - 1).padEnd(w)}${row.join('')}`);
  }
  lines.push('');
  for (const [k, v] of Object.entries(r.summary)) lines.push(`${k}: ${v.n} pairs${v.p50Ms !== null ? `, p50 ${(v.p50Ms / 1000).toFixed(1)} s, p95 ${(v.p95Ms! / 1000).toFixed(1)} s` : ''}`);
  const bad = r.cells.filter((c) => !c.ok && !c.known);
  const known = r.cells.filter((c) => !c.ok && c.known);
  lines.push(bad.length ? `${bad.length} cells not as expected:` : 'every other cell as expected');
  for (const c of bad) lines.push(`  ${c.a} x ${c.b}: ${c.problem}`);
  if (known.length) lines.push(`${known.length} cells relayed after a birthday miss (${BIRTHDAY_MISS}): ${known.map((c) => `${c.a} x ${c.b}`).join(', ')}`);
  return lines;
}

/** Builds the one lab, starts the mesh, runs the matrix, tears everything down (also on failure). */
export async function runMatrixLab(dir: string, opts: RunOptions & { routerNat?: boolean } = {}): Promise<MatrixReport> {
  const lab = await createLab(matrixSpec());
  let mesh: MatrixMesh | undefined;
  try {
    if (opts.routerNat) {
      for (const n of MATRIX_NODES.filter((x) => x.cls === 'hard')) await applyRouterNat(lab, n.node.replace('.h1', '.router'));
      opts = { ...opts, nodes: routerNatNodes(), pass: opts.pass ?? 'conegate nat on the hard routers' };
    }
    mesh = await startMatrixMesh(lab, dir, MATRIX_NODES.map((n) => n.node));
    return await runMatrix(lab, mesh, opts);
  } finally {
    if (mesh) {
      // Each process's output beside the report, for a failed cell's post-mortem.
      for (const [i, p] of mesh.procs.entries()) writeFileSync(join(dir, `${i}-${p.node}.log`), `${p.description}\n${p.stdout}\n${p.stderr}`);
      await mesh.stop();
    }
    await lab.destroy();
  }
}
