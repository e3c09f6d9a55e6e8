/**
 * UDP/TCP probe tool run inside lab namespaces (`node --import tsx test/lab/probe.ts MODE ...`).
 * Every mode is bounded in packets and time and prints JSON lines on stdout.
 *
 *   serve   --bind A:P [--bind A:P ...] [--duration-ms 120000] [--max-packets 100000]
 *           Reflector ("STUN-lite"): answers each datagram from the socket it arrived on with
 *           {"seen":"<source ip:port>","via":"<local ip:port>","id":..}. A request
 *           {"also":["A:P",...]} is also answered from those bound sockets (RFC 5780-style "change
 *           address/port" for filtering tests). Prints {"event":"ready"} then one {"event":"recv"} per datagram.
 *   client  --to A:P [--to A:P ...] [--port 0] [--bind ADDR] [--also A:P ...] [--timeout-ms 3000] [--tries 3]
 *           Sends from ONE socket to every target, prints one JSON document:
 *           {"local":..,"results":[{"to","seen"|null}],"replies":[{"to","via","seen"}]}.
 *   listen  [--port 0] [--bind ADDR] [--send-to A:P] [--count 1] [--timeout-ms 3000]
 *           Binds (optionally first sends to --send-to and prints {"event":"mapped","seen"}),
 *           prints {"event":"ready","local"}, then {"event":"recv","from","data"} per datagram,
 *           and {"event":"done","received":N} after --count datagrams or the timeout, or after a line
 *           "end" on stdin (with --send-to: once the reflector answered one more request).
 *   send    --to A:P [--port 0] [--bind ADDR] [--count 3] [--interval-ms 50] [--data TEXT]
 *   punch   --peer A:P [--port 0] [--bind ADDR] [--count 20] [--interval-ms 100] [--timeout-ms 4000] [--wait-stdin yes]
 *           Hole punching: sends "punch" to the peer every interval (at most --count times) and
 *           answers what it receives; prints {"event":"recv","from"} per datagram from anyone and
 *           ends with {"event":"done","fromPeer":N,"from":[...]} after the timeout (or once 3 came from peer).
 *           With --wait-stdin yes it prints {"event":"ready"} and starts on the first line of stdin.
 *   tcp-serve   --bind A:P [--duration-ms 120000]   accepts, writes "hello <remote>\n", closes.
 *   tcp-connect --to A:P [--timeout-ms 2000]        prints {"connected":bool,...}; exit 1 if not.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createConnection, createServer } from 'node:net';
import { isIP } from 'node:net';

/** An endpoint "ip:port" or "[v6]:port". */
export interface Endpoint {
  address: string;
  port: number;
}

/** Parses "1.2.3.4:5", "[2001:db8::1]:5"; undefined if malformed. */
export function parseEndpoint(text: string): Endpoint | undefined {
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text);
  const m = v6 ?? /^([0-9.]+):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (isIP(m[1]!) !== (v6 ? 6 : 4) || port > 65535) return undefined;
  return { address: m[1]!, port };
}

