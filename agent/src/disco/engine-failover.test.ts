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

test('sent but nothing received: the path in use is probed after 1 s of silence and given up for the relay about 1 s later', () => {
  const e = engine();
  pong(e, e.onTraffic(PEER, 0), THEIRS[0]!, 20);
  const CUT = 10_000;
  drive(e, 100, CUT - 100, () => true, () => true);
  assert.deepEqual(e.route(PEER, CUT), [direct(THEIRS[0]!)]);
  // The path dies: nothing comes back, pings unanswered.
  const routes: string[] = [];
  const sent = drive(e, CUT, CUT + 2_100, () => false, () => false, [], routes);
  const probes = sent.filter((t) => t >= CUT);
  assert.ok(probes.length >= 1 && probes[0]! <= CUT + 1_100, `probed at ${probes.join(', ')}`);
  assert.deepEqual([...new Set(routes)], ['direct', 'direct+tcp-relay', 'tcp-relay'], 'a relay copy while the probe is out, then the relay alone');
  assert.deepEqual(e.route(PEER, CUT + 2_100), [{ kind: 'tcp-relay', region: 'r1' }], 'relay only, about 2 s after the last packet heard');
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
  // Data out, nothing back, pings answered (the peer only receives): at most a probe (2 pings) per 3 s.
  const sent = drive(e, 100, 30_000, () => false, () => true);
  assert.ok(sent.length <= 22, `${sent.length} pings in 30 s`);
  assert.deepEqual(e.route(PEER, 30_000), [direct(THEIRS[0]!)]);
  // Every other ping lost (one of each probe's two): still direct.
  let n = 0;
  drive(e, 30_100, 60_000, () => false, () => n++ % 2 === 1);
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
