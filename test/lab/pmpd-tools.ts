/**
 * Client-side helpers for the NAT-PMP/PCP server's lab tests and benchmark, run inside lab
 * namespaces (`node --import tsx test/lab/pmpd-tools.ts MODE --key value ...`). Each mode is bounded
 * in packets and time and prints one JSON document (mcast-listen: one line per packet) on stdout.
 *
 *   pmp    --gw A --op public|udp|tcp [--internal N --external N --lifetime N]
 *   pcp    --gw A --client A --op map|peer|announce [--proto 17] [--internal N] [--external N]
 *          [--lifetime N] [--nonce HEX24] [--filter A:P] [--peer A:P] [--third-party A] [--prefer-failure 1]
 *   npm    --gw A --op public|udp|tcp [--internal N --external N --lifetime N]   (npm `nat-pmp` client)
 *   mcast-listen [--count 4] [--timeout-ms 4000] [--v6 IF]   UDP 5350 joined to 224.0.0.1 (or ff02::1 on IF)
 *   fuzz   --gw A [--count 2000] [--seed 1] [--timeout-ms 20000]
 *   load   --gw A [--port 5351] [--duration-ms 3000] [--concurrency 16] [--op public|udp|pair]
 *          (pair: each socket creates a UDP mapping and deletes it again, one request outstanding;
 *          rate and latency are per create+delete pair)
 */
import { createSocket, type Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import { parseIp, toMappedV6 } from '../../agent/src/net/ip.ts';
import { decodePmpResponse, encodePmpRequest, type PmpRequest } from '../../agent/src/pmp/codec.ts';
import { decodePcpResponse, encodePcpRequest, type PcpOption, type PcpRequest } from '../../agent/src/pcp/codec.ts';

const argv = process.argv.slice(2);
const mode = argv[0];
const opt = (k: string, d?: string): string | undefined => {
  const i = argv.indexOf(`--${k}`);
  return i > 0 ? argv[i + 1] : d;
};
const num = (k: string, d: number): number => Number(opt(k, String(d)));
const out = (v: unknown): void => void process.stdout.write(JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x)) + '\n');
const v6 = (a: string): Uint8Array => toMappedV6(parseIp(a)!.bytes);
const endpoint = (t: string): { address: string; port: number } => ({ address: t.slice(0, t.lastIndexOf(':')), port: Number(t.slice(t.lastIndexOf(':') + 1)) });

function openSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  return new Promise((r) => s.bind(0, () => r(s)));
}

/** Sends and waits for one answer, retransmitting at 250 ms doubling (RFC 6886 3.1), 4 tries. */
async function ask(packet: Uint8Array, gw: string, port: number): Promise<Uint8Array | null> {
  const s = await openSocket();
  try {
    return await new Promise((resolve) => {
      let tries = 0;
      let timer: NodeJS.Timeout;
      s.on('message', (m) => {
        clearTimeout(timer);
        resolve(new Uint8Array(m));
      });
      const send = (): void => {
        if (tries === 4) return resolve(null);
        s.send(packet, port, gw);
        timer = setTimeout(send, 250 * 2 ** tries++);
      };
      send();
    });
  } finally {
    s.close();
  }
}

async function pmp(): Promise<void> {
  const op = opt('op', 'public')!;
  const req: PmpRequest =
    op === 'public' ? { kind: 'publicAddress' } : { kind: 'map', protocol: op as 'udp', internalPort: num('internal', 0), suggestedExternalPort: num('external', 0), lifetimeSec: num('lifetime', 3600) };
  const r = await ask(encodePmpRequest(req), opt('gw')!, num('port', 5351));
  out(r ? { answer: decodePmpResponse(r) } : { answer: null });
}

