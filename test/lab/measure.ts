/**
 * Measures a NAT from the inside, the way RFC 5780 does, with the probe tool: reflectors on two servers
 * (each on its primary and alternate address, two ports), one client socket behind the NAT.
 *   mapping:   same external port toward s1:P1, s1:P2, s1alt:P1 and s2:P1 -> eim; same for the two ports
 *              of one address but not across addresses -> adm; otherwise apdm.
 *   filtering: the client sends to s1:P1 only and asks s1 to answer also from s1:P2 (other port) and
 *              s1alt:P1 (other address): both arrive -> eif; only the other port -> adf; neither -> apdf.
 */
import { ConegateError } from '../../agent/src/errors.ts';
import type { Lab } from './lab.ts';
import type { ExecResult, LabProcess, SpawnOptions } from './proc.ts';
import { probeArgv } from './probe-bin.ts';
import type { FilteringType, MappingType } from './spec.ts';

/** The probe tool's path, for spawnNode/execNode. */
export const PROBE = new URL('./probe.ts', import.meta.url).pathname;
/** Starts the probe tool (plain node, see probe-bin.ts) in a node. */
export async function spawnProbe(lab: Lab, node: string, args: string[], opts: SpawnOptions = {}): Promise<LabProcess> {
  return lab.spawn(node, [...(await probeArgv()), ...args], { description: `probe ${args.join(' ')}`, ...opts });
}

/** Runs the probe tool in a node to completion. */
export async function execProbe(lab: Lab, node: string, args: string[], opts: { timeoutMs?: number; check?: boolean } = {}): Promise<ExecResult> {
  return lab.exec(node, [...(await probeArgv()), ...args], { timeoutMs: 30_000, ...opts });
}

/** Ports the reflectors listen on (STUN's port and the next one). */
export const REFLECTOR_PORTS = [3478, 3479] as const;

/** Starts a reflector on a server's primary and alternate addresses, both reflector ports; resolves when ready. */
export async function startReflector(lab: Lab, server: string, opts: { ipv6?: boolean } = {}): Promise<LabProcess> {
  const addrs = [lab.addr(server), lab.addr(server, { alt: true })];
  const binds = addrs.flatMap((a) => REFLECTOR_PORTS.map((p) => ['--bind', `${a}:${p}`]));
  if (opts.ipv6) binds.push(['--bind', `[${lab.addr6(server)}]:${REFLECTOR_PORTS[0]}`]);
  const p = await spawnProbe(lab, server, ['serve', ...binds.flat(), '--duration-ms', '600000'], { description: `reflector on ${server}` });
  await p.waitForOutput(/"event":"ready"/, 30_000);
  return p;
}

/** One client run: what each target saw as our source, and every reply that came back. */
export interface ClientResult {
  local: string;
  results: Array<{ to: string; seen: string | null }>;
  replies: Array<{ to: string; via: string; seen: string }>;
}

/** Runs the probe client in a node: one socket to every target (with optional "also reply via" endpoints). */
export async function probeClient(lab: Lab, node: string, targets: string[], opts: { also?: string[]; timeoutMs?: number; port?: number } = {}): Promise<ClientResult> {
  const args = ['client', ...targets.flatMap((t) => ['--to', t]), ...(opts.also ?? []).flatMap((a) => ['--also', a]), '--timeout-ms', String(opts.timeoutMs ?? 3000)];
  if (opts.port !== undefined) args.push('--port', String(opts.port));
  const r = await execProbe(lab, node, args, { timeoutMs: (opts.timeoutMs ?? 3000) + 30_000 });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as ClientResult;
  } catch {
    throw new ConegateError('CG_COMMAND_FAILED', `lab: probe client in ${node} printed no result (exit ${r.code}): ${r.stderr.trim()}`);
  }
}

/** What was measured about one NAT path, with the raw observations. */
export interface NatMeasurement {
  mapping: MappingType | 'unknown';
  filtering: FilteringType | 'unknown';
  /** External endpoints seen by: s1:P1, s1:P2, s1alt:P1, s2:P1. */
  seen: Array<{ to: string; seen: string | null }>;
  /** Which unsolicited answers came back: from s1's other port, from s1's other address. */
  otherPort: boolean;
  otherAddr: boolean;
}

