/**
 * UDP relay throughput: 1,200-byte datagrams from one socket to another on loopback, directly and through
 * the UDP relay (a relay process of its own: test/lab/udp-relay-node.ts relay), in one run, alternating
 * rounds (median reported, every round kept: this machine is shared). Reports delivered packets/s,
 * Mbit/s of payload, loss, and the relay process's CPU over each relayed round. The TCP relay column:
 * `conegate relay serve` (the bundle, self-signed TLS, an allow file) in its own process, the same
 * 1,200-byte packets from A to B as send frames over TLS (A waits for 'drain' when its socket is full).
 *
 *   npm run bench udp-relay [-- --seconds=3 --rounds=3]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSend } from '../agent/src/relay/frames.ts';
import { dialRelay } from '../agent/src/relay/mesh/dial.ts';
import { newNode } from '../agent/src/relay/server/testing.ts';
import { conegateArgv, conegateEnv } from '../test/conegate.ts';
import { realClock } from '../agent/src/clock/clock.ts';
import { createUdpRelayClient } from '../agent/src/relay/udp/client.ts';
import { testNode, waitFor } from '../agent/src/relay/udp/testkit.ts';

const SIZE = 1200;
const BURST = 32;

function opt(args: string[], name: string, fallback: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : fallback;
}

function cpuSec(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function udpSocket(): Promise<Socket> {
  const s = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  s.on('error', () => undefined);
  return s;
}

interface Round {
  pps: number;
  mbps: number;
  lossPercent: number;
  relayCpuPercent?: number;
}

/** Sends for `seconds` in bursts (one burst per event-loop turn), counts what arrives; rate over the sending time. */
async function blast(send: () => void, received: () => number, seconds: number): Promise<Round> {
  const start = received();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let sent = 0;
  while (performance.now() < end) {
    for (let i = 0; i < BURST; i++) send();
    sent += BURST;
    await new Promise((r) => setImmediate(r));
  }
  // Late packets still in the socket buffers count; bounded wait.
  const settle = performance.now() + 500;
  let last = received();
  while (performance.now() < settle) {
    await new Promise((r) => setTimeout(r, 20));
    if (received() === last && received() - start >= sent) break;
    last = received();
  }
  const got = received() - start;
  const sec = (performance.now() - t0) / 1000;
  return { pps: Math.round(got / sec), mbps: Math.round(((got * SIZE * 8) / sec / 1e6) * 10) / 10, lossPercent: Math.round((1 - got / sent) * 1000) / 10 };
}

/** `conegate relay serve` in a child process admitting a and b; resolves with its URL and certificate pin. */
async function tcpRelayProcess(dir: string, keys: string[]): Promise<{ child: ChildProcess; url: string; fingerprint: string }> {
  const allow = join(dir, 'allow');
  writeFileSync(allow, keys.join('\n') + '\n');
  const argv = conegateArgv(['relay', 'serve', '--listen', '127.0.0.1:0', '--self-signed', '--state-dir', join(dir, 'state'), '--admission-allow-file', allow, '--json']);
  const child = spawn(argv[0]!, argv.slice(1), { env: conegateEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const info = await new Promise<{ listen: string; fingerprint: string }>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      try {
        resolve(JSON.parse(out) as { listen: string; fingerprint: string });
      } catch {
        // not the whole document yet
      }
    });
    child.once('exit', (code) => reject(new Error(`relay serve exited ${code}`)));
  });
  return { child, url: `https://${info.listen}`, fingerprint: info.fingerprint };
}

