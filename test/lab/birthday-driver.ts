/**
 * One side of a birthday attempt at the socket level, run inside a lab namespace:
 *   node --import tsx test/lab/birthday-driver.ts --bind ADDR [--port P] [--max-ms 600000] [--attempt JSON]
 * Binds the mesh socket (DgramSocketSet) and runs the executor (agent/src/paths/birthday-exec.ts) with
 * the plain ping/pong of birthday-wire.ts.
 *
 * With --attempt JSON (BirthdayParams): runs that one attempt and exits 0 (a winner), 1 (no winner, or
 * refused: CG_BIRTHDAY_REFUSED on stderr, nothing sent), 2 (bad input). Otherwise it serves JSON lines
 * on stdin, each answered by one JSON line on stdout:
 *   {"cmd":"stun","to":"ip:port"}  one request to a lab reflector from the mesh socket (3 tries, 1 s each)
 *                                  -> {"event":"stun","seen":"ip:port"} (or "seen":null)
 *   {"cmd":"attempt",...params}    -> {"event":"report","report":{...}} (or {"event":"refused","code","message"})
 *   {"cmd":"wg","privateKey":hex,"peerPublicKey":hex,"peer":"ip:port","peerTun":"10.9.0.2"}
 *                                  starts a userspace WireGuard device (agent/src/wg, MemoryTun) on the socket
 *                                  the attempt won (the mesh socket on the easy side) -> {"event":"wg","socket","localPort"}
 *   {"cmd":"wg-send","src":"10.9.0.1","dst":"10.9.0.2"}  one IPv4 packet into the tunnel -> {"event":"wg-sent"}
 *   {"cmd":"wg-wait","n":1}        -> {"event":"wg-recv","n","peer":{endpoint,rxBytes,txBytes}} once n packets came out
 *                                  of the tunnel (or "timedOut":true after 10 s)
 *   {"cmd":"release"}              closes the attempt's sockets (the winner too) and the device -> {"event":"released","report"}
 *   {"cmd":"exit"}                 (or end of stdin, or --max-ms) closes everything and exits.
 * Answers to the peer's pings continue after the first pong until "release", so the peer gets its pong.
 */
import { createInterface } from 'node:readline';
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { realClock } from '../../agent/src/clock/clock.ts';
import { ConegateError, EXIT_STATUS } from '../../agent/src/errors.ts';
import { BirthdayAttempt, type BirthdayReport } from '../../agent/src/paths/birthday-exec.ts';
import type { BirthdayParams } from '../../agent/src/paths/birthday-plan.ts';
import { DgramSocketSet } from '../../agent/src/paths/birthday-sockets.ts';
import { MESH_SOCKET } from '../../agent/src/paths/types.ts';
import { formatEndpoint } from '../../agent/src/wg/ports.ts';
import { ipv4Packet } from '../../agent/src/wg/testbed.ts';
import { wgOverSocket, type WgOverSocket } from './birthday-wg.ts';
import { plainWire } from './birthday-wire.ts';
import { parseEndpoint } from './probe.ts';

const randomBytes = (n: number) => new Uint8Array(nodeRandomBytes(n));
const out = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
/** Every answer in serve mode echoes the command's `id` first, so the test can wait for exactly its answer. */
const answer = (id: number | undefined, o: object) => out({ id, ...o });

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

class Driver {
  attempt: BirthdayAttempt | undefined;
  wg: WgOverSocket | undefined;
  private stunWaiter: ((seen: string) => void) | undefined;

  constructor(readonly sockets: DgramSocketSet) {
    sockets.onReceive((packet, from, socket) => {
      if (this.attempt?.handle(packet, from, socket)) return;
      if (this.wg && socket === this.wg.bind.socket) return this.wg.bind.deliver(packet, from);
      if (socket === MESH_SOCKET && this.stunWaiter) {
        try {
          const seen = (JSON.parse(Buffer.from(packet).toString()) as { seen?: unknown }).seen;
          if (typeof seen === 'string') this.stunWaiter(seen);
        } catch {
          // Not the reflector's JSON: ignored like any stray datagram.
        }
      }
    });
  }

  async stun(to: string): Promise<string | null> {
    const ep = parseEndpoint(to);
    if (!ep) throw new ConegateError('CG_INPUT_INVALID', `stun: bad endpoint ${to}`);
    for (let i = 0; i < 3; i++) {
      const seen = await new Promise<string | null>((resolve) => {
        const t = setTimeout(() => resolve(null), 1000);
        this.stunWaiter = (s) => {
          clearTimeout(t);
          resolve(s);
        };
        this.sockets.send(MESH_SOCKET, Buffer.from('{}'), ep);
      });
      this.stunWaiter = undefined;
      if (seen) return seen;
    }
    return null;
  }

  startWg(c: { privateKey?: string; peerPublicKey?: string; peer?: string; peerTun?: string }): { socket: number; localPort: number | undefined } {
    const won = this.attempt?.snapshot().winner;
    const peer = parseEndpoint(c.peer ?? '');
    if (!won || !peer || !c.privateKey || !c.peerPublicKey || !c.peerTun) throw new ConegateError('CG_INPUT_INVALID', 'wg: needs a won attempt, privateKey, peerPublicKey, peer, peerTun');
    this.wg?.stop();
    this.wg = wgOverSocket({ set: this.sockets, socket: won.socket, clock: realClock, privateKeyHex: c.privateKey, peerPublicKeyHex: c.peerPublicKey, peer, peerTun: c.peerTun });
    return { socket: won.socket, localPort: this.sockets.localPort(won.socket) };
  }

