// The NAT matrix in miniature: several discovery engines, real sealed discovery messages, an in-memory
// internet with modelled NATs and a relay twin, on simulated time (test/fakes/disco-mesh.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeshSim, routeOf, type SimNode, type SimNodeSpec } from '../../../test/fakes/disco-mesh.ts';

const EASY = { mapping: 'eim', filtering: 'apdf' } as const; // a port-restricted home router (Linux MASQUERADE)
const HARD = { mapping: 'apdm', filtering: 'apdf' } as const; // PF's default: a new port per destination

const site = (name: string, n: number, nats: Array<{ mapping: 'eim' | 'apdm'; filtering: 'apdf' | 'adf' | 'eif' }>, extra: Partial<SimNodeSpec> = {}): SimNodeSpec => ({
  name,
  v4: `10.0.${n}.2`,
  nats: nats.map((x, i) => ({ ...x, publicAddr: i === nats.length - 1 ? `203.0.113.${n}` : `100.64.${n}.1` })),
  ...extra,
});

function lastKindSwitches(a: SimNode, b: SimNode): number {
  return a.engine.status(b.nodeKey, a.sim.now)!.events.filter((e) => /: direct via /.test(e.text)).length;
}

test('both easy: direct within one direct RTT of call-me-maybe arriving, the relay carried the first packets', () => {
  const sim = new MeshSim();
  const a = sim.add(site('a', 1, [EASY]));
  const b = sim.add(site('b', 2, [EASY, EASY])); // double NAT, both endpoint-independent
  sim.start();
  sim.runUntil(100);
  assert.equal(routeOf(a, b, sim.now), 'tcp-relay', 'every peer starts on its home relay');
  assert.equal(a.engine.status(b.nodeKey, sim.now)!.reason?.code, 'starting');
  const t0 = sim.now;
  // Only a sends at first (b's own traffic, the tunnel's answer, starts later), so b learns of a from
  // call-me-maybe alone.
  sim.traffic(a, b, t0 + 60_000, 100, 500);
  // a's round and call-me-maybe leave at t0; call-me-maybe arrives at t0 + 30 (relay); b's pings cross a's.
  const bDirect = sim.runUntilTrue(() => routeOf(b, a, sim.now) === 'direct', 2_000);
  const aDirect = sim.runUntilTrue(() => routeOf(a, b, sim.now) === 'direct', 2_000);
  assert.ok(bDirect !== undefined && aDirect !== undefined);
  const cmmArrives = t0 + sim.relayOneWayMs;
  assert.ok(bDirect - cmmArrives <= 20 + 5, `b direct ${bDirect - cmmArrives} ms after call-me-maybe (direct RTT 20 ms)`);
  // b's ping reaches a 10 ms later; a answers and pings back at once, so a has its pong one RTT after that.
  assert.ok(aDirect - cmmArrives <= 10 + 20 + 5, `a direct ${aDirect - cmmArrives} ms after call-me-maybe`);
  assert.equal(a.engine.status(b.nodeKey, sim.now)!.reason, undefined);
  assert.equal(a.stats.openRequests + b.stats.openRequests, 0, 'no birthday attempt between easy NATs');
});

