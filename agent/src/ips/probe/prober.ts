/**
 * `ips probe`: send each kind of our traffic to a conegate responder and see what arrives.
 * Safety first: neutral control packets must be acked by a conegate responder before any shaped
 * packet is sent, so the probe never sprays STUN/WireGuard/TLS at a host that is not ours. Every
 * loop is bounded: `attempts` packets per kind, `intervalMs` apart, and `timeoutMs` after the last.
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect, isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { Clock } from '../../clock/clock.ts';
import { ConegateError } from '../../errors.ts';
import { classifyReply, encodeNeutral, MSG_CONTROL, relayProbe, stunProbe, wireguardProbe, type ProbeKind } from './wire.ts';
import { isNeutral, decodeNeutral } from './wire.ts';

export interface ProbeConfig {
  host: string;
  port: number;
  attempts?: number;
  intervalMs?: number;
  timeoutMs?: number;
}

export interface ProbeDeps {
  clock: Clock;
  /** Nonce source (injected so tests are deterministic). */
  randomU32: () => number;
}

export type ProbeVerdict = 'passes' | 'blocked' | 'blocked-inbound';

export interface KindResult {
  kind: Exclude<ProbeKind, 'control'>;
  sent: number;
  /** Probes the responder confirmed (it saw them arrive). */
  arrived: number;
  /** Same-kind replies that reached us (STUN success, WireGuard-shaped response). */
  repliesReceived: number;
  verdict: ProbeVerdict;
  detail: string;
}

export interface ProbeReport {
  peer: string;
  results: KindResult[];
  blocked: string[];
}

type Shaped = 'stun' | 'wireguard';

const sleep = (clock: Clock, ms: number): Promise<void> => new Promise((r) => clock.setTimer(ms, r));