  async wgWait(n: number): Promise<object> {
    const tun = this.wg?.tun;
    if (!tun) throw new ConegateError('CG_INPUT_INVALID', 'wg-wait: no device');
    const enough = () => tun.written.length >= n;
    const timedOut = enough()
      ? false
      : await new Promise<boolean>((resolve) => {
          const t = setTimeout(() => resolve(true), 10_000);
          tun.onWrite = () => {
            if (!enough()) return;
            clearTimeout(t);
            resolve(false);
          };
        });
    const p = this.wg!.dev.peers()[0];
    return { n: tun.written.length, timedOut, peer: p && { endpoint: p.endpoint && formatEndpoint(p.endpoint), rxBytes: p.rxBytes, txBytes: p.txBytes } };
  }

  stopWg(): void {
    this.wg?.stop();
    this.wg = undefined;
  }

  run(params: BirthdayParams): Promise<BirthdayReport> {
    this.stopWg();
    this.attempt?.release();
    this.attempt = new BirthdayAttempt(params, { sockets: this.sockets, clock: realClock, randomBytes, wire: plainWire(params.attempt) });
    return this.attempt.start();
  }
}

async function serve(d: Driver, maxMs: number): Promise<void> {
  const rl = createInterface({ input: process.stdin });
  const stop = setTimeout(() => rl.close(), maxMs);
  for await (const line of rl) {
    if (!line.trim()) continue;
    let cmd: { cmd?: string; to?: string; id?: number } & Partial<BirthdayParams>;
    try {
      cmd = JSON.parse(line);
    } catch {
      answer(undefined, { event: 'error', message: 'not JSON' });
      continue;
    }
    if (cmd.cmd === 'exit') break;
    if (cmd.cmd === 'stun') answer(cmd.id, { event: 'stun', seen: await d.stun(cmd.to ?? '') });
    else if (cmd.cmd === 'wg') {
      try {
        answer(cmd.id, { event: 'wg', ...d.startWg(cmd as Record<string, string>) });
      } catch (e) {
        answer(cmd.id, { event: 'error', message: e instanceof Error ? e.message : String(e) });
      }
    } else if (cmd.cmd === 'wg-send') {
      const c = cmd as { src?: string; dst?: string };
      d.wg?.tun.inject(ipv4Packet(c.src ?? '10.9.0.1', c.dst ?? '10.9.0.2', 64));
      answer(cmd.id, { event: d.wg ? 'wg-sent' : 'error' });
    } else if (cmd.cmd === 'wg-wait') {
      d.wgWait(Number((cmd as { n?: number }).n ?? 1)).then(
        (r) => answer(cmd.id, { event: 'wg-recv', ...r }),
        (e: unknown) => answer(cmd.id, { event: 'error', message: e instanceof Error ? e.message : String(e) }),
      );
    } else if (cmd.cmd === 'release') {
      const report = d.attempt?.snapshot();
      d.stopWg();
      d.attempt?.release();
      d.attempt = undefined;
      answer(cmd.id, { event: 'released', report, extraOpen: d.sockets.extraCount() });
    } else if (cmd.cmd === 'attempt') {
      // Not awaited: the next line (release) must be read while the attempt runs.
      d.run(cmd as BirthdayParams).then(
        (report) => answer(cmd.id, { event: 'report', report }),
        (e: unknown) => answer(cmd.id, { event: 'refused', code: e instanceof ConegateError ? e.code : 'CG_INTERNAL', message: e instanceof Error ? e.message : String(e) }),
      );
    } else answer(cmd.id, { event: 'error', message: `unknown command ${String(cmd.cmd)}` });
  }
  clearTimeout(stop);
}

async function main(): Promise<number> {
  const bind = arg('bind');
  const port = Number(arg('port') ?? '0');
  if (!bind || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConegateError('CG_USAGE', 'usage: birthday-driver.ts --bind ADDR [--port P] [--attempt JSON]');
  const sockets = await DgramSocketSet.open(bind, port);
  const d = new Driver(sockets);
  try {
    const once = arg('attempt');
    if (once !== undefined) {
      let params: BirthdayParams;
      try {
        params = JSON.parse(once) as BirthdayParams;
      } catch {
        throw new ConegateError('CG_USAGE', '--attempt: not JSON');
      }
      try {
        const report = await d.run(params);
        out({ event: 'report', report, sent: sockets.counters.sent });
        return report.ok ? 0 : 1;
      } catch (e) {
        // Refused or out of budget: say what was sent (nothing, the test checks it) and exit by the code.
        out({ event: 'refused', code: e instanceof ConegateError ? e.code : 'CG_INTERNAL', sent: sockets.counters.sent, extraOpen: sockets.extraCount() });
        throw e;
      }
    }
    out({ event: 'ready', local: formatEndpoint({ address: bind, port: sockets.localPort(MESH_SOCKET)! }) });
    await serve(d, Number(arg('max-ms') ?? '600000'));
    return 0;
  } finally {
    d.stopWg();
    d.attempt?.release();
    sockets.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    const code = e instanceof ConegateError ? e.code : 'CG_INTERNAL';
    process.stderr.write(`birthday-driver: ${code}: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(e instanceof ConegateError ? EXIT_STATUS[e.code] : 1);
  },
);