async function pcp(): Promise<void> {
  const op = opt('op', 'map')!;
  const options: PcpOption[] = [];
  if (opt('third-party')) options.push({ kind: 'thirdParty', internalAddress: v6(opt('third-party')!) });
  if (opt('prefer-failure')) options.push({ kind: 'preferFailure' });
  if (opt('filter')) {
    const f = endpoint(opt('filter')!);
    options.push({ kind: 'filter', prefixLength: 128, remotePeerPort: f.port, remotePeerAddress: v6(f.address) });
  }
  const nonce = new Uint8Array(Buffer.from(opt('nonce', '0102030405060708090a0b0c')!, 'hex'));
  const data = { nonce, protocol: num('proto', 17), internalPort: num('internal', 0), externalPort: num('external', 0), externalAddress: new Uint8Array(16) };
  const common = { lifetimeSec: num('lifetime', 3600), clientAddress: v6(opt('client')!), options };
  let req: PcpRequest;
  if (op === 'announce') req = { ...common, opcode: 'announce' };
  else if (op === 'peer') {
    const p = endpoint(opt('peer')!);
    req = { ...common, opcode: 'peer', peer: { ...data, remotePeerPort: p.port, remotePeerAddress: v6(p.address) } };
  } else req = { ...common, opcode: 'map', map: data };
  const r = await ask(encodePcpRequest(req), opt('gw')!, num('port', 5351));
  out(r ? { answer: decodePcpResponse(r) } : { answer: null });
}

async function npm(): Promise<void> {
  const natpmp = createRequire(import.meta.url)('nat-pmp') as {
    connect(gw: string): { externalIp(cb: (e: Error | null, r?: unknown) => void): void; portMapping(o: object, cb: (e: Error | null, r?: unknown) => void): void; close(): void; on(ev: string, f: (e: Error) => void): void };
  };
  const client = natpmp.connect(opt('gw')!);
  client.on('error', (e) => out({ error: e.message }));
  const op = opt('op', 'public');
  const guard = setTimeout(() => {
    out({ error: 'timeout' });
    client.close();
  }, 4000);
  const done = (e: Error | null, r?: unknown): void => {
    clearTimeout(guard);
    const { msg: _m, ...rest } = (r ?? {}) as Record<string, unknown>;
    out(e ? { error: e.message, code: (e as { code?: number }).code } : { answer: rest });
    client.close();
  };
  if (op === 'public') client.externalIp(done);
  else client.portMapping({ type: op, private: num('internal', 0), public: num('external', 0), ttl: num('lifetime', 3600) }, done);
}

