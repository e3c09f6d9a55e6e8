/**
 * Relay benchmark: `conegate relay serve` (the bundle, self-signed TLS, an allow file) in a child
 * process, two clients in this process logged in over TLS.
 * - throughput: 1,200-byte packets from A to B through the relay (A honours socket back-pressure):
 *   packets/s and Mbit/s received, packets dropped (head drop when B's queue is full);
 * - latency: A -> relay -> B -> relay -> A round trips one at a time: p50 / p99;
 * - relay RSS after the run, and with --idle N idle clients logged in (default 1,000) after it; the goal's
 *   figure is `idleClientsFreshProcess` (bench/relay-idle.ts: a fresh relay with only idle clients);
 * - fuzz: --fuzz N random frames (default 10^6) into a RelayServer in this process (in-memory
 *   transports), which must keep serving.
 * Baseline in the same run: a plain TLS forwarder (child process, no framing or keys: bytes from the
 * first connection piped to the second) carrying the same frames. Tailscale's derper is not packaged
 * in Debian, so it is not compared here.
 * WireGuard columns (bench/relay-wg.ts, needs root for the netns lab): iperf3 between two `conegate up`
 * nodes direct, through a third node's UDP relay and through the TCP relay, same run, with each relay's
 * CPU seconds per Gbit; `--wg-seconds 0` leaves them out.
 *   npm run bench relay [-- --packets 100000 --rtts 2000 --idle 1000 --fuzz 1000000 --wg-seconds 10 --wg-rounds 3 --wg-userspace 1]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import fc from 'fast-check';
import { decodeServerKey, encodeClientInfo, encodeFrame, encodeRecv, encodeSend, FrameReader, FrameType } from '../agent/src/relay/frames.ts';
import { sealJson } from '../agent/src/relay/frames-seal.ts';
import { dialRelay, type RelayLink } from '../agent/src/relay/mesh/dial.ts';
import { staticAdmission } from '../agent/src/relay/server/admission.ts';
import { MemoryTransport } from '../agent/src/relay/server/memory-transport.ts';
import { newNode, startTestRelay, type TestNode } from '../agent/src/relay/server/testing.ts';
import { selfSignedCert } from '../test/fakes/tls-cert.ts';
import { run as relayIdle, startRelayProcess } from './relay-idle.ts';
import { wireguardThroughRelays } from './relay-wg.ts';

const PACKET = 1200;

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : dflt;
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}
const pct = (xs: number[], p: number) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;


/** A sends `count` packets to B as fast as its socket takes them; B counts. Ends when B has all or 1 s passes without progress. */
async function blast(send: (frame: Uint8Array) => boolean, drain: () => Promise<void>, received: () => number, frame: Uint8Array, count: number) {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) if (!send(frame)) await drain();
  let last = -1;
  let lastAt = performance.now();
  while (received() < count) {
    await new Promise((r) => setTimeout(r, 20));
    if (received() !== last) {
      last = received();
      lastAt = performance.now();
    } else if (performance.now() - lastAt > 1_000) break;
  }
  const seconds = (lastAt - t0) / 1000;
  const got = received();
  return { sent: count, received: got, dropped: count - got, seconds: round(seconds, 2), packetsPerSec: Math.round(got / seconds), mbitPerSec: round((got * PACKET * 8) / seconds / 1e6) };
}

const SENDER = new URL('../test/fakes/relay-sender.ts', import.meta.url).pathname;