test('NAT matrix: easy-easy direct, one-hard direct via birthday, both-hard relayed (both-hard), budget respected', () => {
  const sim = new MeshSim();
  const e1 = sim.add(site('easy1', 1, [EASY]));
  const e2 = sim.add(site('easy2', 2, [{ mapping: 'eim', filtering: 'apdf' }, EASY])); // CGNAT in front of a home NAT
  const h1 = sim.add(site('hard1', 3, [HARD]));
  const h2 = sim.add(site('hard2', 4, [HARD]));
  sim.start();
  sim.runUntil(100);
  const pairs: Array<[SimNode, SimNode]> = [[e1, e2], [e1, h1], [e2, h2], [h1, h2], [e2, h1]];
  for (const [x, y] of pairs) sim.traffic(x, y, 10 * 60_000);
  sim.runUntil(15_000);
  const table = () => Object.fromEntries(pairs.map(([x, y]) => [`${x.name}-${y.name}`, `${routeOf(x, y, sim.now)} / ${routeOf(y, x, sim.now)}`]));
  const first = table();
  assert.equal(first['easy1-easy2'], 'direct / direct');
  assert.equal(first['hard1-hard2'], 'tcp-relay / tcp-relay');
  for (const [x, y] of [[h1, h2], [h2, h1]] as const) assert.equal(x.engine.status(y.nodeKey, sim.now)!.reason?.code, 'both-hard');
  // One side hard: each attempt succeeds with P ~ 98% (256 sockets x 1,024 probes over 64,511 ports); a
  // miss ends with the whole budget spent and reason birthday-failed, and the next attempt comes 5 min later.
  let failures = 0;
  for (const [x, y] of [[e1, h1], [e2, h2], [e2, h1]] as const) {
    const st = x.engine.status(y.nodeKey, sim.now)!;
    assert.equal(st.birthday?.attempts, 1, `${x.name}-${y.name}`);
    if (st.birthday!.last!.ok) {
      assert.equal(routeOf(x, y, sim.now), 'direct');
      assert.ok(st.birthday!.last!.probes < 1024 && st.birthday!.last!.ms < 10_000);
    } else {
      failures++;
      assert.equal(st.reason?.code, 'birthday-failed');
      assert.deepEqual([st.birthday!.last!.probes, st.birthday!.last!.ms], [1024, 10_000]);
    }
  }
  sim.runUntil(7 * 60_000);
  assert.deepEqual(table(), {
    'easy1-easy2': 'direct / direct',
    'easy1-hard1': 'direct / direct',
    'easy2-hard2': 'direct / direct',
    'hard1-hard2': 'tcp-relay / tcp-relay',
    'easy2-hard1': 'direct / direct',
  });
  const attempts = [[e1, h1], [e2, h2], [e2, h1]].map(([x, y]) => x!.engine.status(y!.nodeKey, sim.now)!.birthday!.attempts);
  assert.equal(attempts.reduce((a, b) => a + b, 0), 3 + failures, 'a successful pair never tries again');
  // The hard side's path is one of its extra sockets; the losers were closed; never more than 256 at once.
  const via = h1.engine.route(e1.nodeKey, sim.now)[0]!;
  assert.ok(via.kind === 'direct' && via.socket !== 0, 'the tunnel runs over the extra socket that got through');
  assert.equal(h1.stats.opened - h1.stats.closed, 2, 'hard1 keeps one winning socket per easy peer');
  assert.equal(h2.stats.opened - h2.stats.closed, 1);
  assert.equal(h2.stats.openRequests, 1 + (failures && h2.engine.status(e2.nodeKey, sim.now)!.birthday!.attempts - 1), 'hard2 never opened sockets for hard1');
  for (const x of [e1, e2]) assert.equal(x.stats.openRequests, 0, 'the easy side never opens sockets');
});

test('UDP blocked: stays relayed with reason udp-blocked, traffic keeps its relay route', () => {
  const sim = new MeshSim();
  const a = sim.add(site('a', 1, [EASY]));
  const c = sim.add(site('c', 5, [EASY], { udpBlocked: true }));
  sim.start();
  sim.traffic(a, c, 30_000);
  sim.runUntil(20_000);
  assert.equal(routeOf(c, a, sim.now), 'tcp-relay');
  assert.equal(routeOf(a, c, sim.now), 'tcp-relay');
  assert.equal(c.engine.status(a.nodeKey, sim.now)!.reason?.code, 'udp-blocked');
  assert.match(a.engine.status(c.nodeKey, sim.now)!.reason!.code, /no-candidates|no-answer/);
});

