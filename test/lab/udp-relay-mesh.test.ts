// Acceptance for the UDP relay through a node, with real agents (the bundle) in the netns lab (issue 17):
// a.h1 and b.h1 each behind a symmetric NAT (mapping per destination on both sides: no direct path, no
// birthday attempt), a third node on an open site (s3, a public lab address) with mesh.udpRelay enabled,
// and the coordinator, STUN and the TCP relay from startMeshServers (s1, s2).
// - a <-> b start on the TCP relay, then move to s3's UDP relay: `status` says udp-relay with the relay
//   node and why (both-hard / udp-relay), s3's relay counters grow, and from then on a's and b's
//   WireGuard packets to each other through the TCP relay stay flat while a TCP stream runs; s3 has
//   net.ipv4.ip_forward=1, so its kernel fast path (mesh.udpRelay.kernelForward "auto") carries the
//   pair's WireGuard: its kernel counters grow and the relay process forwards only discovery;
// - s3 killed (SIGKILL) during a TCP stream: a <-> b are back on the TCP relay and the stream survives,
//   and s3's kernel table went with the agent (flags owner).
// Measured times are printed on stderr.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createLab, type Lab } from './lab.ts';
import type { LabProcess } from './proc.ts';
import { requirePeers } from './require-peers.ts';
import { startMeshServers } from './mesh-servers.ts';
import { startMeshAgents } from './mesh-agents.ts';
import { labWaitFor, agentStatus, pingOnce } from './lab-wait.ts';

const NODES = ['a.h1', 'b.h1', 's3'] as const;

interface Packets { direct: number; udpRelay: number; tcpRelay: number }
interface PeerJson {
  name: string;
  homeRelay: string | null;
  udpRelay: string | null;
  relay: { kind: 'udp'; node: string | null; address: string; state: string } | { kind: 'tcp'; region: string; server: string | null } | null;
  path: {
    kind: string;
    endpoint: string | null;
    reason: { code: string; text: string } | null;
    relayChoice: { code: string; text: string } | null;
    packets: Packets | null;
    events: { at: string; text: string }[];
  } | null;
}
interface StatusJson {
  mesh: {
    self: { name: string; addresses: string[] };
    peers: PeerJson[];
    udpRelay: {
      port: number | null; advertised: string | null; allocations: number; forwarded: number;
      kernel?: { active: boolean; reason: string; pairs: number; packets: number; userspace: { vni: number; reason: string }[] };
    } | null;
  };
}

