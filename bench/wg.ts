/**
 * WireGuard throughput: iperf3 TCP through conegate<->conegate and through wireguard-go<->wireguard-go,
 * in one run, over the same lab link (two server namespaces on the lab's internet bridge: veth pairs into
 * one bridge). Prints both throughputs, their ratio (conegate / wireguard-go) and the CPU each pair used
 * (from /proc/<pid>/stat: user+system time of all threads, as a share of one core over the run).
 *
 * Both pairs are up at once and measured in alternating rounds (median reported, every round kept):
 * this machine class is shared, and a load change mid-run must not favour either side.
 *
 *   npm run bench wg [-- --seconds=4 --rounds=3 --reverse --node-arg=--cpu-prof]
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { createLab, type Lab } from '../test/lab/lab.ts';
import type { LabProcess } from '../test/lab/proc.ts';
import { keyPair, requirePeers, Scratch, startConegate, startWireguardGo, type WgNodeSpec } from '../test/interop/wg/peers.ts';

/** Clock ticks per second for /proc/<pid>/stat (USER_HZ, 100 on every Linux this runs on). */
const USER_HZ = 100;

function cpuTicks(pid: number): number {
  // Fields after the command name (which may hold spaces, so split after the last ')'): utime is field 14, stime 15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

interface PairResult {
  mbps: number;
  retransmits: number;
  /** CPU of each endpoint process over the iperf3 run, in % of one core (sender, receiver). */
  cpuPercent: { sender: number; receiver: number };
}

async function measure(lab: Lab, procs: [LabProcess, LabProcess], serverAddr: string, seconds: number, reverse: boolean): Promise<PairResult> {
  const srv = lab.spawn('s2', ['iperf3', '-s', '-1', '-B', serverAddr, '--forceflush'], { description: 'iperf3 server' });
  await srv.waitForOutput(/listening/, 5000);
  const before = procs.map((p) => cpuTicks(p.pid));
  const t0 = performance.now();
  const args = ['iperf3', '-c', serverAddr, '-t', String(seconds), '-J', ...(reverse ? ['-R'] : [])];
  const r = await lab.exec('s1', args, { timeoutMs: (seconds + 20) * 1000 });
  const wallSec = (performance.now() - t0) / 1000;
  const after = procs.map((p) => cpuTicks(p.pid));
  await srv.stop();
  if (r.code !== 0) throw new Error(`iperf3 failed: ${r.stdout.slice(0, 500)} ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } } };
  const pct = (i: number) => Math.round((((after[i] as number) - (before[i] as number)) / USER_HZ / wallSec) * 1000) / 10;
  // With -R the server (s2) sends: swap so "sender" is always the side whose tunnel encrypts the stream.
  const [s1, s2] = [pct(0), pct(1)];
  return {
    mbps: Math.round(j.end.sum_received.bits_per_second / 1e4) / 100,
    retransmits: j.end.sum_sent.retransmits ?? 0,
    cpuPercent: reverse ? { sender: s2, receiver: s1 } : { sender: s1, receiver: s2 },
  };
}

function pair(lab: Lab, tag: string, net: number, port: number): [WgNodeSpec, WgNodeSpec] {
  const a = keyPair();
  const b = keyPair();
  const specA: WgNodeSpec = { node: 's1', ifname: lab.uniqueIfname(tag), keys: a, listenPort: port, address: `100.64.${net}.1/24`, peers: [{ pub: b.pub, allowedIps: [`100.64.${net}.2/32`], endpoint: `${lab.addr('s2')}:${port + 1}` }] };
  const specB: WgNodeSpec = { node: 's2', ifname: lab.uniqueIfname(tag), keys: b, listenPort: port + 1, address: `100.64.${net}.2/24`, peers: [{ pub: a.pub, allowedIps: [`100.64.${net}.1/32`], endpoint: `${lab.addr('s1')}:${port}` }] };
  return [specA, specB];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Median of the rounds by throughput, with every round's figures kept. */
function summarise(rounds: PairResult[]): PairResult & { rounds: PairResult[] } {
  const mid = median(rounds.map((r) => r.mbps));
  const pick = rounds.find((r) => r.mbps === mid) as PairResult;
  return { ...pick, rounds };
}

export async function run(args: string[] = []): Promise<unknown> {
  const opt = (name: string, dflt: number) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
  const seconds = opt('seconds', 4);
  const roundsWanted = opt('rounds', 3);
  const reverse = args.includes('--reverse');
  const nodeArgs = args.filter((a) => a.startsWith('--node-arg=')).map((a) => a.slice('--node-arg='.length));
  requirePeers();
  const lab = await createLab({ servers: ['s1', 's2'] });
  const scratch = new Scratch();
  try {
    // Both pairs run side by side (distinct ports and tunnel subnets) and are measured alternately, so
    // a change in the machine's load during the run hits both alike.
    const [ga, gb] = pair(lab, 'wg', 1, 51900);
    const [ca, cb] = pair(lab, 'cg', 2, 52900);
    const goProcs: [LabProcess, LabProcess] = [await startWireguardGo(lab, ga, scratch), await startWireguardGo(lab, gb, scratch)];
    const cgProcs: [LabProcess, LabProcess] = [await startConegate(lab, ca, scratch, nodeArgs), await startConegate(lab, cb, scratch, nodeArgs)];
    await lab.exec('s1', ['ping', '-c1', '-W5', '100.64.1.2'], { check: true });
    await lab.exec('s1', ['ping', '-c1', '-W5', '100.64.2.2'], { check: true });
    const go: PairResult[] = [];
    const cg: PairResult[] = [];
    for (let i = 0; i < roundsWanted; i++) {
      go.push(await measure(lab, goProcs, '100.64.1.2', seconds, reverse));
      cg.push(await measure(lab, cgProcs, '100.64.2.2', seconds, reverse));
    }
    await Promise.all([...goProcs, ...cgProcs].map((p) => p.stop()));
    const conegate = summarise(cg);
    const wireguardGo = summarise(go);
    return {
      seconds,
      rounds: roundsWanted,
      direction: reverse ? 's2->s1 (iperf3 -R)' : 's1->s2',
      conegate,
      wireguardGo,
      ratio: Math.round((conegate.mbps / wireguardGo.mbps) * 1000) / 1000,
      ratioPerRound: cg.map((c, i) => Math.round((c.mbps / (go[i] as PairResult).mbps) * 1000) / 1000),
      host: { cpus: cpus().length, node: process.version, loadavg: loadavg().map((l) => Math.round(l * 10) / 10) },
    };
  } finally {
    await lab.destroy();
    scratch.cleanup();
  }
}