async function mcastListen(): Promise<void> {
  // --v6 IF: listen on [::]:5350 for ff02::1 on that interface instead of 224.0.0.1.
  const v6If = opt('v6');
  const s = createSocket({ type: v6If ? 'udp6' : 'udp4', reuseAddr: true, ...(v6If ? { ipv6Only: true } : {}) });
  const count = num('count', 4);
  let n = 0;
  await new Promise<void>((r) => s.bind(5350, () => r()));
  try {
    if (v6If) s.addMembership('ff02::1', `::%${v6If}`);
    else s.addMembership('224.0.0.1');
  } catch {
    // Already a member (all-hosts / all-nodes groups are joined by the kernel anyway).
  }
  out({ event: 'ready' });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, num('timeout-ms', 4000));
    s.on('message', (m, rinfo) => {
      const b = new Uint8Array(m);
      let decoded: unknown;
      try {
        decoded = b[0] === 0 ? decodePmpResponse(b) : decodePcpResponse(b);
      } catch (e) {
        decoded = { error: (e as Error).message };
      }
      out({ event: 'recv', from: rinfo.address, fromPort: rinfo.port, hex: b, decoded, atMs: Math.round(performance.now()) });
      if (++n >= count) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  out({ event: 'done', received: n });
  s.close();
}

/** Deterministic PRNG so a failing fuzz run can be replayed by seed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

async function fuzz(): Promise<void> {
  const gw = opt('gw')!;
  const rnd = prng(num('seed', 1));
  const count = num('count', 2000);
  const seeds = [
    encodePmpRequest({ kind: 'publicAddress' }),
    encodePmpRequest({ kind: 'map', protocol: 'udp', internalPort: 4000, suggestedExternalPort: 4000, lifetimeSec: 60 }),
    encodePcpRequest({ opcode: 'map', lifetimeSec: 60, clientAddress: v6(opt('client') ?? '0.0.0.0'), map: { nonce: new Uint8Array(12), protocol: 17, internalPort: 4001, externalPort: 0, externalAddress: new Uint8Array(16) }, options: [{ kind: 'preferFailure' }] }),
  ];
  const s = await openSocket();
  const bad: unknown[] = [];
  let answered = 0;
  s.on('message', (m) => {
    answered++;
    const b = new Uint8Array(m);
    try {
      // Every answer must be a well-formed response of the version it carries.
      if (b[0] === 0) decodePmpResponse(b);
      else if (b[0] === 2) decodePcpResponse(b);
      else throw new Error(`answer with version ${b[0]}`);
    } catch (e) {
      if (bad.length < 10) bad.push({ hex: Buffer.from(b).toString('hex'), error: (e as Error).message });
    }
  });
  const deadline = performance.now() + num('timeout-ms', 20000);
  for (let i = 0; i < count && performance.now() < deadline; i++) {
    let p: Uint8Array;
    const kind = rnd();
    if (kind < 0.3) p = Uint8Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256));
    else if (kind < 0.4) p = Uint8Array.from({ length: 1000 + Math.floor(rnd() * 1200) }, () => Math.floor(rnd() * 256));
    else {
      const base = seeds[Math.floor(rnd() * seeds.length)]!;
      p = new Uint8Array(Math.max(0, base.length + Math.floor(rnd() * 12) - 6));
      p.set(base.subarray(0, p.length));
      for (let k = Math.floor(rnd() * 4); k >= 0; k--) if (p.length) p[Math.floor(rnd() * p.length)] = Math.floor(rnd() * 256);
      if (rnd() < 0.3 && p.length) p[0] = [0, 1, 2, 3][Math.floor(rnd() * 4)]!;
    }
    s.send(p, 5351, gw);
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 500));
  s.close();
  out({ sent: count, answered, bad });
}

/**
 * Closed-loop load: `concurrency` sockets each keep one request outstanding; prints rate and latency
 * percentiles. For `pair` a unit of work is a mapping created and deleted again (two requests).
 */
async function load(): Promise<void> {
  const gw = opt('gw')!;
  const port = num('port', 5351);
  const durationMs = num('duration-ms', 3000);
  const conc = num('concurrency', 16);
  const op = opt('op', 'public');
  const lat: number[] = [];
  let timeouts = 0;
  let failed = 0;
  const end = performance.now() + durationMs;
  const ask = (s: Awaited<ReturnType<typeof openSocket>>, req: Uint8Array): Promise<number | undefined> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        s.removeAllListeners('message');
        resolve(undefined);
      }, 1000);
      s.once('message', (msg: Buffer) => {
        clearTimeout(timer);
        resolve(msg.length >= 4 ? msg.readUInt16BE(2) : -1);
      });
      s.send(req, port, gw);
    });
  await Promise.all(
    Array.from({ length: conc }, async (_, w) => {
      const s = await openSocket();
      const map = (lifetimeSec: number) => encodePmpRequest({ kind: 'map', protocol: 'udp', internalPort: 20000 + w, suggestedExternalPort: lifetimeSec ? 20000 + w : 0, lifetimeSec });
      const steps = op === 'public' ? [encodePmpRequest({ kind: 'publicAddress' })] : op === 'pair' ? [map(3600), map(0)] : [map(3600)];
      while (performance.now() < end) {
        const t0 = performance.now();
        let ok = true;
        for (const req of steps) {
          const result = await ask(s, req);
          if (result === undefined) timeouts++;
          else if (result !== 0) failed++;
          ok &&= result === 0;
        }
        if (ok) lat.push(performance.now() - t0);
      }
      s.close();
    }),
  );
  lat.sort((a, b) => a - b);
  const q = (p: number): number => Math.round((lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN) * 1000) / 1000;
  out({ requests: lat.length, timeouts, failed, durationMs, requestsPerSec: Math.round(lat.length / (durationMs / 1000)), p50Ms: q(0.5), p99Ms: q(0.99), maxMs: q(1) });
}

const modes: Record<string, () => Promise<void>> = { pmp, pcp, npm, 'mcast-listen': mcastListen, fuzz, load };
const run = mode ? modes[mode] : undefined;
if (!run) {
  process.stderr.write(`usage: pmpd-tools.ts ${Object.keys(modes).join('|')} ...\n`);
  process.exit(2);
}
await run();
