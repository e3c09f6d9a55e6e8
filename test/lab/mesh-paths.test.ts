// Acceptance for the mesh's packet paths (mesh parts 2 and 3) in the netns lab: the real coordinator
// with a relay map and STUN (s1) and `conegate relay serve` with the coordinator's admission (s2), both
// on TCP 443 (the only port the blocking firewalls let out), on the lab internet; four `conegate up` nodes:
// (a) a.h1 and b.h1 behind firewalls that pass only TCP 443 out: ping, a TCP stream and iperf3 between
//     their mesh addresses through the relay; `status` says tcp-relay and udp-blocked;
// (b) c.h1 and d.h1 behind port-restricted (EIM) NATs: direct after discovery (time measured); then UDP
//     between the two sites is dropped: back on the relay (failover measured); a TCP stream starts
//     relayed, the drop is lifted, discovery finds the direct path again and the stream carries on
//     over it (same WireGuard session, no reset), bytes counted;
// (c) e.h1 behind a symmetric NAT (maps per destination) and c.h1 (port-restricted): direct by a
//     birthday attempt, over one of e's extra sockets.
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
import { startMeshAgents, type MeshAgents } from './mesh-agents.ts';
import { labWaitFor, agentStatus, pingOnce } from './lab-wait.ts';

const NODES = ['a.h1', 'b.h1', 'c.h1', 'd.h1', 'e.h1'] as const;

interface PathJson {
  kind: string;
  endpoint: string | null;
  region: string | null;
  rttMs: number | null;
  reason: { code: string; text: string } | null;
  events: { at: string; text: string }[];
}
interface PeerJson {
  name: string;
  homeRelay: string | null;
  lastHandshake: string | null;
  path: PathJson | null;
}
interface StatusJson {
  mesh: { self: { name: string; addresses: string[] }; peers: PeerJson[]; relay: { home: string | undefined } | null };
}

