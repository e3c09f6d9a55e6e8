/**
 * One mesh node's discovery, minus WireGuard, for the engine-level birthday proof in the lab: the
 * discovery engine (agent/src/disco/engine.ts: decision, pacing, path choice), sealed discovery messages
 * (agent/src/disco/sealer.ts), the socket set (birthday-sockets.ts) and the opener (birthday-open.ts),
 * with a minimal loop of its own (the paths router's job in the node). The relay is a TCP hub on the lab
 * internet (`--hub`), a stand-in for the relay server: each line is a sealed discovery packet in base64.
 *
 *   node --import tsx test/lab/birthday-engine-driver.ts hub --bind ADDR:PORT [--max-ms 600000]
 *   node --import tsx test/lab/birthday-engine-driver.ts node --bind ADDR --port P --hub ADDR:PORT --keys JSON
 *        keys: {"node","discoPriv","peerNode","peerDisco"} (hex)
 * Node stdin (JSON lines): {"cmd":"stun","to"}, {"cmd":"self","endpoints":[..],"hard":bool},
 * {"cmd":"peer","endpoints":[..]}, {"cmd":"traffic"}, {"cmd":"status"}, {"cmd":"exit"}.
 * Node stdout: {"event":"ready"}, {"event":"stun","seen"}, {"event":"direct","ms","via","socket"} once the
 * engine routes the peer directly (ms from "traffic" or from the first discovery message),
 * {"event":"status",...}.
 */
import { createServer, createConnection, type Socket as TcpSocket } from 'node:net';
import { createInterface } from 'node:readline';
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { realClock, type CancelTimer } from '../../agent/src/clock/clock.ts';
import { DiscoEngine } from '../../agent/src/disco/engine.ts';
import { DiscoSealer } from '../../agent/src/disco/sealer.ts';
import { isDisco } from '../../agent/src/mesh/demux.ts';
import { BirthdayOpener } from '../../agent/src/paths/birthday-open.ts';
import { DgramSocketSet } from '../../agent/src/paths/birthday-sockets.ts';
import type { PathAction, Via } from '../../agent/src/paths/types.ts';
import { keyFromHex, publicKey } from '../../agent/src/wg/keys.ts';
import type { Endpoint } from '../../agent/src/wg/ports.ts';
import { parseEndpoint } from './probe.ts';

const randomBytes = (n: number) => new Uint8Array(nodeRandomBytes(n));
const out = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

/** The hub: every line from one connection goes to every other (two nodes per run). */
function hub(bind: Endpoint, maxMs: number): void {
  const conns = new Set<TcpSocket>();
  const server = createServer((c) => {
    conns.add(c);
    createInterface({ input: c }).on('line', (line) => {
      for (const o of conns) if (o !== c) o.write(line + '\n');
    });
    c.on('close', () => conns.delete(c));
    c.on('error', () => c.destroy());
  });
  server.listen(bind.port, bind.address, () => out({ event: 'ready' }));
  setTimeout(() => process.exit(0), maxMs).unref();
}

