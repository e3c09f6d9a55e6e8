// The engine's failover on explicit times: "sent but nothing received" on the path in use, the probe, the
// relay copy, the give-up, and what a quiet or one-way peer costs (docs/mesh-paths.md "Failover").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededBytes } from '../../../test/fakes/disco-mesh.ts';
import type { PathAction, Via } from '../paths/types.ts';
import type { Endpoint } from '../wg/ports.ts';
import { DiscoEngine } from './engine.ts';

const SELF = 'aa'.repeat(32);
const PEER = 'bb'.repeat(32);
const PEER_DISCO = 'cc'.repeat(32);
const OURS: Endpoint = { address: '198.51.100.1', port: 41641 };
const THEIRS: Endpoint[] = [{ address: '203.0.113.7', port: 41641 }, { address: '10.7.0.2', port: 41641 }];

type Disco = Extract<PathAction, { t: 'disco' }>;
const discos = (a: PathAction[], type?: string) => a.filter((x): x is Disco => x.t === 'disco' && (!type || x.message.type === type));
const direct = (endpoint: Endpoint, socket = 0): Via => ({ kind: 'direct', endpoint, socket });

function engine(): DiscoEngine {
  const e = new DiscoEngine({ nodeKey: SELF }, { randomBytes: seededBytes(7) });
  e.setSelf({ endpoints: [OURS], mappingVariesByDest: false, udp: true }, 0);
  e.setPeers([{ nodeKey: PEER, discoKey: PEER_DISCO, endpoints: THEIRS, homeRelay: 'r1' }], 0);
  return e;
}

/** Answers every ping in `acts` sent to `to` (as the peer would) at `atMs`. */
function pong(e: DiscoEngine, acts: PathAction[], to: Endpoint, atMs: number): PathAction[] {
  const out: PathAction[] = [];
  for (const p of discos(acts, 'ping')) {
    if (p.via.kind !== 'direct' || p.via.endpoint.address !== to.address || p.via.endpoint.port !== to.port || p.message.type !== 'ping') continue;
    out.push(...e.onDisco(PEER_DISCO, { type: 'pong', txId: p.message.txId, src: OURS }, p.via, atMs));
  }
  return out;
}

/**
 * Steps a peer on THEIRS[0] in 100 ms steps: we send every step; `back(t)` says whether the peer's data
 * reaches us (reported as the router does, `onReceive`), `answers(t)` whether pings to it get a pong
 * (after 20 ms). Returns the pings sent on the path, by time.
 */
function drive(e: DiscoEngine, fromMs: number, toMs: number, back: (t: number) => boolean, answers: (t: number) => boolean, sent: number[] = [], routes: string[] = []): number[] {
  for (let t = fromMs; t <= toMs; t += 100) {
    const acts = [...e.onTraffic(PEER, t)];
    if (back(t)) acts.push(...e.onReceive(PEER, direct(THEIRS[0]!), t));
    const w = e.nextWakeMs();
    if (w !== undefined && w <= t) acts.push(...e.tick(t));
    for (const p of discos(acts, 'ping')) {
      if (p.via.kind !== 'direct' || p.via.endpoint.address !== THEIRS[0]!.address) continue;
      sent.push(t);
      if (answers(t)) pong(e, [p], THEIRS[0]!, t + 20);
    }
    routes.push(e.route(PEER, t).map((v) => v.kind).join('+'));
  }
  return sent;
}

test('sent but nothing received: the path in use is probed after 0.5 s of silence and given up for the relay about 1 s later', () => {
  const e = engine();
  pong(e, e.onTraffic(PEER, 0), THEIRS[0]!, 20);
  const CUT = 10_000;
  drive(e, 100, CUT - 100, () => true, () => true);
  assert.deepEqual(e.route(PEER, CUT), [direct(THEIRS[0]!)]);
  // The path dies: nothing comes back, pings unanswered.
  const routes: string[] = [];
  const sent = drive(e, CUT, CUT + 2_100, () => false, () => false, [], routes);
  const probes = sent.filter((t) => t >= CUT);
  assert.ok(probes.length >= 1 && probes[0]! <= CUT + 600, `probed at ${probes.join(', ')}`);
  assert.deepEqual([...new Set(routes)], ['direct', 'direct+tcp-relay', 'tcp-relay'], 'a relay copy while the probe is out, then the relay alone');
  assert.deepEqual(e.route(PEER, CUT + 1_700), [{ kind: 'tcp-relay', region: 'r1' }], 'relay only, about 1.5 s after the last packet heard');
  assert.equal(e.status(PEER, CUT + 2_100)!.path?.kind, 'tcp-relay');
  assert.match(e.status(PEER, CUT + 2_100)!.events.at(-1)!.text, /silent for \d+ ms while sending, ping unanswered; on relay/);
  // Healed: the relayed rounds re-probe it; direct again within one round (5 s).
  const HEAL = CUT + 4_000;
  drive(e, CUT + 2_200, HEAL - 100, () => false, () => false);
  drive(e, HEAL, HEAL + 5_200, () => false, () => true);
  assert.deepEqual(e.route(PEER, HEAL + 5_200), [direct(THEIRS[0]!)], 'direct again within a round of healing');
});