/** A in its own process sends to B (here) through the relay: what B receives, and how fast. */
async function throughputRelay(r: { url: string; fingerprint: string }, a: TestNode, b: TestNode, count: number) {
  const lb = await dialRelay({ url: r.url, trust: { fingerprint: r.fingerprint }, secret: b.secret });
  let n = 0;
  lb.onMessage((m) => void (m.kind === 'recv' && m.data.length === PACKET && n++));
  const child = spawn(process.execPath, ['--import', 'tsx', SENDER, r.url, r.fingerprint, Buffer.from(a.secret).toString('hex'), b.hex, String(count), String(PACKET)], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    await new Promise((res) => child.stdout!.once('data', res));
    const t0 = performance.now();
    child.stdin!.write('go\n');
    let last = -1;
    let lastAt = performance.now();
    while (n < count) {
      await new Promise((res) => setTimeout(res, 20));
      if (n !== last) {
        last = n;
        lastAt = performance.now();
      } else if (performance.now() - lastAt > 1_000) break;
    }
    const seconds = (lastAt - t0) / 1000;
    const res = { sent: count, received: n, dropped: count - n, seconds: round(seconds, 2), packetsPerSec: Math.round(n / seconds), mbitPerSec: round((n * PACKET * 8) / seconds / 1e6) };
    child.stdin!.write('bye\n');
    const la = await dialRelay({ url: r.url, trust: { fingerprint: r.fingerprint }, secret: a.secret });
    const rtts = await latency(la, lb, a, b, arg(process.argv, 'rtts', 2000));
    la.close();
    return { ...res, rttP50Ms: round(pct(rtts, 50), 3), rttP99Ms: round(pct(rtts, 99), 3) };
  } finally {
    child.kill('SIGTERM');
    lb.close();
  }
}

async function latency(la: RelayLink, lb: RelayLink, a: TestNode, b: TestNode, n: number): Promise<number[]> {
  lb.onMessage((m) => void (m.kind === 'recv' && m.data.length === 8 && lb.write(encodeSend(a.key, m.data))));
  const out: number[] = [];
  let pending: (() => void) | undefined;
  la.onMessage((m) => void (m.kind === 'recv' && m.data.length === 8 && pending?.()));
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await new Promise<void>((res) => {
      pending = res;
      la.write(encodeSend(b.key, randomBytes(8)));
    });
    out.push(performance.now() - t0);
  }
  return out;
}

const FORWARDER = `
const tls = require('node:tls');
const [key, cert] = [process.env.K, process.env.C];
let first;
const s = tls.createServer({ key, cert }, (c) => { c.setNoDelay(true); if (!first) { first = c; process.stdout.write('first\\n'); return; } first.pipe(c); c.pipe(first); });
s.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: s.address().port }) + '\\n'));
`;

async function throughputBaseline(count: number) {
  const cert = await selfSignedCert();
  const child = spawn(process.execPath, ['-e', FORWARDER], { env: { ...process.env, K: cert.key, C: cert.cert }, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve) => child.stdout!.once('data', (c: Buffer) => resolve(JSON.parse(c.toString()).port)));
    const open = () => new Promise<TLSSocket>((resolve) => { const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(s)); s.setNoDelay(true); });
    // The forwarder takes the first connection as the sender: wait until it says it has it.
    const first = new Promise((res) => child.stdout!.once('data', res));
    const a = await open();
    await first;
    const b = await open();
    let n = 0;
    const reader = new FrameReader();
    b.on('data', (c: Buffer) => void (n += reader.feed(c).length));
    const frame = encodeSend(randomBytes(32), randomBytes(PACKET));
    const res = await blast((f) => a.write(f), () => new Promise((res) => a.once('drain', res)), () => n, frame, count);
    const rss = rssMb(child.pid!);
    a.destroy();
    b.destroy();
    return { ...res, forwarderRssMb: rss };
  } finally {
    child.kill('SIGTERM');
  }
}

/** CPU microseconds to build one 1,420-byte recv frame (what the relay does per forwarded packet): median of 7 runs. */
function frameEncodeCpuUs(): number {
  const key = new Uint8Array(32).fill(7);
  const data = new Uint8Array(1420).fill(9);
  const runs: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = process.cpuUsage();
    let bytes = 0;
    for (let i = 0; i < 200_000; i++) bytes += encodeRecv(key, data).length;
    const u = process.cpuUsage(t0);
    if (bytes > 0) runs.push((u.user + u.system) / 200_000);
  }
  return round(pct(runs, 50), 2);
}

