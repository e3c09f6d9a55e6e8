/**
 * The path router's cost on the direct path: two WireGuard devices over the in-memory network, once
 * with the plain memory bind (the device as `conegate wg` runs it) and once with the path router as
 * the device's Bind (virtual endpoints, the engine's route per packet, the socket set), 1420-byte
 * packets, interleaved rounds, medians. The router runs with the discovery engine after a real
 * ping/pong made the direct path trusted, and with the map engine (route = one cached array) to
 * separate the router's own cost from the engine's.
 *   node --import tsx bench/run.ts paths [--quick]
 * (not `npm run bench`: its setup step runs `npm ci`, which empties a node_modules shared by worktrees)
 */
import { loadavg } from 'node:os';
import { FakeClock } from '../agent/src/clock/clock.ts';
import { DiscoEngine } from '../agent/src/disco/engine.ts';
import { DiscoSealer } from '../agent/src/disco/sealer.ts';
import { silentLogger } from '../agent/src/log/logger.ts';
import { sealerBox } from '../agent/src/paths/disco-box.ts';
import { MapEngine } from '../agent/src/paths/map-engine.ts';
import { MemorySocketSet } from '../agent/src/paths/memory-sockets.ts';
import { PathRouter } from '../agent/src/paths/router.ts';
import type { PathEngine } from '../agent/src/paths/types.ts';
import { WgDevice } from '../agent/src/wg/device.ts';
import { generatePrivateKey, keyToHex, publicKey } from '../agent/src/wg/keys.ts';
import { MemoryNetwork } from '../agent/src/wg/memory-bind.ts';
import { MemoryTun } from '../agent/src/wg/memory-tun.ts';
import type { Bind, Endpoint } from '../agent/src/wg/ports.ts';
import { ipv4Packet, seededRandom } from '../agent/src/wg/testbed.ts';

const PACKET_BYTES = 1420;
const BATCH = 1000;
type Variant = 'plain' | 'router-map' | 'router-disco';

interface Pair {
  clock: FakeClock;
  net: MemoryNetwork;
  a: { dev: WgDevice; tun: MemoryTun; addr: string };
  b: { dev: WgDevice; tun: MemoryTun; addr: string };
  directA: () => boolean;
}

function pair(variant: Variant): Pair {
  const clock = new FakeClock(1_000_000);
  const net = new MemoryNetwork();
  const mk = (name: string, last: number) => {
    const priv = generatePrivateKey(seededRandom(`bench:${name}`));
    const dpriv = generatePrivateKey(seededRandom(`bench:${name}:d`));
    return { name, last, priv, pub: publicKey(priv), key: keyToHex(publicKey(priv)), dpriv, disco: keyToHex(publicKey(dpriv)), at: { address: `192.0.2.${last}`, port: 41641 } as Endpoint };
  };
  const sa = mk('a', 1);
  const sb = mk('b', 2);
  const engines: PathEngine[] = [];
  const build = (self: typeof sa, other: typeof sa) => {
    let bind: Bind;
    let endpoint: Endpoint = other.at;
    if (variant === 'plain') bind = net.bind(self.at);
    else {
      const engine: PathEngine = variant === 'router-map' ? new MapEngine() : new DiscoEngine({ nodeKey: self.key }, { randomBytes: seededRandom(`bench:${self.name}:e`) });
      engines.push(engine);
      const sealer = new DiscoSealer(self.dpriv, publicKey(self.dpriv), { randomBytes: seededRandom(`bench:${self.name}:n`), wallMs: () => clock.nowMs() });
      const router = new PathRouter({ engine, sockets: new MemorySocketSet(net, self.at), disco: sealerBox(sealer), clock, log: silentLogger() });
      endpoint = router.setPeers([{ nodeKey: other.key, discoKey: other.disco, endpoints: [other.at], homeRelay: null }]).get(other.key)!;
      bind = router;
    }
    const tun = new MemoryTun(`wg${self.name}`);
    tun.keepWritten = false;
    const dev = new WgDevice({ privateKey: self.priv, peers: [{ publicKey: other.pub, allowedIps: [`10.9.0.${other.last}/32`], endpoint }] }, { clock, bind, tun, randomBytes: seededRandom(`bench:${self.name}:dev`), wallClockMs: () => clock.nowMs(), jitterMs: () => 0 });
    dev.start();
    return { dev, tun, addr: `10.9.0.${self.last}` };
  };
  const a = build(sa, sb);
  const b = build(sb, sa);
  const directA = () => variant !== 'router-disco' || engines[0]!.route(sb.key, clock.nowMs())[0]?.kind === 'direct';
  return { clock, net, a, b, directA };
}