/** Formats an endpoint the way parseEndpoint reads it. */
export function formatEndpoint(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

interface Args {
  mode: string;
  multi: Map<string, string[]>;
}

function parseArgs(argv: string[]): Args {
  const [mode, ...rest] = argv;
  const multi = new Map<string, string[]>();
  for (let i = 0; i < rest.length; i++) {
    const key = rest[i]!;
    const value = rest[i + 1];
    if (!key.startsWith('--') || value === undefined) throw new Error(`bad argument near "${key}"`);
    multi.set(key.slice(2), [...(multi.get(key.slice(2)) ?? []), value]);
    i++;
  }
  return { mode: mode ?? '', multi };
}

function one(a: Args, key: string, dflt?: string): string | undefined {
  return a.multi.get(key)?.at(-1) ?? dflt;
}

function num(a: Args, key: string, dflt: number, max: number): number {
  const v = Number(one(a, key, String(dflt)));
  if (!Number.isInteger(v) || v < 0 || v > max) throw new Error(`--${key} must be an integer 0..${max}`);
  return v;
}

function endpoints(a: Args, key: string): Endpoint[] {
  return (a.multi.get(key) ?? []).map((t) => {
    const e = parseEndpoint(t);
    if (!e) throw new Error(`--${key} ${t}: expected ip:port or [ipv6]:port`);
    return e;
  });
}

const print = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');

function bindSocket(address: string | undefined, port: number, family: 4 | 6): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: family === 6 ? 'udp6' : 'udp4', ...(family === 6 ? { ipv6Only: true } : {}) });
    s.once('error', reject);
    s.bind({ port, ...(address ? { address } : {}) }, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

function familyOf(addresses: string[]): 4 | 6 {
  return addresses.some((a) => isIP(a) === 6) ? 6 : 4;
}

async function serve(a: Args): Promise<number> {
  const binds = endpoints(a, 'bind');
  if (binds.length === 0) throw new Error('serve needs --bind');
  const durationMs = num(a, 'duration-ms', 120_000, 3_600_000);
  let budget = num(a, 'max-packets', 100_000, 10_000_000);
  const sockets = new Map<string, Socket>();
  for (const b of binds) sockets.set(formatEndpoint(b.address, b.port), await bindSocket(b.address, b.port, familyOf([b.address])));
  print({ event: 'ready', bound: [...sockets.keys()] });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, durationMs);
    process.once('SIGTERM', () => {
      clearTimeout(timer);
      resolve();
    });
    for (const [local, s] of sockets) {
      s.on('message', (msg, rinfo) => {
        if (budget-- <= 0) {
          clearTimeout(timer);
          return resolve();
        }
        const from = formatEndpoint(rinfo.address, rinfo.port);
        print({ event: 'recv', from, to: local });
        let req: { id?: unknown; also?: unknown } = {};
        try {
          req = JSON.parse(msg.toString('utf8')) as typeof req;
        } catch {
          // Not JSON: still reflected, without an id.
        }
        const reply = (via: string) => Buffer.from(JSON.stringify({ seen: from, via, id: req.id ?? null }));
        s.send(reply(local), rinfo.port, rinfo.address);
        if (Array.isArray(req.also)) {
          for (const other of req.also.slice(0, 8)) {
            const o = typeof other === 'string' ? sockets.get(other) : undefined;
            if (o) o.send(reply(other as string), rinfo.port, rinfo.address);
          }
        }
      });
    }
  });
  for (const s of sockets.values()) s.close();
  return 0;
}

/** How long the client keeps listening for "also" replies after its direct replies arrived. */
const ALSO_GRACE_MS = 500;

async function client(a: Args): Promise<number> {
  const targets = endpoints(a, 'to');
  if (targets.length === 0) throw new Error('client needs --to');
  const also = a.multi.get('also') ?? [];
  const timeoutMs = num(a, 'timeout-ms', 3000, 60_000);
  const tries = Math.max(1, num(a, 'tries', 3, 20));
  const s = await bindSocket(one(a, 'bind'), num(a, 'port', 0, 65535), familyOf(targets.map((t) => t.address)));
  const results = targets.map((t) => ({ to: formatEndpoint(t.address, t.port), seen: null as string | null }));
  const replies: Array<{ to: string; via: string; seen: string }> = [];
  s.on('message', (msg) => {
    try {
      const r = JSON.parse(msg.toString('utf8')) as { id?: number; via?: string; seen?: string };
      const res = typeof r.id === 'number' ? results[r.id] : undefined;
      if (!res || typeof r.seen !== 'string' || typeof r.via !== 'string') return;
      replies.push({ to: res.to, via: r.via, seen: r.seen });
      if (r.via === res.to) res.seen ??= r.seen;
    } catch {
      // Stray datagram: ignored.
    }
  });
  // Resend to unanswered targets a few times; then wait out the rest of the budget for "also" replies.
  const started = Date.now();
  for (let t = 0; t < tries; t++) {
    targets.forEach((target, id) => {
      if (results[id]!.seen === null) s.send(JSON.stringify({ id, also }), target.port, target.address);
    });
    await new Promise((r) => setTimeout(r, timeoutMs / tries));
    if (results.every((r) => r.seen !== null)) break;
  }
  // "also" replies leave the reflector together with the direct one: once every direct reply is in,
  // a short grace covers them; without direct replies there is nothing more to wait for.
  const left = Math.min(timeoutMs - (Date.now() - started), ALSO_GRACE_MS);
  if (also.length > 0 && results.some((r) => r.seen !== null) && left > 0) await new Promise((r) => setTimeout(r, left));
  const addr = s.address();
  print({ local: formatEndpoint(addr.address, addr.port), results, replies });
  s.close();
  return results.every((r) => r.seen !== null) ? 0 : 1;
}