const portOf = (ep: string | null): string | null => (ep === null ? null : ep.slice(ep.lastIndexOf(':') + 1));

/** Classifies mapping from the four observations (pure, exported for tests). */
export function classifyMapping(seen: Array<string | null>): MappingType | 'unknown' {
  const [a, b, c, d] = seen;
  if (!a || !b || !c || !d) return 'unknown';
  if (a === b && a === c && a === d) return 'eim';
  if (a === b && a !== c) return 'adm';
  return 'apdm';
}

/** Classifies filtering from which "also" replies arrived (pure). */
export function classifyFiltering(otherPort: boolean, otherAddr: boolean): FilteringType {
  if (otherAddr) return 'eif';
  if (otherPort) return 'adf';
  return 'apdf';
}

/** Measures the NAT path of a host. Needs reflectors running on s1 and s2 (startReflector). */
export async function measureNat(lab: Lab, host: string, s1: string, s2: string): Promise<NatMeasurement> {
  const [p1, p2] = REFLECTOR_PORTS;
  const a1 = lab.addr(s1);
  const alt1 = lab.addr(s1, { alt: true });
  const targets = [`${a1}:${p1}`, `${a1}:${p2}`, `${alt1}:${p1}`, `${lab.addr(s2)}:${p1}`];
  const mapping = await probeClient(lab, host, targets);
  // A fresh socket for filtering: its only mapping is toward s1:P1.
  const filt = await probeClient(lab, host, [targets[0]!], { also: [targets[1]!, targets[2]!] });
  const otherPort = filt.replies.some((r) => r.via === targets[1]);
  const otherAddr = filt.replies.some((r) => r.via === targets[2]);
  return {
    mapping: classifyMapping(mapping.results.map((r) => r.seen)),
    filtering: filt.results[0]?.seen ? classifyFiltering(otherPort, otherAddr) : 'unknown',
    seen: mapping.results,
    otherPort,
    otherAddr,
  };
}

/** A listening socket behind a NAT whose mapping was opened by one packet to a reflector. */
export interface NatListener {
  /** The external endpoint the reflector saw ("ip:port"). */
  external: string;
  process: LabProcess;
  /**
   * Ends the listener (after one more round trip to the reflector, so packets sent before this call
   * have arrived) and returns the sources of the datagrams that got through.
   */
  arrivals(): Promise<string[]>;
}

/**
 * Opens a mapping from `host` by sending one packet to `reflector` ("ip:port", a running reflector),
 * then records every datagram that arrives on that socket until arrivals() (or `count` datagrams,
 * default 100, or `timeoutMs`, default 60 s).
 */
export async function listenBehindNat(lab: Lab, host: string, reflector: string, opts: { count?: number; timeoutMs?: number; port?: number } = {}): Promise<NatListener> {
  const args = ['listen', '--send-to', reflector, '--count', String(opts.count ?? 100), '--timeout-ms', String(opts.timeoutMs ?? 60_000)];
  if (opts.port !== undefined) args.push('--port', String(opts.port));
  const p = await spawnProbe(lab, host, args, { description: `listener on ${host}` });
  const m = await p.waitForOutput(/"event":"mapped","seen":"([^"]+)"/, 30_000, 'stdout');
  return {
    external: m[1]!,
    process: p,
    async arrivals() {
      p.write('end\n');
      await p.done;
      return p.stdout
        .split('\n')
        .map((l) => {
          try {
            return JSON.parse(l) as { event?: string; from?: string };
          } catch {
            return {};
          }
        })
        .filter((e) => e.event === 'recv' && typeof e.from === 'string')
        .map((e) => e.from!);
    },
  };
}

/** Sends `count` datagrams from one socket in `node` (optionally bound to an address/port) to `to`. */
export async function sendUdp(lab: Lab, node: string, to: string, opts: { count?: number; bind?: string; port?: number } = {}): Promise<void> {
  const args = ['send', '--to', to, '--count', String(opts.count ?? 3), '--interval-ms', '20'];
  if (opts.bind) args.push('--bind', opts.bind);
  if (opts.port !== undefined) args.push('--port', String(opts.port));
  await execProbe(lab, node, args, { check: true });
}