/** Brings the tunnel (and, with discovery, the trusted direct path) up; returns the pair ready to measure. */
async function ready(variant: Variant): Promise<Pair> {
  const p = pair(variant);
  const pkt = ipv4Packet(p.a.addr, p.b.addr, 40);
  let got = 0;
  p.b.tun.onWrite = () => got++;
  for (let i = 0; i < 40 && (got === 0 || !p.directA()); i++) {
    p.a.tun.inject(pkt);
    await p.net.idle();
    p.clock.advance(1000);
    await p.net.idle();
  }
  if (got === 0 || !p.directA()) throw new Error(`${variant}: no direct tunnel came up (delivered ${got}, direct ${p.directA()}, net ${p.net.delivered}/${p.net.dropped}, a ${JSON.stringify(p.a.dev.stats())})`);
  p.b.tun.onWrite = undefined;
  return p;
}

async function throughput(p: Pair, packets: number): Promise<number> {
  let delivered = 0;
  p.b.tun.onWrite = () => delivered++;
  const pkt = ipv4Packet(p.a.addr, p.b.addr, PACKET_BYTES - 20);
  const t0 = performance.now();
  for (let sent = 0; sent < packets; sent += BATCH) {
    for (let i = 0; i < BATCH; i++) p.a.tun.inject(pkt);
    await p.net.idle();
  }
  const sec = (performance.now() - t0) / 1000;
  if (delivered !== packets) throw new Error(`delivered ${delivered} of ${packets}`);
  return Math.round(packets / sec);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function run(args: string[] = []): Promise<unknown> {
  const quick = args.includes('--quick');
  const rounds = quick ? 3 : 7;
  const n = quick ? 10_000 : 30_000;
  const variants: Variant[] = ['plain', 'router-map', 'router-disco'];
  const pairs = new Map<Variant, Pair>();
  for (const v of variants) pairs.set(v, await ready(v));
  for (const v of variants) await throughput(pairs.get(v)!, 5_000); // warm up
  const pps: Record<Variant, number[]> = { plain: [], 'router-map': [], 'router-disco': [] };
  for (let r = 0; r < rounds; r++) for (const v of variants) pps[v].push(await throughput(pairs.get(v)!, n));
  const m = (v: Variant) => median(pps[v]);
  return {
    packetBytes: PACKET_BYTES,
    packetsPerRound: n,
    rounds,
    node: process.version,
    loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
    packetsPerSec: { plain: m('plain'), routerMapEngine: m('router-map'), routerDiscoEngine: m('router-disco') },
    perRound: pps,
    ratioToPlain: { routerMapEngine: Number((m('router-map') / m('plain')).toFixed(3)), routerDiscoEngine: Number((m('router-disco') / m('plain')).toFixed(3)) },
    // The same within each round (the variants run back to back, so a load change mid-run cancels out).
    medianRoundRatio: {
      routerMapEngine: Number(median(pps['router-map'].map((x, i) => x / pps.plain[i]!)).toFixed(3)),
      routerDiscoEngine: Number(median(pps['router-disco'].map((x, i) => x / pps.plain[i]!)).toFixed(3)),
    },
  };
}