async function listen(a: Args): Promise<number> {
  const sendTo = endpoints(a, 'send-to')[0];
  const bind = one(a, 'bind');
  const s = await bindSocket(bind, num(a, 'port', 0, 65535), familyOf([bind ?? '', sendTo?.address ?? '']));
  const count = num(a, 'count', 1, 100_000);
  const timeoutMs = num(a, 'timeout-ms', 3000, 3_600_000);
  let received = 0;
  let finished = false;
  const fromSendTo = (rinfo: { address: string; port: number }) => sendTo !== undefined && rinfo.address === sendTo.address && rinfo.port === sendTo.port;
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(finish, timeoutMs);
    function finish() {
      finished = true;
      clearTimeout(timer);
      process.stdin.pause();
      resolve();
    }
    let mappedSeen = sendTo === undefined;
    // A line "end" on stdin asks the --send-to reflector once more; its answer travels the same path as
    // anything sent to us before, so once it is back we stop without a blind wait.
    process.stdin.setEncoding('utf8').on('data', (d: string) => {
      if (!d.includes('end') || finished) return;
      if (sendTo) s.send(JSON.stringify({ id: 1 }), sendTo.port, sendTo.address);
      else finish();
    });
    s.on('message', (msg, rinfo) => {
      const from = formatEndpoint(rinfo.address, rinfo.port);
      const data = msg.toString('utf8').slice(0, 500);
      if (fromSendTo(rinfo)) {
        let reply: { id?: unknown; seen?: unknown } = {};
        try {
          reply = JSON.parse(data) as typeof reply;
        } catch {
          // not the reflector's answer
        }
        if (reply.id === 1) return finish();
        if (!mappedSeen) {
          mappedSeen = true;
          print({ event: 'mapped', seen: typeof reply.seen === 'string' ? reply.seen : null });
          print({ event: 'ready', local: formatEndpoint(s.address().address, s.address().port) });
          return;
        }
      }
      received++;
      print({ event: 'recv', from, data });
      if (received >= count) finish();
    });
  });
  if (sendTo) s.send(JSON.stringify({ id: 0 }), sendTo.port, sendTo.address);
  else print({ event: 'ready', local: formatEndpoint(s.address().address, s.address().port) });
  await done;
  print({ event: 'done', received });
  s.close();
  return 0;
}

async function send(a: Args): Promise<number> {
  const to = endpoints(a, 'to')[0];
  if (!to) throw new Error('send needs --to');
  const s = await bindSocket(one(a, 'bind'), num(a, 'port', 0, 65535), familyOf([to.address]));
  const count = num(a, 'count', 3, 10_000);
  const intervalMs = num(a, 'interval-ms', 50, 10_000);
  const data = one(a, 'data', 'probe')!;
  for (let i = 0; i < count; i++) {
    await new Promise<void>((r) => s.send(data, to.port, to.address, () => r()));
    if (i + 1 < count) await new Promise((r) => setTimeout(r, intervalMs));
  }
  print({ event: 'sent', count, local: formatEndpoint(s.address().address, s.address().port) });
  s.close();
  return 0;
}

