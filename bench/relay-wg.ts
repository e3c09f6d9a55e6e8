/**
 * The WireGuard columns of `npm run bench relay` (issue 17): iperf3 TCP between two `conegate up` nodes
 * (the bundle) over their mesh addresses, in one run:
 * - direct (the path status shows once discovery found it);
 * - through the TCP relay (`conegate relay serve` on s2): UDP between the two nodes dropped by nft, so
 *   their path moves to the relay; the relay process's CPU seconds per Gbit carried from /proc/PID/stat;
 * - through a node's UDP relay: a third node (`conegate up` on s3 with `mesh.udpRelay.enabled`) relays
 *   for the pair once UDP between them is dropped (the agents prefer it to the TCP relay); its agent's
 *   CPU seconds per Gbit. s3 has net.ipv4.ip_forward=1, so the relay uses its kernel fast path
 *   (mesh.udpRelay.kernelForward "auto"): the agent's CPU then no longer includes the forwarding, which
 *   the kernel does in softirq context, charged to no process (so "relay CPU" is the agent's only).
 *   Then (unless --wg-userspace 0) s3 is restarted with kernelForward "off" and the same rounds give the
 *   userspace row; then that node is stopped and the pair moves to the TCP relay;
 * - the node-relay level of bench/udp-relay.ts (1,200-byte datagrams, no WireGuard) beside it.
 * Both nodes are site routers behind endpoint-independent NATs (port-restricted), running the agent on
 * the router itself with the mesh port admitted on its WAN, so the direct path comes up at once.
 */
import { cpuSecPerGbit, median, ratio, round } from './mesh-figures.ts';
import { MeshBenchLab } from './mesh-lab.ts';
import { run as udpRelayBench } from './udp-relay.ts';

const NODES = ['a.router', 'b.router'] as const;
const PATH_WAIT_MS = 90_000;

interface Case {
  mbps: number;
  rounds: number[];
  /** CPU seconds per Gbit carried: each node's agent, and the relay server. */
  cpuSecPerGbit: { nodeA: number | null; nodeB: number | null; relay: number | null };
}

/** iperf3 rounds a -> b over the mesh; CPU of both agents and the relay over all rounds. */
async function rounds(m: MeshBenchLab, to: string, seconds: number, n: number, relayPid: number): Promise<Case> {
  const watch = [...NODES.map((x) => m.agents.get(x)!.pid), relayPid];
  const mbps: number[] = [];
  const cpu = [0, 0, 0];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const r = await m.iperf('a.router', 'b.router', to, seconds, false, watch);
    mbps.push(r.mbps);
    bytes += r.bytes;
    r.cpuSec.forEach((c, k) => (cpu[k]! += c));
  }
  return { mbps: median(mbps), rounds: mbps, cpuSecPerGbit: { nodeA: cpuSecPerGbit(cpu[0]!, bytes), nodeB: cpuSecPerGbit(cpu[1]!, bytes), relay: cpuSecPerGbit(cpu[2]!, bytes) } };
}

interface RelayNodeStatus { mesh: { udpRelay?: { forwarded: number; kernel?: { active: boolean; reason: string; pairs: number; packets: number } } } | null }

/** s3's relay counters: datagrams forwarded by the process and by the kernel. */
async function relayCounters(m: MeshBenchLab): Promise<{ process: number; kernel: number; kernelActive: boolean; reason: string }> {
  const u = ((await m.status('s3')) as unknown as RelayNodeStatus).mesh?.udpRelay;
  return { process: u?.forwarded ?? 0, kernel: u?.kernel?.packets ?? 0, kernelActive: u?.kernel?.active ?? false, reason: u?.kernel?.reason ?? 'no kernel status' };
}

/** The UDP relay rounds, with how many datagrams the process and the kernel forwarded during them. */
async function udpRelayRounds(m: MeshBenchLab, to: string, opts: { seconds: number; rounds: number }, relayPid: number) {
  const before = await relayCounters(m);
  const c = await rounds(m, to, opts.seconds, opts.rounds, relayPid);
  // The kernel counters are read every 5 s by the relay: wait one period so the last round is counted.
  await new Promise((r) => setTimeout(r, 5500));
  const after = await relayCounters(m);
  return { ...c, kernelPath: { active: after.kernelActive, reason: after.reason, datagramsByKernel: after.kernel - before.kernel, datagramsByProcess: after.process - before.process } };
}

