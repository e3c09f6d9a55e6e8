// Issue #18 acceptance "Failover" in the netns lab: two sites behind port-restricted (EIM) NATs, the real
// coordinator, STUN and relay (startMeshServers), `conegate up` on c.h1 and d.h1 (startMeshAgents), direct
// between them; a paced TCP stream runs inside the tunnel (c.h1 -> d.h1's mesh address) for the whole
// test. 20 times: UDP between the two sites is dropped on c's router (nft); we wait (bounded) until c.h1's
// status says the peer is on the relay and the stream moves again; the drop is lifted and we wait until it
// says direct. Asserted: 20/20 recoveries, each on the relay within a generous 30 s (the 3 s is a
// figure, not an assertion: no timed assertions on this shared 2-core machine), direct again within the
// issue's 60 s, and the stream never reset (the receiver got every byte the sender wrote, on one
// connection). Printed with p50/p95: when `conegate status --json` polling saw the relay, when the agent's
// own answer did (its control socket, asked every 20 ms: no CLI start-up in it), the engine's event time,
// the first WireGuard packet through the relay, the receiver's longest stall, and one status command's
// duration (what polling adds).
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
import { controlRequest } from '../../agent/src/service/control-client.ts';
import { labWaitFor, agentStatus } from './lab-wait.ts';

const CYCLES = Number(process.env.CONEGATE_FAILOVER_CYCLES ?? 20);
const NODES = ['c.h1', 'd.h1'] as const;
const STREAM = new URL('./tcp-stream.ts', import.meta.url).pathname;

