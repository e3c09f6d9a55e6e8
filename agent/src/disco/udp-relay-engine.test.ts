// The UDP relay step of the path choice (direct > UDP relay > TCP relay), with the in-memory twins of
// test/fakes/disco-mesh.ts: discovery engines wrapped by UdpRelayEngine, modelled NATs, the TCP relay twin
// and the UDP relay twin (binds one round trip after it is asked, forwards only between two bound sides
// while the relay node runs), on simulated time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeshSim, routeOf, type SimNode, type SimNodeSpec } from '../../../test/fakes/disco-mesh.ts';
import type { PathAction } from '../paths/types.ts';

const EASY = { mapping: 'eim', filtering: 'apdf' } as const;
const HARD = { mapping: 'apdm', filtering: 'apdf' } as const;

const site = (name: string, n: number, nats: Array<{ mapping: 'eim' | 'apdm'; filtering: 'apdf' }>, extra: Partial<SimNodeSpec> = {}): SimNodeSpec => ({
  name,
  v4: nats.length ? `10.0.${n}.2` : `198.51.100.${n}`,
  nats: nats.map((x) => ({ ...x, publicAddr: `203.0.113.${n}` })),
  ...extra,
});

function udpActions(n: SimNode): Extract<PathAction, { t: 'udp-relay' }>[] {
  return n.actions.filter((a): a is Extract<PathAction, { t: 'udp-relay' }> => a.t === 'udp-relay');
}

function hardPairWithRelay() {
  const sim = new MeshSim(0, { udpRelays: true });
  const a = sim.add(site('hard-a', 1, [HARD]));
  const b = sim.add(site('hard-b', 2, [HARD]));
  const r = sim.add(site('relay', 3, [], { udpRelay: true }));
  sim.start();
  sim.runUntil(100);
  return { sim, a, b, r };
}

test('both hard, a third node relays UDP: both sides move from the TCP relay to the UDP relay, status says why', () => {
  const { sim, a, b, r } = hardPairWithRelay();
  assert.equal(routeOf(a, b, sim.now), 'tcp-relay', 'every peer starts on the TCP relay');
  sim.traffic(a, b, sim.now + 120_000, 100, 100);
  const asked = sim.runUntilTrue(() => udpActions(a).length > 0 && udpActions(b).length > 0, 10_000);
  assert.ok(asked !== undefined, 'both ask for the UDP relay once discovery says both-hard');
  const t = sim.runUntilTrue(() => routeOf(a, b, sim.now) === 'udp-relay' && routeOf(b, a, sim.now) === 'udp-relay', 10_000);
  assert.ok(t !== undefined, `on the UDP relay (a: ${routeOf(a, b, sim.now)}, b: ${routeOf(b, a, sim.now)})`);
  // Bound one relay RTT (30 ms) after asking; the side that bound first has its ping dropped (the relay
  // forwards once both are bound): the other side's ping is answered and pinged back at once, so both
  // are confirmed within a few relayed round trips (60 ms each), not a 2 s heartbeat later.
  assert.ok(t - asked <= 300, `both on the UDP relay ${t - asked} ms after asking`);
  for (const [x, y] of [[a, b], [b, a]] as const) {
    const st = x.engine.status(y.nodeKey, sim.now)!;
    assert.equal(st.path?.kind, 'udp-relay');
    assert.equal(st.reason?.code, 'both-hard', 'why not direct');
    assert.equal(st.relayChoice?.code, 'udp-relay', 'why the UDP relay');
    assert.match(st.relayChoice!.text, /through the UDP relay of node .* at 198\.51\.100\.3:41642/);
    assert.equal(st.udpRelay?.node, r.nodeKey);
    assert.equal(st.udpRelay?.state, 'confirmed');
    assert.ok(st.rttMs !== undefined && st.rttMs >= 60, 'rtt measured through the relay (two relayed legs)');
    assert.deepEqual(udpActions(x).map((u) => u.relay?.nodeKey), [r.nodeKey], 'one allocation, on the relay both chose');
  }
  // It stays there (heartbeats keep it trusted) and never asks the relay node for its own pairs.
  sim.runUntil(sim.now + 60_000);
  assert.equal(routeOf(a, b, sim.now), 'udp-relay');
  assert.equal(udpActions(r).length, 0);
});