test('silence checks: a quiet peer costs nothing; a one-way flow probes at heartbeat pace and stays direct; one lost probe ping moves nothing', () => {
  const e = engine();
  pong(e, e.onTraffic(PEER, 0), THEIRS[0]!, 20);
  // Data out, nothing back, pings answered (the peer only receives): at most a probe (3 pings) per 3 s.
  const sent = drive(e, 100, 30_000, () => false, () => true);
  assert.ok(sent.length <= 33, `${sent.length} pings in 30 s`);
  assert.deepEqual(e.route(PEER, 30_000), [direct(THEIRS[0]!)]);
  // Two of each probe's three pings lost: still direct.
  let n = 0;
  drive(e, 30_100, 60_000, () => false, () => n++ % 3 === 2);
  assert.deepEqual(e.route(PEER, 60_000), [direct(THEIRS[0]!)]);
  // Idle (nothing sent for 45 s): no pings at all.
  const idle = new DiscoEngine({ nodeKey: SELF }, { randomBytes: seededBytes(7) });
  idle.setSelf({ endpoints: [OURS], mappingVariesByDest: false, udp: true }, 0);
  idle.setPeers([{ nodeKey: PEER, discoKey: PEER_DISCO, endpoints: THEIRS, homeRelay: 'r1' }], 0);
  pong(idle, idle.onTraffic(PEER, 0), THEIRS[0]!, 20);
  let pings = 0;
  for (let t = 46_000; t <= 120_000; t += 100) {
    const w = idle.nextWakeMs();
    if (w !== undefined && w <= t) pings += discos(idle.tick(t), 'ping').length;
  }
  assert.equal(pings, 0);
});

/**
 * A TCP sender inside the tunnel whose ACKs stopped sends nothing but its retransmissions (Linux: RTO_MIN
 * 200 ms, doubling: about 0.2, 0.6, 1.4, 3.0 s after the loss). The relay copy must be in place for the
 * 0.6 s one, and `status` must say relay as soon as the engine routes to the relay alone, both within
 * the 3 s with room to spare. (The old 1 s silence let the 0.6 s retransmission go direct only and
 * showed the relay at 2 s or later.)
 */
test('a TCP sender waiting on retransmissions: the relay copy carries the 0.6 s retransmission; status says relay within 1.6 s', () => {
  const e = engine();
  pong(e, e.onTraffic(PEER, 0), THEIRS[0]!, 20);
  const CUT = 10_000;
  drive(e, 100, CUT - 100, () => true, () => true);
  const routes = new Map<number, string>();
  const kinds: [number, string][] = [];
  // The stream's last packets leave as the cut begins (the window was open), then only retransmissions.
  const sends = [0, 200, 600, 1_400, 3_000].map((x) => CUT + x);
  for (let t = CUT; t <= CUT + 3_000; t += 10) {
    const w = e.nextWakeMs();
    if (w !== undefined && w <= t) e.tick(t);
    if (sends.includes(t)) {
      e.onTraffic(PEER, t);
      routes.set(t - CUT, e.route(PEER, t).map((v) => v.kind).join('+'));
    }
    // What status says at every moment is what the engine routes by at that moment.
    const st = e.status(PEER, t)!;
    const route = e.route(PEER, t);
    assert.equal(st.path?.kind === 'tcp-relay', route.length === 1 && route[0]!.kind === 'tcp-relay', `status and route agree at +${t - CUT} ms`);
    if (kinds.at(-1)?.[1] !== st.path?.kind) kinds.push([t - CUT, st.path?.kind ?? 'none']);
  }
  assert.equal(routes.get(200), 'direct', 'the first retransmission: the path was fine 0.2 s ago');
  assert.equal(routes.get(600), 'direct+tcp-relay', 'the 0.6 s retransmission gets a relay copy');
  assert.match(routes.get(1_400)!, /tcp-relay$/, 'the 1.4 s one too');
  const relayAt = kinds.find(([, k]) => k === 'tcp-relay')?.[0];
  assert.ok(relayAt !== undefined && relayAt <= 1_600, `status says tcp-relay at +${relayAt} ms (${JSON.stringify(kinds)})`);
});

/**
 * A lossy path that works is kept: 20% of everything lost (data back and pings, independently), traffic
 * both ways every 100 ms for 10 minutes: never given up, and a relay copy on few sends. And a one-way flow
 * (only pongs come back) with 10% ping loss: never given up either.
 */
test('no flapping: a lossy but working path stays direct for 10 minutes, two-way and one-way', () => {
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (const [name, back, answers] of [['two-way, 20% loss', () => rnd() >= 0.2, () => rnd() >= 0.2], ['one-way, 10% ping loss', () => false, () => rnd() >= 0.1]] as const) {
    const e = engine();
    pong(e, e.onTraffic(PEER, 0), THEIRS[0]!, 20);
    const routes: string[] = [];
    drive(e, 100, 600_000, back, answers, [], routes);
    const events = e.status(PEER, 600_000)!.events.map((x) => x.text);
    assert.equal(events.filter((x) => /on relay/.test(x)).length, 0, `${name}: never given up (${events.join('; ')})`);
    assert.ok(routes.every((r) => r.startsWith('direct')), `${name}: always direct`);
    const copies = routes.filter((r) => r === 'direct+tcp-relay').length / routes.length;
    assert.ok(copies < 0.05, `${name}: relay copy on ${(copies * 100).toFixed(1)}% of sends`);
  }
});