interface PathJson {
  kind: string;
  endpoint: string | null;
  events: { at: string; text: string }[];
  packets?: { direct: number; udpRelay: number; tcpRelay: number } | null;
}
interface StatusJson {
  mesh: { self: { addresses: string[] }; peers: { name: string; homeRelay: string | null; path: PathJson | null }[] };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

describe('failover in the netns lab: direct -> relay -> direct, 20 cycles, one TCP stream', { concurrency: 1 }, () => {
  let lab: Lab;
  let dir: string;
  const procs: LabProcess[] = [];
  let configs = new Map<string, string>();

  const waitFor = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 100) => labWaitFor(what, fn, timeoutMs, everyMs);
  const status = (node: string) => agentStatus<StatusJson>(lab, node, configs.get(node)!);
  const pathOf = async (node: string, peer: string) => (await status(node)).mesh.peers.find((p) => p.name === peer.replace('.', '-'))?.path ?? undefined;
  const meshV4 = (s: StatusJson) => s.mesh.self.addresses.find((a) => !a.includes(':'))!.split('/')[0]!;
  const received = (p: LabProcess) => {
    const all = [...p.stdout.matchAll(/^(?:recv|end) (\d+)(?: \d+)?$/gm)];
    return all.length ? Number(all.at(-1)![1]) : 0;
  };
  /** The longest time the receiver saw no new bytes, between `fromMs` and `toMs` (its own 100 ms reports). */
  const longestStallMs = (p: LabProcess, fromMs: number, toMs: number) => {
    let lastBytes = -1;
    let lastGrowMs = fromMs;
    let worst = 0;
    for (const m of p.stdout.matchAll(/^recv (\d+) (\d+)$/gm)) {
      const [bytes, at] = [Number(m[1]), Number(m[2])];
      if (at < fromMs || at > toMs) continue;
      if (bytes > lastBytes) {
        if (lastBytes >= 0) worst = Math.max(worst, at - lastGrowMs);
        lastBytes = bytes;
        lastGrowMs = at;
      }
    }
    return worst;
  };
  const streamError = (p: LabProcess) => /^error /m.exec(p.stdout)?.[0];
  /** Wall time of the newest event matching `re` after `sinceMs`, if any. */
  const eventAt = (path: PathJson | undefined, re: RegExp, sinceMs: number) => {
    const e = path?.events.filter((x) => re.test(x.text) && Date.parse(x.at) >= sinceMs).at(0);
    return e ? Date.parse(e.at) : undefined;
  };

  /**
   * The first moment the agent's own answer (its control socket, asked every 20 ms from here: no CLI
   * start-up in the figure) shows the peer on `kind`, from now until `timeoutMs`; undefined if never.
   * Returns the wall time that answer came back.
   */
  const socketSees = async (node: string, peer: string, kind: string, timeoutMs: number) => {
    const sock = join(dir, node, 'conegate.sock');
    const end = Date.now() + timeoutMs;
    let relayPackets: number | undefined;
    let copyAt: number | undefined;
    while (Date.now() < end) {
      const st = (await controlRequest(sock, 'status', 5_000).catch(() => undefined)) as StatusJson | undefined;
      const path = st?.mesh.peers.find((p) => p.name === peer.replace('.', '-'))?.path;
      // The first WireGuard packet through the relay since the start (a copy or the relay alone).
      const n = path?.packets?.tcpRelay;
      if (n !== undefined && relayPackets === undefined) relayPackets = n;
      else if (n !== undefined && n > relayPackets! && copyAt === undefined) copyAt = Date.now();
      if (path?.kind === kind) return { at: Date.now(), copyAt };
      await new Promise((r) => setTimeout(r, 20));
    }
    return undefined;
  };
  /** How long one `conegate status --json` takes here (the CLI's start-up is part of what polling sees). */
  const cliMs: number[] = [];
  const timedPathOf = async (node: string, peer: string) => {
    const t0 = Date.now();
    const p = await pathOf(node, peer);
    cliMs.push(Date.now() - t0);
    return p;
  };

  before(async () => {
    requirePeers({ nft: 'nftables', openssl: 'openssl' });
    lab = await createLab({
      sites: [
        { name: 'c', nat: 'port-restricted', hosts: ['h1'] },
        { name: 'd', nat: 'port-restricted', hosts: ['h1'] },
      ],
      servers: ['s1', 's2'],
    });
    dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'failover-'));
    const servers = await startMeshServers(lab, dir, procs);
    ({ configs } = await startMeshAgents(lab, dir, NODES, { procs, servers, ifPrefix: 'cgf' }));
  });

  after(async () => {
    for (const p of procs.reverse()) await p.stop();
    const logDir = process.env.CONEGATE_LAB_LOGDIR;
    if (logDir) for (const [i, p] of procs.entries()) writeFileSync(join(logDir, `failover-${i}-${p.node}.log`), `${p.description}\n${p.stdout}\n${p.stderr}`);
    await lab?.destroy();
  });

  it(`${CYCLES} cycles: UDP cut -> relay with the stream moving, UDP back -> direct; the stream never resets`, async () => {
    await waitFor('c.h1 knows d.h1 and its home region', async () => ((await status('c.h1')).mesh.peers.find((p) => p.name === 'd-h1')?.homeRelay === 'r1' ? true : undefined), 60_000, 250);
    const sd = await status('d.h1');
    const dAddr = meshV4(sd);
    await waitFor('c.h1 -> d.h1 ping', async () => ((await lab.exec('c.h1', ['ping', '-c1', '-W1', dAddr], { timeoutMs: 5000 })).code === 0 ? true : undefined), 60_000, 250);
    await waitFor('c.h1 -> d.h1 direct', async () => ((await pathOf('c.h1', 'd.h1'))?.kind === 'direct' ? true : undefined), 60_000, 250);

    const server = lab.spawnNode('d.h1', STREAM, ['serve', dAddr, '5201'], { description: 'tcp-stream serve on d.h1' });
    procs.push(server);
    await server.waitForOutput(/listening/, 30_000);
    // 2 Mbit/s: enough to see it move every poll, light on a shared 2-core machine. The sender's own
    // bound (900 s) is far beyond the test; it is stopped by PID at the end.
    const client = lab.spawnNode('c.h1', STREAM, ['send', dAddr, '5201', '2000', '900'], { description: 'tcp-stream send on c.h1', stopTimeoutMs: 30_000 });
    procs.push(client);
    await client.waitForOutput(/connected/, 30_000);
    await waitFor('the stream moving', async () => (received(server) > 64 * 1024 ? true : undefined), 30_000);

    const cut = `table inet cgfailover {\n  chain cut {\n    type filter hook forward priority -10; policy accept;\n    ip daddr ${lab.addr('d.router')} meta l4proto udp drop\n    ip saddr ${lab.addr('d.router')} meta l4proto udp drop\n  }\n}\n`;
    const toRelay: number[] = [];
    const toRelayEngine: number[] = [];
    const toRelaySocket: number[] = [];
    const toDirectSocket: number[] = [];
    const relayCopy: number[] = [];
    const streamBack: number[] = [];
    const toDirect: number[] = [];
    const toDirectEngine: number[] = [];
    let recoveries = 0;
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      await lab.nftApply('c.router', cut);
      const tCut = Date.now();
      const bySocket = socketSees('c.h1', 'd.h1', 'tcp-relay', 30_000);
      // Generous bound; the 3 s is reported from the measured figures (a loaded 2-core machine).
      const relayPath = await waitFor(`cycle ${cycle}: c.h1's status says relay`, async () => {
        const p = await timedPathOf('c.h1', 'd.h1');
        return p?.kind === 'tcp-relay' ? p : undefined;
      }, 30_000);
      toRelay.push(Date.now() - tCut);
      const sockAt = await bySocket;
      if (sockAt !== undefined) toRelaySocket.push(sockAt.at - tCut);
      if (sockAt?.copyAt !== undefined) relayCopy.push(sockAt.copyAt - tCut);
      const ev = eventAt(relayPath, /on relay/, tCut - 1000);
      if (ev !== undefined) toRelayEngine.push(ev - tCut);
      const atRelay = received(server);
      await waitFor(`cycle ${cycle}: the stream moving through the relay`, async () => (received(server) > atRelay + 16 * 1024 ? true : undefined), 30_000);
      // How long the stream stood still around the cut (the receiver's own timestamps, no polling in it).
      streamBack.push(longestStallMs(server, tCut - 500, Date.now()));
      assert.equal(streamError(server) ?? streamError(client), undefined, `cycle ${cycle}: stream error`);

      await lab.exec('c.router', ['nft', 'delete', 'table', 'inet', 'cgfailover'], { check: true });
      const tLift = Date.now();
      const directBySocket = socketSees('c.h1', 'd.h1', 'direct', 60_000);
      // The bound: a healed path is used again within 60 s.
      const directPath = await waitFor(`cycle ${cycle}: c.h1's status says direct`, async () => {
        const p = await pathOf('c.h1', 'd.h1');
        return p?.kind === 'direct' ? p : undefined;
      }, 60_000, 250);
      toDirect.push(Date.now() - tLift);
      const dSockAt = await directBySocket;
      if (dSockAt !== undefined) toDirectSocket.push(dSockAt.at - tLift);
      const evd = eventAt(directPath, /^(first pong|better path): direct via/, tLift - 1000);
      if (evd !== undefined) toDirectEngine.push(evd - tLift);
      const atDirect = received(server);
      await waitFor(`cycle ${cycle}: the stream moving over the direct path`, async () => (received(server) > atDirect + 16 * 1024 ? true : undefined), 30_000);
      recoveries++;
      process.stderr.write(`failover cycle ${cycle}: relay after ${toRelay.at(-1)} ms (engine ${toRelayEngine.at(-1) ?? '?'} ms, control socket ${toRelaySocket.at(-1) ?? '?'} ms, first relay packet ${relayCopy.at(-1) ?? '?'} ms), stream stood still ${streamBack.at(-1)} ms at most; direct after ${toDirect.at(-1)} ms (engine ${toDirectEngine.at(-1) ?? '?'} ms)\n`);
    }

    await client.stop();
    const end = await server.waitForOutput(/^end (\d+)$/m, 60_000);
    const sent = Number((await client.waitForOutput(/^sent (\d+)$/m, 10_000))[1]);
    assert.equal(recoveries, CYCLES);
    assert.equal(streamError(server) ?? streamError(client), undefined, 'the stream never reset');
    assert.equal(Number(end[1]), sent, 'every byte written arrived, on the one connection');
    const fmt = (xs: number[]) => (xs.length ? `p50 ${pct(xs, 50)} ms, p95 ${pct(xs, 95)} ms, max ${Math.max(...xs)} ms (n=${xs.length})` : 'n=0');
    process.stderr.write(
      `failover summary (${CYCLES} cycles, ${sent} bytes on one TCP connection): ` +
        `to relay (status poll) ${fmt(toRelay)}; (control socket) ${fmt(toRelaySocket)}; first packet through the relay ${fmt(relayCopy)}; (engine event) ${fmt(toRelayEngine)}; longest stream stall ${fmt(streamBack)}; ` +
        `back to direct (status poll) ${fmt(toDirect)}; (control socket) ${fmt(toDirectSocket)}; (engine event) ${fmt(toDirectEngine)}; ` +
        `one conegate status --json ${fmt(cliMs)}\n`,
    );
  });
});