test('the relay node dies: back on the TCP relay within about 3 s (a copy first, then the TCP relay alone)', () => {
  const { sim, a, b, r } = hardPairWithRelay();
  sim.traffic(a, b, sim.now + 200_000, 100, 100);
  assert.ok(sim.runUntilTrue(() => routeOf(a, b, sim.now) === 'udp-relay' && routeOf(b, a, sim.now) === 'udp-relay', 10_000) !== undefined);
  sim.runUntil(sim.now + 5_000);
  r.udpRelayDown = true;
  const t0 = sim.now;
  const copy = sim.runUntilTrue(() => routeOf(a, b, sim.now).includes('tcp-relay'), 10_000);
  assert.ok(copy !== undefined && copy - t0 <= 3_500, `the TCP relay carries a copy after ${copy! - t0} ms (heartbeat 2 s + 1 s suspect)`);
  const alone = sim.runUntilTrue(() => routeOf(a, b, sim.now) === 'tcp-relay' && routeOf(b, a, sim.now) === 'tcp-relay', 30_000);
  assert.ok(alone !== undefined, 'the UDP relay path is given up');
  const st = a.engine.status(b.nodeKey, sim.now)!;
  assert.equal(st.path?.kind, 'tcp-relay');
  assert.equal(st.relayChoice?.code, 'udp-relay-failed');
  assert.deepEqual(udpActions(a).map((u) => u.relay === undefined), [false, true], 'asked for, then let go');
  // Asked again after the retry time; the relay is back: on it again.
  r.udpRelayDown = false;
  assert.ok(sim.runUntilTrue(() => routeOf(a, b, sim.now) === 'udp-relay', 60_000) !== undefined, 'back on the UDP relay once it answers again');
});

test('a direct path found later wins over the UDP relay, which is let go', () => {
  const sim = new MeshSim(1, { udpRelays: true });
  const a = sim.add(site('easy-a', 1, [EASY]));
  const b = sim.add(site('easy-b', 2, [EASY]));
  sim.add(site('relay', 3, [], { udpRelay: true }));
  let cut = true;
  sim.blocked = (x, y) => cut && [x, y].every((n) => n === a || n === b);
  sim.start();
  sim.runUntil(100);
  sim.traffic(a, b, sim.now + 300_000, 100, 100);
  const t = sim.runUntilTrue(() => routeOf(a, b, sim.now) === 'udp-relay' && routeOf(b, a, sim.now) === 'udp-relay', 15_000);
  assert.ok(t !== undefined, 'UDP between the two sites dropped: on the UDP relay after discovery found no direct path');
  assert.match(a.engine.status(b.nodeKey, sim.now)!.reason!.code, /starting|no-answer/);
  cut = false;
  const d = sim.runUntilTrue(() => routeOf(a, b, sim.now) === 'direct' && routeOf(b, a, sim.now) === 'direct', 60_000);
  assert.ok(d !== undefined, 'direct once UDP between the sites passes (discovery kept probing)');
  sim.runUntil(sim.now + 1_000);
  assert.equal(udpActions(a).at(-1)?.relay, undefined, 'the UDP relay path is let go');
  assert.equal(a.engine.status(b.nodeKey, sim.now)!.udpRelay, undefined);
});

test('no UDP relay in the map, or UDP blocked here: the TCP relay, and status says why; nothing allocated', () => {
  const sim = new MeshSim(2, { udpRelays: true });
  const a = sim.add(site('hard-a', 1, [HARD]));
  const b = sim.add(site('hard-b', 2, [HARD]));
  const c = sim.add(site('blocked', 4, [EASY], { udpBlocked: true }));
  sim.add(site('relay', 3, [], { udpRelay: false }));
  sim.start();
  sim.runUntil(100);
  sim.traffic(a, b, sim.now + 30_000, 100, 100);
  sim.traffic(c, a, sim.now + 30_000, 100, 100);
  sim.runUntil(sim.now + 20_000);
  assert.equal(routeOf(a, b, sim.now), 'tcp-relay');
  assert.equal(a.engine.status(b.nodeKey, sim.now)!.relayChoice?.code, 'no-udp-relay');
  assert.equal(c.engine.status(a.nodeKey, sim.now)!.relayChoice?.code, 'udp-blocked');
  assert.equal(udpActions(a).length + udpActions(b).length + udpActions(c).length, 0);
});

test('UDP blocked at one site, a relay in the map: that site never asks for it', () => {
  const sim = new MeshSim(3, { udpRelays: true });
  const a = sim.add(site('blocked', 1, [EASY], { udpBlocked: true }));
  const b = sim.add(site('hard-b', 2, [HARD]));
  sim.add(site('relay', 3, [], { udpRelay: true }));
  sim.start();
  sim.runUntil(100);
  sim.traffic(a, b, sim.now + 30_000, 100, 100);
  sim.runUntil(sim.now + 20_000);
  assert.equal(udpActions(a).length, 0);
  assert.equal(routeOf(a, b, sim.now), 'tcp-relay');
  // b may ask (it cannot know), but without a's half the relay never forwards: b stays on the TCP relay.
  assert.equal(routeOf(b, a, sim.now), 'tcp-relay');
});