async function node(): Promise<void> {
  const keys = JSON.parse(arg('keys') ?? '{}') as { node: string; discoPriv: string; peerNode: string; peerDisco: string };
  const hubAt = parseEndpoint(arg('hub') ?? '');
  if (!hubAt) throw new Error('--hub ADDR:PORT');
  const clock = realClock;
  const sockets = await DgramSocketSet.open(arg('bind')!, Number(arg('port') ?? 0));
  const discoPriv = keyFromHex(keys.discoPriv);
  const sealer = new DiscoSealer(discoPriv, publicKey(discoPriv), { randomBytes, wallMs: () => Date.now() });
  const engine = new DiscoEngine({ nodeKey: keys.node }, { randomBytes });
  const relay = createConnection(hubAt.port, hubAt.address);
  let startMs: number | undefined;
  let direct = false;
  let timer: CancelTimer | undefined;
  let stunWaiter: ((seen: string) => void) | undefined;

  const perform = (a: PathAction): void => {
    if (a.t === 'disco') {
      const sealed = sealer.seal(keys.peerDisco, a.message);
      if (a.via.kind === 'direct') sockets.send(a.via.socket, sealed, a.via.endpoint);
      else if (a.via.kind === 'tcp-relay') relay.write(Buffer.from(sealed).toString('base64') + '\n');
    } else if (a.t === 'open-sockets') opener.open(a.peer, a.count);
    else if (a.t === 'close-sockets') sockets.closeExtra(a.ids);
  };
  const run = (actions: PathAction[]): void => {
    for (const a of actions) perform(a);
    const via = engine.route(keys.peerNode, clock.nowMs())[0];
    if (!direct && via?.kind === 'direct') {
      direct = true;
      out({ event: 'direct', ms: Math.round(clock.nowMs() - (startMs ?? clock.nowMs())), via: `${via.endpoint.address}:${via.endpoint.port}`, socket: via.socket, localPort: sockets.localPort(via.socket) });
    }
    timer?.();
    const at = engine.nextWakeMs();
    timer = at === undefined ? undefined : clock.setTimer(Math.max(0, at - clock.nowMs()), () => run(engine.tick(clock.nowMs())));
  };
  const opener = new BirthdayOpener({ sockets, engine, clock, run });
  const onDisco = (packet: Uint8Array, via: Via): void => {
    try {
      const opened = sealer.open(packet, (k) => k === keys.peerDisco);
      if (!opened.message) return;
      startMs ??= clock.nowMs();
      run(engine.onDisco(opened.senderHex, opened.message, via, clock.nowMs()));
    } catch {
      // Forged, replayed or from an unknown key: dropped (the router counts these).
    }
  };
  sockets.onReceive((packet, from, socket) => {
    if (isDisco(packet)) return onDisco(packet, { kind: 'direct', endpoint: from, socket });
    try {
      const seen = (JSON.parse(Buffer.from(packet).toString()) as { seen?: unknown }).seen;
      if (typeof seen === 'string') stunWaiter?.(seen);
    } catch {
      // A stray datagram.
    }
  });
  createInterface({ input: relay }).on('line', (line) => onDisco(new Uint8Array(Buffer.from(line, 'base64')), { kind: 'tcp-relay', region: 'hub' }));
  await new Promise<void>((resolve, reject) => relay.once('connect', resolve).once('error', reject));
  out({ event: 'ready' });

  const stdin = createInterface({ input: process.stdin });
  const stop = setTimeout(() => stdin.close(), Number(arg('max-ms') ?? 120_000));
  for await (const line of stdin) {
    const c = JSON.parse(line) as { cmd: string; to?: string; endpoints?: string[]; hard?: boolean };
    const eps = (c.endpoints ?? []).map((e) => parseEndpoint(e)!).filter(Boolean);
    if (c.cmd === 'exit') break;
    if (c.cmd === 'stun') {
      const seen = await new Promise<string | null>((resolve) => {
        const t = setTimeout(() => resolve(null), 2000);
        stunWaiter = (s) => (clearTimeout(t), resolve(s));
        sockets.send(0, Buffer.from('{}'), parseEndpoint(c.to ?? '')!);
      });
      out({ event: 'stun', seen });
    } else if (c.cmd === 'self') run(engine.setSelf({ endpoints: eps, mappingVariesByDest: c.hard === true, udp: true }, clock.nowMs()));
    else if (c.cmd === 'peer') run(engine.setPeers([{ nodeKey: keys.peerNode, discoKey: keys.peerDisco, endpoints: eps, homeRelay: 'hub' }], clock.nowMs()));
    else if (c.cmd === 'traffic') {
      startMs = clock.nowMs();
      run(engine.onTraffic(keys.peerNode, clock.nowMs()));
    } else if (c.cmd === 'status') out({ event: 'status', extraOpen: sockets.extraCount(), opened: opener.last.get(keys.peerNode), ...engine.status(keys.peerNode, clock.nowMs()) });
  }
  clearTimeout(stop);
  timer?.();
  opener.close();
  relay.destroy();
  sockets.close();
}

const mode = process.argv[2];
if (mode === 'hub') hub(parseEndpoint(arg('bind') ?? '')!, Number(arg('max-ms') ?? 600_000));
else
  node().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`birthday-engine-driver: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