async function punch(a: Args): Promise<number> {
  const peer = endpoints(a, 'peer')[0];
  if (!peer) throw new Error('punch needs --peer');
  const s = await bindSocket(one(a, 'bind'), num(a, 'port', 0, 65535), familyOf([peer.address]));
  const count = num(a, 'count', 20, 10_000);
  const intervalMs = num(a, 'interval-ms', 100, 10_000);
  const timeoutMs = num(a, 'timeout-ms', 4000, 600_000);
  const peerText = formatEndpoint(peer.address, peer.port);
  if (one(a, 'wait-stdin') === 'yes') {
    // Both sides start sending at the same moment however long each took to start.
    print({ event: 'ready', local: formatEndpoint(s.address().address, s.address().port) });
    await new Promise<void>((resolve) => process.stdin.setEncoding('utf8').once('data', () => resolve()));
    process.stdin.pause();
  }
  const from = new Set<string>();
  let fromPeer = 0;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const finish = () => {
      clearInterval(ticker);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(finish, timeoutMs);
    const ticker = setInterval(() => {
      if (sent++ < count) s.send('punch', peer.port, peer.address);
    }, intervalMs);
    s.on('message', (msg, rinfo) => {
      const src = formatEndpoint(rinfo.address, rinfo.port);
      print({ event: 'recv', from: src, data: msg.toString('utf8').slice(0, 100) });
      from.add(src);
      // An answer lets a peer whose NAT picked a new port for us learn where we really are.
      if (msg.toString('utf8') === 'punch' && sent < count + 5) {
        sent++;
        s.send('punch-ack', rinfo.port, rinfo.address);
      }
      if (src === peerText || rinfo.address === peer.address) fromPeer++;
      if (fromPeer >= 3) finish();
    });
  });
  print({ event: 'done', fromPeer, from: [...from], local: formatEndpoint(s.address().address, s.address().port) });
  s.close();
  return 0;
}

async function tcpServe(a: Args): Promise<number> {
  const b = endpoints(a, 'bind')[0];
  if (!b) throw new Error('tcp-serve needs --bind');
  const durationMs = num(a, 'duration-ms', 120_000, 3_600_000);
  const server = createServer((c) => c.end(`hello ${formatEndpoint(c.remoteAddress ?? '?', c.remotePort ?? 0)}\n`));
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(b.port, b.address, () => resolve()));
  print({ event: 'ready', bound: formatEndpoint(b.address, b.port) });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, durationMs);
    process.once('SIGTERM', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  server.close();
  return 0;
}

async function tcpConnect(a: Args): Promise<number> {
  const to = endpoints(a, 'to')[0];
  if (!to) throw new Error('tcp-connect needs --to');
  const timeoutMs = num(a, 'timeout-ms', 2000, 60_000);
  const result = await new Promise<{ connected: boolean; line?: string; error?: string }>((resolve) => {
    const c = createConnection({ host: to.address, port: to.port });
    let line = '';
    const timer = setTimeout(() => {
      c.destroy();
      resolve({ connected: false, error: 'timeout' });
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('data', (d: string) => (line += d));
    c.on('end', () => {
      clearTimeout(timer);
      resolve({ connected: true, line: line.trim() });
    });
    c.on('error', (err) => {
      clearTimeout(timer);
      resolve({ connected: false, error: err.message });
    });
  });
  print(result);
  return result.connected ? 0 : 1;
}

const MODES: Record<string, (a: Args) => Promise<number>> = { serve, client, listen, send, punch, 'tcp-serve': tcpServe, 'tcp-connect': tcpConnect };

/** Entry point; returns the exit status (2 for bad usage). */
export async function probeMain(argv: string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`probe: ${(err as Error).message}\n`);
    return 2;
  }
  const run = MODES[args.mode];
  if (!run) {
    process.stderr.write(`probe: unknown mode "${args.mode}" (modes: ${Object.keys(MODES).join(', ')})\n`);
    return 2;
  }
  try {
    return await run(args);
  } catch (err) {
    process.stderr.write(`probe: ${(err as Error).message}\n`);
    return 2;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await probeMain(process.argv.slice(2));
}