/** TCP relay rounds: A sends for `seconds`, honouring back-pressure; B counts packets received. */
async function tcpRelayRounds(seconds: number, rounds: number): Promise<Round[]> {
  const dir = mkdtempSync(join(tmpdir(), 'udp-relay-bench-'));
  const [a, b] = [newNode(), newNode()];
  const relay = await tcpRelayProcess(dir, [a.hex, b.hex]);
  try {
    const trust = { fingerprint: relay.fingerprint };
    const la = await dialRelay({ url: relay.url, trust, secret: a.secret });
    const lb = await dialRelay({ url: relay.url, trust, secret: b.secret });
    let n = 0;
    lb.onMessage((m) => void (m.kind === 'recv' && m.data.length === SIZE && n++));
    const frame = encodeSend(b.key, new Uint8Array(SIZE).fill(0x5a));
    let blocked = false;
    la.socket.on('drain', () => void (blocked = false));
    const out: Round[] = [];
    for (let i = 0; i < rounds; i++) {
      const c0 = cpuSec(relay.child.pid!);
      const t0 = performance.now();
      const r = await blast(
        () => {
          if (!blocked && !la.write(frame)) blocked = true;
        },
        () => n,
        seconds,
      );
      r.relayCpuPercent = Math.round(((cpuSec(relay.child.pid!) - c0) / ((performance.now() - t0) / 1000)) * 1000) / 10;
      out.push(r);
    }
    la.close();
    lb.close();
    return out;
  } finally {
    relay.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function run(args: string[]): Promise<object> {
  const seconds = opt(args, 'seconds', 3);
  const rounds = opt(args, 'rounds', 3);
  const port = 20000 + (process.pid % 20000);
  const relayProc: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'test/lab/udp-relay-node.ts', 'relay', '--listen', `127.0.0.1:${port}`, '--members', 'relay,a,b'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      relayProc.stdout!.on('data', (d: Buffer) => d.toString().includes('"listening"') && resolve());
      relayProc.once('exit', (code) => reject(new Error(`relay exited (${code})`)));
    });
    // B (the receiver) here; A (the sender) in a process of its own, so sending and receiving do not
    // share one event loop; the relay in a third.
    const sb = await udpSocket();
    const A = testNode('a');
    const B = testNode('b');
    const R = testNode('relay');
    const relay = { endpoint: { address: '127.0.0.1', port }, nodeKey: R.nodeHex, discoKey: R.discoHex };
    let direct = 0;
    let relayed = 0;
    const b = createUdpRelayClient({ discoPrivate: B.discoPrivate, discoPublic: B.discoPublic, nodeKey: B.nodeKey, clock: realClock, sockets: { send: (_i, p, to) => sb.send(p, to.port, to.address) } });
    sb.on('message', (m, r) => {
      if (!b.receive(m, r, 0)) direct++;
    });
    b.onPacket((_peer, _p, proto, via) => {
      if (proto === 'wireguard') relayed++;
      else b.send(via, Uint8Array.of(2), 'disco'); // answer A's hello: both sides are bound
    });
    b.want(A.nodeHex, relay);
    const senderProc = spawn(process.execPath, ['--import', 'tsx', 'test/lab/udp-relay-node.ts', 'sender', '--me', 'a', '--peer', 'b', '--relay', `127.0.0.1:${port}`, '--direct', `127.0.0.1:${sb.address().port}`], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    senderProc.stdout!.setEncoding('utf8');
    senderProc.stdout!.on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
    await waitFor(() => lines.some((l) => l.includes('"ready"')), 'the sender bound through the relay', 30_000);
    /** One round: the sender sends for `seconds`; rate = what B received over the round's time. */
    const round = async (what: 'relay' | 'direct', count: () => number): Promise<Round> => {
      const before = count();
      const n = lines.length;
      const c0 = cpuSec(relayProc.pid!);
      const t0 = performance.now();
      senderProc.stdin!.write(`${what} ${seconds}\n`);
      await waitFor(() => lines.length > n, 'the sender finished', (seconds + 30) * 1000);
      const sent = (JSON.parse(lines.at(-1)!) as { sent: number }).sent;
      let last = -1;
      const settle = performance.now() + 500;
      while (performance.now() < settle && count() !== last) {
        last = count();
        await new Promise((r) => setTimeout(r, 50));
      }
      const got = count() - before;
      const sec = (performance.now() - t0) / 1000;
      const r: Round = { pps: Math.round(got / sec), mbps: Math.round(((got * SIZE * 8) / sec / 1e6) * 10) / 10, lossPercent: Math.round((1 - got / sent) * 1000) / 10 };
      if (what === 'relay') r.relayCpuPercent = Math.round(((cpuSec(relayProc.pid!) - c0) / sec) * 1000) / 10;
      return r;
    };
    const results: { direct: Round[]; udpRelay: Round[] } = { direct: [], udpRelay: [] };
    for (let i = 0; i < rounds; i++) {
      results.direct.push(await round('direct', () => direct));
      results.udpRelay.push(await round('relay', () => relayed));
    }
    senderProc.stdin!.write('bye\n');
    b.close();
    sb.close();
    const tcp = await tcpRelayRounds(seconds, rounds);
    const summary = (rs: Round[]) => ({ pps: median(rs.map((r) => r.pps)), mbps: median(rs.map((r) => r.mbps)), lossPercent: median(rs.map((r) => r.lossPercent)) });
    const d = summary(results.direct);
    const u = summary(results.udpRelay);
    return {
      datagramBytes: SIZE,
      seconds,
      rounds,
      direct: d,
      udpRelay: { ...u, relayCpuPercent: median(results.udpRelay.map((r) => r.relayCpuPercent!)) },
      udpRelayVsDirect: Math.round((u.pps / d.pps) * 100) / 100,
      tcpRelay: { ...summary(tcp), relayCpuPercent: median(tcp.map((r) => r.relayCpuPercent!)), lossNote: 'sends skipped while the TLS socket was full count as lost (offered, not carried)' },
      tcpRelayVsDirect: Math.round((summary(tcp).pps / d.pps) * 100) / 100,
      udpRelayVsTcpRelay: Math.round((u.pps / summary(tcp).pps) * 100) / 100,
      allRounds: { ...results, tcpRelay: tcp },
      machine: { cpus: cpus().length, loadavg1: loadavg()[0], note: 'shared 2-core machine under other load; sender, receiver and relay in three processes, loopback' },
    };
  } finally {
    relayProc.kill('SIGTERM');
  }
}