async function idleClients(r: { url: string; fingerprint: string }, nodes: TestNode[]): Promise<RelayLink[]> {
  const links: RelayLink[] = [];
  for (let i = 0; i < nodes.length; i += 50) {
    links.push(...(await Promise.all(nodes.slice(i, i + 50).map((n) => dialRelay({ url: r.url, trust: { fingerprint: r.fingerprint }, secret: n.secret })))));
  }
  return links;
}

async function fuzz(count: number) {
  const r = await startTestRelay({ admission: staticAdmission([]) });
  try {
    const frame = fc.tuple(fc.integer({ min: 0, max: 0x18 }), fc.uint8Array({ maxLength: 300 })).map(([t, b]) => encodeFrame(t, b));
    const gen = fc.oneof(frame, fc.uint8Array({ maxLength: 64 }));
    const t0 = performance.now();
    let done = 0;
    for (let batch = 0; done < count; batch++) {
      const samples = fc.sample(gen, { numRuns: Math.min(1000, count - done), seed: batch });
      const t = new MemoryTransport();
      r.relay.accept(t);
      if (batch % 2 === 1) {
        const node = newNode();
        r.admission.keys!.add(node.hex);
        const serverKey = decodeServerKey(t.frames()[0]!.body);
        t.deliver(encodeClientInfo(node.key, sealJson({ version: 1 }, node.secret, serverKey, (k) => Uint8Array.from(randomBytes(k)))));
        await new Promise((res) => setImmediate(res));
      }
      for (const s of samples) t.deliver(s);
      t.close();
      done += samples.length;
    }
    return { frames: done, seconds: round((performance.now() - t0) / 1000, 1), clientsLeft: r.relay.stats().clients };
  } finally {
    await r.stop();
  }
}

export async function run(args: string[]): Promise<unknown> {
  const count = arg(args, 'packets', 100_000);
  const idle = arg(args, 'idle', 1000);
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-'));
  const [a, b] = [newNode(), newNode()];
  const idleNodes = Array.from({ length: idle }, newNode);
  const relay = await startRelayProcess(dir, [a, b, ...idleNodes].map((n) => n.hex));
  try {
    const rssStart = rssMb(relay.child.pid!);
    const viaRelay = await throughputRelay(relay, a, b, count);
    const rssAfterThroughput = rssMb(relay.child.pid!);
    const links = await idleClients(relay, idleNodes);
    await new Promise((r) => setTimeout(r, 500));
    const rssIdle = rssMb(relay.child.pid!);
    for (const l of links) l.close();
    const baseline = await throughputBaseline(count);
    const fuzzed = await fuzz(arg(args, 'fuzz', 1_000_000));
    // The goal's figure (1,000 idle clients < 150 MB): a fresh relay process with only idle clients, so
    // it is what idle clients cost, not what the throughput run above left in the heap.
    const idleOnly = await relayIdle(['--idle', String(idle)]);
    const wgSeconds = arg(args, 'wg-seconds', 10);
    const wireguard = wgSeconds > 0 ? await wireguardThroughRelays({ seconds: wgSeconds, rounds: arg(args, 'wg-rounds', 3), userspaceRow: arg(args, 'wg-userspace', 1) !== 0 }) : 'left out (--wg-seconds 0)';
    return {
      note: 'shared 2-core machine with other load: figures are noisy. Baseline = plain TLS byte forwarder (no framing, no keys), same packets; derper is not packaged in Debian.',
      packetBytes: PACKET,
      relay: { ...viaRelay, rssMbAtStart: rssStart, rssMbAfterThroughput: rssAfterThroughput, idleClients: idle, rssMbWithIdleClientsAfterThroughput: rssIdle },
      idleClientsFreshProcess: idleOnly,
      baselineTlsForwarder: baseline,
      relayVsBaseline: round(viaRelay.packetsPerSec / baseline.packetsPerSec, 2),
      fuzz: fuzzed,
      frameEncodeCpuUs: frameEncodeCpuUs(),
      wireguard,
    };
  } finally {
    relay.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}