describe('mesh paths in the netns lab: relayed and punched', { concurrency: 1 }, () => {
  let lab: Lab;
  let dir: string;
  const procs: LabProcess[] = [];
  let configs = new Map<string, string>();

  const waitFor = labWaitFor;
  const status = (node: string) => agentStatus<StatusJson>(lab, node, configs.get(node)!);
  const peerOf = async (node: string, peer: string) => (await status(node)).mesh.peers.find((p) => p.name === peer.replace('.', '-'));
  const meshV4 = (s: StatusJson) => s.mesh.self.addresses.find((a) => !a.includes(':'))!.split('/')[0]!;
  const ping = (from: string, to: string) => pingOnce(lab, from, to);
  const iperf = async (client: string, server: string, serverAddr: string, seconds: number) => {
    const srv = lab.spawn(server, ['iperf3', '-s', '-1', '-B', serverAddr, '--forceflush'], { description: `iperf3 server on ${server}` });
    procs.push(srv);
    await srv.waitForOutput(/listening/, 10_000);
    const r = await lab.exec(client, ['iperf3', '-c', serverAddr, '-t', String(seconds), '-J', '--connect-timeout', '5000'], { timeoutMs: (seconds + 30) * 1000 });
    await srv.stop();
    const j = JSON.parse(r.stdout || '{}') as { error?: string; end?: { sum_received?: { bytes: number; bits_per_second: number }; sum_sent?: { retransmits?: number } } };
    return { code: r.code, error: j.error, bytes: j.end?.sum_received?.bytes ?? 0, mbps: (j.end?.sum_received?.bits_per_second ?? 0) / 1e6, retransmits: j.end?.sum_sent?.retransmits ?? 0 };
  };

  let mesh: MeshAgents;

  before(async () => {
    requirePeers({ ping: 'iputils-ping', iperf3: 'iperf3', nft: 'nftables', openssl: 'openssl' });
    lab = await createLab({
      sites: [
        { name: 'a', nat: 'port-restricted', firewall: 'udp-blocked', hosts: ['h1'] },
        { name: 'b', nat: 'port-restricted', firewall: 'udp-blocked', hosts: ['h1'] },
        { name: 'c', nat: 'port-restricted', hosts: ['h1'] },
        { name: 'd', nat: 'port-restricted', hosts: ['h1'] },
        { name: 'e', nat: 'symmetric', hosts: ['h1'] },
      ],
      servers: ['s1', 's2'],
    });
    dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'mesh-paths-'));
    const servers = await startMeshServers(lab, dir, procs);
    mesh = await startMeshAgents(lab, dir, NODES, { procs, servers, ifPrefix: 'cgp' });
    configs = mesh.configs;
  });

  after(async () => {
    for (const p of procs.reverse()) await p.stop();
    // Every process's output, for a failure's post-mortem (CONEGATE_LAB_LOGDIR set by hand).
    const logDir = process.env.CONEGATE_LAB_LOGDIR;
    if (logDir) for (const [i, p] of procs.entries()) writeFileSync(join(logDir, `${i}-${p.node}.log`), `${p.description}\n${p.stdout}\n${p.stderr}`);
    await lab?.destroy();
  });

  it('(a) UDP blocked at both sites: ping, a TCP stream and iperf3 through the relay; status says tcp-relay and udp-blocked', async () => {
    await waitFor('a.h1 knows b.h1\'s home region', async () => ((await peerOf('a.h1', 'b.h1'))?.homeRelay === 'r1' ? true : undefined));
    const [sa, sb] = [await status('a.h1'), await status('b.h1')];
    const t0 = Date.now();
    await waitFor('a.h1 -> b.h1 ping through the relay', async () => ((await ping('a.h1', meshV4(sb))) ? true : undefined));
    const firstPingMs = Date.now() - t0;
    assert.ok(await ping('b.h1', meshV4(sa)), 'b.h1 -> a.h1 ping');
    const run = await iperf('a.h1', 'b.h1', meshV4(sb), 3);
    assert.equal(run.code, 0, `iperf3 through the relay: ${run.error ?? ''}`);
    assert.ok(run.bytes > 0);
    const p = await waitFor('a.h1 reports udp-blocked for b.h1', async () => {
      const x = await peerOf('a.h1', 'b.h1');
      return x?.path?.kind === 'tcp-relay' && x.path.reason?.code === 'udp-blocked' ? x : undefined;
    });
    assert.equal(p.path!.region, 'r1');
    const text = await lab.execConegate('a.h1', ['status', '--config', configs.get('a.h1')!], { timeoutMs: 30_000 });
    assert.match(text.stdout, /path tcp-relay region r1 .*\(udp-blocked: /);
    process.stderr.write(`status on a.h1:\n${text.stdout}`);
    process.stderr.write(`relayed: first ping after ${firstPingMs} ms; iperf3 ${run.mbps.toFixed(1)} Mbit/s, ${run.bytes} bytes, ${run.retransmits} retransmits\n`);
  });

  it('(b) port-restricted NATs: direct after discovery; back to the relay when UDP is cut; a TCP stream started relayed survives the switch to direct', async () => {
    const [sc, sd] = [await status('c.h1'), await status('d.h1')];
    await waitFor('c.h1 knows d.h1\'s home region', async () => ((await peerOf('c.h1', 'd.h1'))?.homeRelay === 'r1' ? true : undefined));
    const t0 = Date.now();
    await waitFor('c.h1 -> d.h1 ping', async () => ((await ping('c.h1', meshV4(sd))) ? true : undefined));
    const firstPingMs = Date.now() - t0;
    const first = await waitFor('c.h1 -> d.h1 direct', async () => {
      const x = await peerOf('c.h1', 'd.h1');
      return x?.path?.kind === 'direct' ? x : undefined;
    }, 45_000);
    const toDirectMs = Date.now() - t0;
    assert.ok(first.path!.endpoint!.startsWith(`${lab.addr('d.router')}:`), `direct to d's public mapping (${first.path!.endpoint})`);
    // UDP between the two sites' public addresses dropped on c's router: only the relay carries c <-> d.
    const cut = `table inet cgpaths {\n  chain cut {\n    type filter hook forward priority -10; policy accept;\n    ip daddr ${lab.addr('d.router')} meta l4proto udp drop\n    ip saddr ${lab.addr('d.router')} meta l4proto udp drop\n  }\n}\n`;
    await lab.nftApply('c.router', cut);
    const tCut = Date.now();
    // Traffic keeps the engine's heartbeats going (they run only while the tunnel is in use).
    await waitFor('c.h1 -> d.h1 back on the relay', async () => {
      await ping('c.h1', meshV4(sd));
      return (await peerOf('c.h1', 'd.h1'))?.path?.kind === 'tcp-relay' ? true : undefined;
    }, 45_000);
    const failoverMs = Date.now() - tCut;
    await waitFor('c.h1 -> d.h1 ping through the relay', async () => ((await ping('c.h1', meshV4(sd))) ? true : undefined), 30_000);
    const seconds = 25;
    const stream = iperf('c.h1', 'd.h1', meshV4(sd), seconds);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await peerOf('c.h1', 'd.h1'))?.path?.kind, 'tcp-relay', 'the stream started on the relay');
    const tLift = Date.now();
    await lab.exec('c.router', ['nft', 'delete', 'table', 'inet', 'cgpaths']);
    const direct = await waitFor('c.h1 -> d.h1 direct again', async () => {
      const x = await peerOf('c.h1', 'd.h1');
      return x?.path?.kind === 'direct' ? x : undefined;
    }, 45_000);
    const switchMs = Date.now() - tLift;
    const run = await stream;
    assert.equal(run.code, 0, `the stream survived the switch: ${run.error ?? ''}`);
    assert.ok(run.bytes > 0);
    assert.ok(await ping('d.h1', meshV4(sc)), 'd.h1 -> c.h1 ping');
    process.stderr.write(
      `punched: first ping ${firstPingMs} ms, direct ${toDirectMs} ms after the first ping was sent; UDP cut: relay after ${failoverMs} ms; ` +
        `UDP back: direct after ${switchMs} ms; stream ${run.bytes} bytes in ${seconds} s, ${run.mbps.toFixed(1)} Mbit/s, ${run.retransmits} retransmits; ` +
        `path ${direct.path!.endpoint} rtt ${direct.path!.rttMs} ms (status polling adds up to ~1 s to each time)\n`,
    );
  });

  it('(c) symmetric NAT against port-restricted: direct through a birthday attempt over an extra socket', async () => {
    const sc = await status('c.h1');
    await waitFor('e.h1 knows c.h1\'s home region', async () => ((await peerOf('e.h1', 'c.h1'))?.homeRelay === 'r1' ? true : undefined));
    // One attempt succeeds with ~98% (256 sockets x 1,024 probes); a failed one makes both engines wait
    // 5 minutes, so the second try is on fresh processes (same identities, no auth key needed).
    const attempt = async () => {
      await waitFor('e.h1 -> c.h1 ping', async () => ((await ping('e.h1', meshV4(sc))) ? true : undefined));
      return waitFor('e.h1 -> c.h1 direct, or the attempt failed', async () => {
        await ping('e.h1', meshV4(sc));
        const x = await peerOf('e.h1', 'c.h1');
        return x?.path?.kind === 'direct' || x?.path?.reason?.code === 'birthday-failed' || x?.path?.reason?.code === 'birthday-backoff' ? x : undefined;
      }, 60_000);
    };
    let t0 = Date.now();
    let p = await attempt();
    if (p.path?.kind !== 'direct') {
      process.stderr.write(`birthday: the first attempt failed (${JSON.stringify(p.path)}); once more on fresh processes\n`);
      for (const node of ['e.h1', 'c.h1']) {
        await mesh.agents.get(node)!.stop();
        await mesh.restart(node);
      }
      t0 = Date.now();
      p = await attempt();
    }
    assert.equal(p.path?.kind, 'direct', JSON.stringify(p.path));
    const ms = Date.now() - t0;
    const raw = (await status('e.h1')).mesh.peers.find((x) => x.name === 'c-h1')!.path as PathJson & { socket: number | null; birthday: unknown };
    process.stderr.write(`birthday: direct ${ms} ms after the first ping; path ${p.path!.endpoint} socket ${raw.socket}; report ${JSON.stringify(raw.birthday)}\n`);
    assert.ok(raw.socket !== null && raw.socket !== 0, 'the path runs over one of the extra sockets');
    assert.ok(await ping('e.h1', meshV4(sc)), 'e.h1 -> c.h1 ping over the punched path');
    assert.ok(await ping('c.h1', meshV4(await status('e.h1'))), 'c.h1 -> e.h1 ping over the punched path');
  });
});