export async function wireguardThroughRelays(opts: { seconds: number; rounds: number; userspaceRow?: boolean }): Promise<unknown> {
  const m = await MeshBenchLab.create({
    sites: [
      { name: 'a', nat: 'port-restricted', hosts: ['h1'] },
      { name: 'b', nat: 'port-restricted', hosts: ['h1'] },
    ],
    servers: ['s1', 's2', 's3'],
  });
  let direct: Case;
  let udpRelay: Case;
  let udpRelayUserspace: Case | string = 'left out (--wg-userspace 0)';
  let tcpRelay: Case;
  try {
    for (const n of NODES) await m.startAgent(n);
    // A relay node that forwards (a router does): the kernel fast path's precondition.
    await m.lab.exec('s3', ['sysctl', '-qw', 'net.ipv4.ip_forward=1'], { check: true });
    let relayNode = await m.startAgent('s3', { mesh: { udpRelay: { enabled: true } } });
    const [ma, mb] = [await m.meshAddr('a.router'), await m.meshAddr('b.router')];
    await m.waitPath('a.router', 'b.router', 'direct', 'a.router', mb, PATH_WAIT_MS);
    await m.waitPath('b.router', 'a.router', 'direct', 'b.router', ma, PATH_WAIT_MS);
    direct = await rounds(m, mb, opts.seconds, opts.rounds, m.relayProcess.pid);
    await m.dropUdp('a.router', m.lab.addr('b.router'));
    await m.waitPath('a.router', 'b.router', 'udp-relay', 'a.router', mb, PATH_WAIT_MS);
    await m.waitPath('b.router', 'a.router', 'udp-relay', 'b.router', ma, PATH_WAIT_MS);
    udpRelay = await udpRelayRounds(m, mb, opts, relayNode.pid);
    if (opts.userspaceRow !== false) {
      await relayNode.stop();
      await m.waitPath('a.router', 'b.router', 'tcp-relay', 'a.router', mb, PATH_WAIT_MS);
      relayNode = await m.startAgent('s3', { mesh: { udpRelay: { enabled: true, kernelForward: 'off' } } });
      await m.waitPath('a.router', 'b.router', 'udp-relay', 'a.router', mb, PATH_WAIT_MS);
      await m.waitPath('b.router', 'a.router', 'udp-relay', 'b.router', ma, PATH_WAIT_MS);
      udpRelayUserspace = await udpRelayRounds(m, mb, opts, relayNode.pid);
    }
    await relayNode.stop();
    await m.waitPath('a.router', 'b.router', 'tcp-relay', 'a.router', mb, PATH_WAIT_MS);
    await m.waitPath('b.router', 'a.router', 'tcp-relay', 'b.router', ma, PATH_WAIT_MS);
    tcpRelay = await rounds(m, mb, opts.seconds, opts.rounds, m.relayProcess.pid);
  } finally {
    await m.destroy();
  }
  // Node-relay level (no WireGuard, no agent): see the header.
  const u = (await udpRelayBench([`--seconds=${Math.min(opts.seconds, 5)}`, `--rounds=${opts.rounds}`])) as { direct: { mbps: number }; udpRelay: { mbps: number; relayCpuPercent: number }; udpRelayVsDirect: number };
  const udpRelayCpuPerGbit = u.udpRelay.mbps > 0 ? round(u.udpRelay.relayCpuPercent / 100 / (u.udpRelay.mbps / 1000), 2) : null;
  return {
    what: 'iperf3 TCP a.router -> b.router over their mesh addresses (conegate up, the bundle), same run',
    seconds: opts.seconds,
    rounds: opts.rounds,
    direct,
    udpRelay,
    udpRelayUserspace,
    tcpRelay,
    udpRelayNodeLevel: {
      level: 'node-relay level, not WireGuard: 1,200-byte datagrams through a relay node vs the same sockets direct, loopback (bench/udp-relay.ts)',
      mbps: u.udpRelay.mbps,
      directMbpsSameLevel: u.direct.mbps,
      relayCpuSecPerGbit: udpRelayCpuPerGbit,
      vsDirectSameLevel: u.udpRelayVsDirect,
    },
    ratios: {
      tcpRelayVsDirect: ratio(tcpRelay.mbps, direct.mbps),
      udpRelayVsDirect: ratio(udpRelay.mbps, direct.mbps),
      udpRelayUserspaceVsDirect: typeof udpRelayUserspace === 'string' ? null : ratio(udpRelayUserspace.mbps, direct.mbps),
      udpRelayVsDirectNodeLevel: u.udpRelayVsDirect,
      goals: 'TCP relay >= 0.5x direct, UDP relay >= 0.8x direct (issue 17)',
    },
  };
}