test('a blocked path fails over to the relay within 3 s and is used again within 60 s of healing (never stuck on relay)', () => {
  const sim = new MeshSim();
  const a = sim.add(site('a', 1, [EASY]));
  const b = sim.add(site('b', 2, [EASY]));
  let blocked = false;
  sim.blocked = () => blocked;
  sim.start();
  sim.traffic(a, b, 400_000);
  assert.ok(sim.runUntilTrue(() => routeOf(a, b, sim.now) === 'direct', 2_000) !== undefined);
  sim.runUntil(20_000);
  for (let cycle = 0; cycle < 3; cycle++) {
    blocked = true;
    const t = sim.now;
    // Relay only on both sides (the direct path given up, not just a relay copy beside it): the data
    // both ways stops arriving, each side probes and gives the path up (issue #18: within 3 s).
    const relayed = sim.runUntilTrue(() => routeOf(a, b, sim.now) === 'tcp-relay' && routeOf(b, a, sim.now) === 'tcp-relay', 10_000);
    assert.ok(relayed !== undefined && relayed - t <= 3_000, `cycle ${cycle}: relay after ${relayed === undefined ? 'never' : relayed - t} ms`);
    sim.runUntil(sim.now + 90_000); // long enough that the direct path is given up entirely
    assert.equal(routeOf(a, b, sim.now), 'tcp-relay');
    blocked = false;
    const t2 = sim.now;
    const healed = sim.runUntilTrue(() => routeOf(a, b, sim.now) === 'direct' && routeOf(b, a, sim.now) === 'direct', 60_000);
    assert.ok(healed !== undefined, `cycle ${cycle}: still relayed 60 s after healing`);
    sim.runUntil(healed + 10_000);
    void t2;
  }
});

test('hysteresis: two similar paths (IPv4 and IPv6 within 10%) do not flap; a much faster one still wins', () => {
  const sim = new MeshSim();
  const a = sim.add({ name: 'a', v4: '198.51.100.10', v6: '2001:db8::a' });
  const b = sim.add({ name: 'b', v4: '198.51.100.20', v6: '2001:db8::b' });
  let jitter = 12345;
  const noise = () => ((jitter = (jitter * 1103515245 + 12345) >>> 0) / 2 ** 32) * 1.0; // 0..1 ms
  let v6Base = 11.0;
  sim.latency = (_f, _t, v6) => (v6 ? v6Base : 10) + noise();
  sim.start();
  sim.traffic(a, b, 700_000);
  sim.runUntil(10 * 60_000);
  const switches = lastKindSwitches(a, b);
  assert.ok(switches <= 2, `a changed paths ${switches} times in 10 min: ${JSON.stringify(a.engine.status(b.nodeKey, sim.now)!.events.slice(-6))}`);
  const v = a.engine.route(b.nodeKey, sim.now)[0]!;
  assert.ok(v.kind === 'direct');
  // IPv6 now 40% slower: IPv4 wins at the next re-probe (60 s).
  v6Base = 16;
  sim.runUntil(sim.now + 65_000);
  const v2 = a.engine.route(b.nodeKey, sim.now)[0]!;
  assert.ok(v2.kind === 'direct' && !v2.endpoint.address.includes(':'), JSON.stringify(v2));
});

test('an IPv6 send error falls through to IPv4 in the same round', () => {
  const sim = new MeshSim();
  const a = sim.add({ name: 'a', v4: '198.51.100.10', v6: '2001:db8::a' });
  const b = sim.add({ name: 'b', v4: '198.51.100.20', v6: '2001:db8::b' });
  sim.start();
  sim.traffic(a, b, 120_000);
  sim.runUntil(10_000);
  const first = a.engine.route(b.nodeKey, sim.now);
  assert.ok(first.length === 1 && first[0]!.kind === 'direct' && first[0]!.endpoint.address === '2001:db8::b', 'IPv6 preferred at equal RTT');
  a.v6Broken = true; // ENETUNREACH from now on
  const t = sim.now;
  // The next heartbeat to IPv6 fails to send; IPv4 answered lately, so it carries the next packet at once.
  const v4 = sim.runUntilTrue(() => {
    const r = a.engine.route(b.nodeKey, sim.now);
    return r.length === 1 && r[0]!.kind === 'direct' && r[0]!.endpoint.address === '198.51.100.20';
  }, 5_000);
  assert.ok(v4 !== undefined && v4 - t <= 3_000, `fell through after ${v4 === undefined ? 'never' : v4 - t} ms`);
  assert.ok(a.stats.sendErrors >= 1);
  assert.ok(a.engine.status(b.nodeKey, sim.now)!.events.some((e) => /send to \[2001:db8::b\]:41641 failed: direct via 198\.51\.100\.20/.test(e.text)));
});