describe('UDP relay through a node between two hard NATs, with agents', { concurrency: 1 }, () => {
  let lab: Lab;
  let dir: string;
  const procs: LabProcess[] = [];
  let configs = new Map<string, string>();
  let agents = new Map<string, LabProcess>();

  const waitFor = labWaitFor;
  const status = (node: string) => agentStatus<StatusJson>(lab, node, configs.get(node)!);
  const peerOf = async (node: string, peer: string) => (await status(node)).mesh.peers.find((p) => p.name === peer.replace('.', '-'));
  const meshV4 = (s: StatusJson) => s.mesh.self.addresses.find((a) => !a.includes(':'))!.split('/')[0]!;
  const ping = (from: string, to: string) => pingOnce(lab, from, to);
  const iperf = async (client: string, server: string, serverAddr: string, seconds: number) => {
    const srv = lab.spawn(server, ['iperf3', '-s', '-1', '-B', serverAddr, '--forceflush'], { description: `iperf3 server on ${server}` });
    procs.push(srv);
    await srv.waitForOutput(/listening/, 10_000);
    // Paced (-b): a steady stream, not a saturation test (throughput is bench/udp-relay.ts's business).
    const r = await lab.exec(client, ['iperf3', '-c', serverAddr, '-t', String(seconds), '-b', '20M', '-J', '--connect-timeout', '5000'], { timeoutMs: (seconds + 30) * 1000 });
    await srv.stop();
    const j = JSON.parse(r.stdout || '{}') as { error?: string; end?: { sum_received?: { bytes: number; bits_per_second: number }; sum_sent?: { retransmits?: number } } };
    return { code: r.code, error: j.error, bytes: j.end?.sum_received?.bytes ?? 0, mbps: (j.end?.sum_received?.bits_per_second ?? 0) / 1e6, retransmits: j.end?.sum_sent?.retransmits ?? 0 };
  };
  /** Pings both ways (traffic keeps both engines active) until `cond` holds on both sides. */
  const bothOn = async (what: string, cond: (p: PeerJson | undefined) => boolean, sa: StatusJson, sb: StatusJson, timeoutMs: number) =>
    waitFor(what, async () => {
      await Promise.all([ping('a.h1', meshV4(sb)), ping('b.h1', meshV4(sa))]);
      const [pa, pb] = await Promise.all([peerOf('a.h1', 'b.h1'), peerOf('b.h1', 'a.h1')]);
      return cond(pa) && cond(pb) ? [pa!, pb!] as const : undefined;
    }, timeoutMs);

  before(async () => {
    requirePeers({ ping: 'iputils-ping', iperf3: 'iperf3', nft: 'nftables', openssl: 'openssl' });
    lab = await createLab({
      sites: [
        { name: 'a', nat: 'symmetric', hosts: ['h1'] },
        { name: 'b', nat: 'symmetric', hosts: ['h1'] },
      ],
      servers: ['s1', 's2', 's3'],
    });
    // A relay node that forwards (a router always does): the kernel fast path's precondition.
    await lab.exec('s3', ['sysctl', '-qw', 'net.ipv4.ip_forward=1'], { check: true });
    dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'udp-relay-mesh-'));
    const servers = await startMeshServers(lab, dir, procs);
    ({ configs, agents } = await startMeshAgents(lab, dir, NODES, {
      procs, servers, ifPrefix: 'cgu',
      config: (node) => (node === 's3' ? { mesh: { udpRelay: { enabled: true } } } : undefined),
    }));
  });

  after(async () => {
    for (const p of procs.reverse()) await p.stop();
    const logDir = process.env.CONEGATE_LAB_LOGDIR;
    if (logDir) for (const [i, p] of procs.entries()) writeFileSync(join(logDir, `${i}-${p.node}.log`), `${p.description}\n${p.stdout}\n${p.stderr}`);
    await lab?.destroy();
  });

  it('a <-> b move from the TCP relay to s3\'s UDP relay; a TCP stream runs over it; the TCP relay stays flat for the pair', async () => {
    const s3Relay = `${lab.addr('s3')}:41642`;
    await waitFor('a.h1 and b.h1 know each other\'s home region and s3\'s UDP relay', async () => {
      const [pa, pb, ra] = await Promise.all([peerOf('a.h1', 'b.h1'), peerOf('b.h1', 'a.h1'), peerOf('a.h1', 's3')]);
      return pa?.homeRelay === 'r1' && pb?.homeRelay === 'r1' && ra?.udpRelay === s3Relay ? true : undefined;
    });
    const [sa, sb] = [await status('a.h1'), await status('b.h1')];
    const t0 = Date.now();
    await waitFor('a.h1 -> b.h1 ping (first through the TCP relay)', async () => ((await ping('a.h1', meshV4(sb))) ? true : undefined));
    const firstPingMs = Date.now() - t0;
    const [pa] = await bothOn('a and b on the UDP relay', (p) => p?.path?.kind === 'udp-relay', sa, sb, 60_000);
    const toUdpMs = Date.now() - t0;
    assert.equal(pa.path!.endpoint, s3Relay);
    assert.equal(pa.path!.reason?.code, 'both-hard', 'why not direct');
    assert.equal(pa.path!.relayChoice?.code, 'udp-relay', 'why the UDP relay');
    assert.deepEqual(pa.relay && pa.relay.kind === 'udp' ? [pa.relay.node, pa.relay.address] : pa.relay, ['s3', s3Relay]);
    const text = await lab.execConegate('a.h1', ['status', '--config', configs.get('a.h1')!], { timeoutMs: 30_000 });
    assert.match(text.stdout, new RegExp(`path udp-relay ${s3Relay.replace(/\./g, '\\.')} .*\\(both-hard: .*\\[udp-relay: through the UDP relay`));
    assert.match(text.stdout, /via UDP relay node s3 /);
    const pingA = await lab.execConegate('a.h1', ['ping', 'b-h1', '-c', '1', '--config', configs.get('a.h1')!], { timeoutMs: 30_000 });
    assert.equal(pingA.code, 0, pingA.stderr);
    assert.match(pingA.stdout, new RegExp(`^pong from b-h1 \\(${meshV4(sb).replace(/\./g, '\\.')}\\) via UDP relay node s3 ${s3Relay.replace(/\./g, '\\.')} in \\d+ ms$`, 'm'));

    const before3 = (await status('s3')).mesh.udpRelay!;
    assert.ok(before3.allocations >= 1 && before3.forwarded > 0, `s3 relays: ${JSON.stringify(before3)}`);
    const beforeA = (await peerOf('a.h1', 'b.h1'))!.path!.packets!;
    const beforeB = (await peerOf('b.h1', 'a.h1'))!.path!.packets!;
    const seconds = 8;
    const run = await iperf('a.h1', 'b.h1', meshV4(sb), seconds);
    assert.equal(run.code, 0, `TCP stream over the UDP relay: ${run.error ?? ''}`);
    assert.ok(run.bytes > 0);
    const [afterA, afterB] = [(await peerOf('a.h1', 'b.h1'))!, (await peerOf('b.h1', 'a.h1'))!];
    // s3 reads its kernel counters every 5 s.
    const kernelOf = (u: NonNullable<StatusJson['mesh']['udpRelay']>) => u.kernel?.packets ?? 0;
    const after3 = await waitFor('s3 counts the stream in its kernel counters', async () => {
      const u = (await status('s3')).mesh.udpRelay!;
      return kernelOf(u) - kernelOf(before3) > 2000 ? u : undefined;
    }, 15_000);
    assert.equal(afterA.path!.kind, 'udp-relay');
    assert.ok(afterA.path!.packets!.udpRelay - beforeA.udpRelay > 1000, `a's packets went through the UDP relay: ${JSON.stringify([beforeA, afterA.path!.packets])}`);
    assert.equal(after3.kernel?.active, true, JSON.stringify(after3.kernel));
    assert.ok(after3.kernel!.pairs >= 1);
    const byKernel = kernelOf(after3) - kernelOf(before3);
    const byProcess = after3.forwarded - before3.forwarded;
    // Discovery (pings, about one a second each way) is all the relay process forwards now.
    assert.ok(byProcess < byKernel / 20, `s3 forwarded the stream in the kernel: ${byKernel} datagrams by the kernel, ${byProcess} by the process`);
    const text3 = await lab.execConegate('s3', ['status', '--config', configs.get('s3')!], { timeoutMs: 30_000 });
    assert.match(text3.stdout, /kernel fast path: on, \d+ pairs/);
    assert.equal(afterA.path!.packets!.tcpRelay, beforeA.tcpRelay, 'no WireGuard packet from a to b through the TCP relay after the switch');
    assert.equal(afterB.path!.packets!.tcpRelay, beforeB.tcpRelay, 'none from b to a either');
    process.stderr.write(
      `udp relay: first ping ${firstPingMs} ms, both on the UDP relay ${toUdpMs} ms after the first ping was sent (status polling adds up to ~1 s); ` +
        `stream ${run.bytes} bytes in ${seconds} s, ${run.mbps.toFixed(1)} Mbit/s (paced at 20), ${run.retransmits} retransmits; s3 forwarded ${byKernel} datagrams in the kernel, ${byProcess} in the process\n`,
    );
  });

  it('s3 killed during a TCP stream: a <-> b back on the TCP relay, the stream survives', async () => {
    const [sa, sb] = [await status('a.h1'), await status('b.h1')];
    await bothOn('a and b on the UDP relay', (p) => p?.path?.kind === 'udp-relay', sa, sb, 60_000);
    const beforeA = (await peerOf('a.h1', 'b.h1'))!.path!.packets!;
    const seconds = 20;
    const stream = iperf('a.h1', 'b.h1', meshV4(sb), seconds);
    await new Promise((r) => setTimeout(r, 4000));
    const s3 = agents.get('s3')!;
    // Pings every 200 ms across the kill (bounded: 75 of them): the lost ones measure the gap.
    const gap = lab.exec('a.h1', ['ping', '-c', '75', '-i', '0.2', '-W', '1', meshV4(sb)], { timeoutMs: 40_000 });
    await new Promise((r) => setTimeout(r, 1000));
    const tKill = Date.now();
    process.kill(s3.pid!, 'SIGKILL');
    await s3.done;
    // The agent's kernel table belonged to its netlink socket: it is gone with the process.
    assert.doesNotMatch((await lab.exec('s3', ['nft', 'list', 'tables'], { check: true })).stdout, /conegate_udp_relay/);
    const back = await waitFor('a -> b on the TCP relay alone', async () => {
      const p = await peerOf('a.h1', 'b.h1');
      return p?.path?.kind === 'tcp-relay' ? p : undefined;
    }, 30_000);
    const fallbackMs = Date.now() - tKill;
    const run = await stream;
    const g = await gap;
    const counts = /(\d+) packets transmitted, (\d+) received/.exec(g.stdout);
    const lostPings = counts ? Number(counts[1]) - Number(counts[2]) : -1;
    assert.equal(run.code, 0, `the stream survived the relay's death: ${run.error ?? ''}`);
    assert.ok(run.bytes > 0);
    assert.equal(back.path!.relayChoice?.code, 'udp-relay-failed');
    assert.deepEqual(back.relay && back.relay.kind === 'tcp' ? back.relay.region : back.relay, 'r1');
    const afterA = (await peerOf('a.h1', 'b.h1'))!.path!.packets!;
    assert.ok(afterA.tcpRelay > beforeA.tcpRelay, 'the TCP relay carries a -> b now');
    assert.ok(await ping('b.h1', meshV4(sa)), 'b.h1 -> a.h1 ping after the fallback');
    const pingA = await lab.execConegate('a.h1', ['ping', 'b-h1', '-c', '1', '--config', configs.get('a.h1')!], { timeoutMs: 30_000 });
    assert.equal(pingA.code, 0, pingA.stderr);
    assert.match(pingA.stdout, /^pong from b-h1 \(.*\) via TCP relay region r1 in \d+ ms$/m);
    assert.match(pingA.stdout, /udp-relay-failed/);
    process.stderr.write(`relay node killed: ${lostPings} of 75 pings (every 200 ms) lost, a gap of about ${lostPings * 200} ms; a on the TCP relay alone after ${fallbackMs} ms; stream ${run.bytes} bytes, ${run.mbps.toFixed(1)} Mbit/s, ${run.retransmits} retransmits\n`);
  });
});