export async function runProbe(cfg: ProbeConfig, deps: ProbeDeps): Promise<ProbeReport> {
  const attempts = Math.max(1, Math.min(cfg.attempts ?? 3, 20));
  const intervalMs = Math.max(10, cfg.intervalMs ?? 200);
  const timeoutMs = Math.max(50, Math.min(cfg.timeoutMs ?? 2000, 30_000));
  const address = isIP(cfg.host) ? cfg.host : await resolve(cfg.host);
  const peer = `${address.includes(':') ? `[${address}]` : address}:${cfg.port}`;
  const sock = createSocket({ type: isIP(address) === 6 ? 'udp6' : 'udp4' });
  await new Promise<void>((r, j) => {
    sock.once('error', j);
    sock.bind(0, () => r());
  });
  sock.on('error', () => undefined);
  const nonces = new Map<number, ProbeKind>();
  const arrived = new Map<ProbeKind, Set<number>>();
  const replies = new Map<ProbeKind, Set<number>>();
  let controlAcked = false;
  sock.on('message', (msg: Buffer) => {
    const r = classifyReply(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
    if (!r || nonces.get(r.nonce) !== r.kind) return;
    if (r.kind === 'control' && r.ack) controlAcked = true;
    const set = r.ack ? arrived : replies;
    if (!set.has(r.kind)) set.set(r.kind, new Set());
    set.get(r.kind)!.add(r.nonce);
  });
  const newNonce = (kind: ProbeKind): number => {
    let n = deps.randomU32() >>> 0;
    while (nonces.has(n)) n = (n + 1) >>> 0;
    nonces.set(n, kind);
    return n;
  };
  const send = (b: Uint8Array) => new Promise<void>((r) => sock.send(b, cfg.port, address, () => r()));
  try {
    // 1. Is a conegate responder there? Only then send anything shaped like real traffic.
    for (let i = 0; i < attempts && !controlAcked; i++) {
      await send(encodeNeutral({ type: MSG_CONTROL, kind: 'control', nonce: newNonce('control') }));
      await waitFor(deps.clock, () => controlAcked, i === attempts - 1 ? timeoutMs : intervalMs);
    }
    if (!controlAcked) {
      throw new ConegateError('CG_NETWORK', `no conegate responder answered at ${peer} (${attempts} control packets, no ack); nothing else was sent. Start one there with: conegate ips responder --listen ADDR:${cfg.port}`);
    }
    // 2. Shaped UDP kinds, interleaved so a transient loss hits both alike.
    const sent: Record<Shaped, number> = { stun: 0, wireguard: 0 };
    for (let i = 0; i < attempts; i++) {
      await send(stunProbe(newNonce('stun')));
      sent.stun++;
      await send(wireguardProbe(newNonce('wireguard')));
      sent.wireguard++;
      if (i < attempts - 1) await sleep(deps.clock, intervalMs);
    }
    // TCP attempts each wait up to timeoutMs: at most 3 of them keeps the worst case short.
    const relayPromise = probeRelay(address, cfg.port, Math.min(attempts, 3), timeoutMs, deps, newNonce);
    await waitFor(deps.clock, () => (['stun', 'wireguard'] as const).every((k) => (arrived.get(k)?.size ?? 0) === sent[k] && (replies.get(k)?.size ?? 0) === sent[k]), timeoutMs);
    const results: KindResult[] = (['stun', 'wireguard'] as const).map((kind) => udpResult(kind, sent[kind], arrived.get(kind)?.size ?? 0, replies.get(kind)?.size ?? 0));
    results.push(await relayPromise);
    return { peer, results, blocked: results.filter((r) => r.verdict !== 'passes').map((r) => r.kind) };
  } finally {
    await new Promise<void>((r) => sock.close(() => r()));
  }
}

function udpResult(kind: Shaped, sent: number, got: number, replies: number): KindResult {
  if (got === 0) return { kind, sent, arrived: 0, repliesReceived: replies, verdict: 'blocked', detail: `none of ${sent} ${kind} probes reached the responder (dropped on the way out)` };
  if (replies === 0) return { kind, sent, arrived: got, repliesReceived: 0, verdict: 'blocked-inbound', detail: `${got}/${sent} arrived, but no ${kind} reply came back (dropped on the way in)` };
  return { kind, sent, arrived: got, repliesReceived: replies, verdict: 'passes', detail: `${got}/${sent} arrived, ${replies} replies came back` };
}

/** TCP to the responder's port with a TLS ClientHello; up to `attempts` connections until one is acked. */
async function probeRelay(address: string, port: number, attempts: number, timeoutMs: number, deps: ProbeDeps, newNonce: (k: ProbeKind) => number): Promise<KindResult> {
  let connected = 0;
  let lastError = '';
  for (let i = 0; i < attempts; i++) {
    const nonce = newNonce('relay');
    const r = await oneRelay(address, port, nonce, timeoutMs, deps.clock);
    if (r.connected) connected++;
    if (r.acked) return { kind: 'relay', sent: i + 1, arrived: 1, repliesReceived: 1, verdict: 'passes', detail: `TLS ClientHello over TCP acked (attempt ${i + 1})` };
    lastError = r.error;
  }
  const detail = connected > 0 ? `TCP connected ${connected}/${attempts} times but the ClientHello was never acked (data dropped on the way)` : `TCP connection failed ${attempts} times: ${lastError}`;
  return { kind: 'relay', sent: attempts, arrived: 0, repliesReceived: 0, verdict: 'blocked', detail };
}

function oneRelay(address: string, port: number, nonce: number, timeoutMs: number, clock: Clock): Promise<{ connected: boolean; acked: boolean; error: string }> {
  return new Promise((resolveResult) => {
    let connected = false;
    let settled = false;
    let buf = Buffer.alloc(0);
    const sock = connect({ host: address, port });
    const finish = (acked: boolean, error: string): void => {
      if (settled) return;
      settled = true;
      cancel();
      sock.destroy();
      resolveResult({ connected, acked, error });
    };
    const cancel = clock.setTimer(timeoutMs, () => finish(false, connected ? 'no ack' : 'connect timed out'));
    sock.on('connect', () => {
      connected = true;
      sock.write(relayProbe(nonce));
    });
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 12 && isNeutral(buf)) {
        try {
          const m = decodeNeutral(buf);
          finish(m.kind === 'relay' && m.nonce === nonce, 'ack for another probe');
        } catch {
          finish(false, 'malformed ack');
        }
      }
    });
    sock.on('error', (e: NodeJS.ErrnoException) => finish(false, e.code ?? e.message));
    sock.on('close', () => finish(false, connected ? 'closed without ack' : 'connection closed'));
  });
}

/** Resolves when cond() holds (checked every 10 ms) or after maxMs, whichever comes first. */
function waitFor(clock: Clock, cond: () => boolean, maxMs: number): Promise<void> {
  const deadline = clock.nowMs() + maxMs;
  return new Promise((resolveWait) => {
    const tick = (): void => {
      if (cond() || clock.nowMs() >= deadline) resolveWait();
      else clock.setTimer(Math.min(10, Math.max(0, deadline - clock.nowMs())), tick);
    };
    tick();
  });
}

async function resolve(host: string): Promise<string> {
  try {
    return (await lookup(host)).address;
  } catch (e) {
    throw new ConegateError('CG_NETWORK', `cannot resolve ${host}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}