test('a fresh start with IPv6 broken goes direct on IPv4 in the first round, not a round later', () => {
  const sim = new MeshSim();
  const a = sim.add({ name: 'a', v4: '198.51.100.10', v6: '2001:db8::a' });
  const b = sim.add({ name: 'b', v4: '198.51.100.20', v6: '2001:db8::b' });
  a.v6Broken = true;
  sim.start();
  const t0 = sim.now;
  sim.traffic(a, b, 30_000);
  const direct = sim.runUntilTrue(() => routeOf(a, b, sim.now) === 'direct', 5_000);
  assert.ok(direct !== undefined && direct - t0 < 1_000, `direct after ${direct === undefined ? 'never' : direct - t0} ms`);
});

test('one side hard, the other filtering by address only (or not at all): direct through the peer-reflexive port, no birthday', () => {
  for (const filtering of ['adf', 'eif'] as const) {
    const sim = new MeshSim();
    const e = sim.add(site('easy', 1, [{ mapping: 'eim', filtering }]));
    const h = sim.add(site('hard', 3, [HARD]));
    sim.start();
    sim.runUntil(100);
    sim.traffic(e, h, 60_000, 100, 30);
    const t = sim.runUntilTrue(() => routeOf(e, h, sim.now) === 'direct' && routeOf(h, e, sim.now) === 'direct', 2_000);
    assert.ok(t !== undefined && t - 100 < 500, `${filtering}: direct after ${t === undefined ? 'never' : t - 100} ms`);
    const via = e.engine.route(h.nodeKey, sim.now)[0]!;
    assert.ok(via.kind === 'direct' && via.endpoint.port !== h.endpoints[0]!.port, 'the hard side\'s real port towards us, learnt from its ping');
    assert.equal(e.engine.status(h.nodeKey, sim.now)!.candidates.find((c) => c.endpoint === `${via.endpoint.address}:${via.endpoint.port}`)?.source, 'peer-reflexive');
    sim.runUntil(5_000);
    assert.equal(h.stats.openRequests, 0, `${filtering}: no birthday attempt`);
  }
});

test('a birthday path that goes silent keeps its extra socket (relay copy, no fast give-up) and carries on when it heals, with no new attempt', () => {
  const sim = new MeshSim();
  const e = sim.add(site('easy', 1, [EASY]));
  const h = sim.add(site('hard', 3, [HARD]));
  let blocked = false;
  sim.blocked = () => blocked;
  sim.start();
  sim.runUntil(100);
  sim.traffic(e, h, 10 * 60_000);
  const punched = sim.runUntilTrue(() => {
    const v = h.engine.route(e.nodeKey, sim.now);
    return v.length === 1 && v[0]!.kind === 'direct' && v[0]!.socket !== 0;
  }, 60_000);
  assert.ok(punched !== undefined, 'direct over an extra socket');
  sim.runUntil(sim.now + 5_000);
  blocked = true;
  sim.runUntil(sim.now + 4_000);
  assert.match(routeOf(h, e, sim.now), /^direct\+tcp-relay$/, 'relay copy beside the birthday path, not the relay alone');
  assert.equal(h.stats.opened - h.stats.closed, 1, 'the winning socket stays open');
  blocked = false;
  assert.ok(sim.runUntilTrue(() => routeOf(h, e, sim.now) === 'direct' && routeOf(e, h, sim.now) === 'direct', 15_000) !== undefined, 'direct again');
  assert.equal(h.engine.status(e.nodeKey, sim.now)!.birthday!.attempts, 1, 'no new attempt');
});
