// Several easy peers' birthday attempts against one hard node at once (issue 18), on simulated time with
// modelled NATs and real sealed discovery (test/fakes/disco-mesh.ts): the hard side shares one set of
// extra sockets; the budget is counted from outside the engine (sockets the node holds, probes on the wire).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeshSim, routeOf, type SimNode, type SimNodeSpec } from '../../../test/fakes/disco-mesh.ts';
import type { SocketId } from '../paths/types.ts';
import type { Endpoint } from '../wg/ports.ts';

const EASY = { mapping: 'eim', filtering: 'apdf' } as const; // port-restricted: plain punching cannot work against HARD
const HARD = { mapping: 'apdm', filtering: 'apdf' } as const;
const site = (name: string, n: number, nat: typeof EASY | typeof HARD): SimNodeSpec => ({ name, v4: `10.0.${n}.2`, nats: [{ ...nat, publicAddr: `203.0.113.${n}` }] });

interface Wire {
  /** Extra sockets open on the hard node, checked after every action it performs. */
  maxOpen: number;
  /** Per easy node: times of its probes (first datagram to each port of the hard address). */
  probes: Map<string, number[]>;
  /** Per easy node: extra sockets of the hard node that sent to it. */
  hardSockets: Map<string, Set<SocketId>>;
}

/** Counts what crosses the wire and what the hard node holds, without asking the engines. */
function watch(sim: MeshSim, hard: SimNode, easy: SimNode[]): Wire {
  const w: Wire = { maxOpen: 0, probes: new Map(easy.map((e) => [e.name, []])), hardSockets: new Map(easy.map((e) => [e.name, new Set()])) };
  const ports = new Map(easy.map((e) => [e.name, new Set<number>()]));
  const perform = hard.perform.bind(hard);
  hard.perform = (acts) => {
    perform(acts);
    w.maxOpen = Math.max(w.maxOpen, hard.sockets.size - 1);
  };
  const send = sim.sendUdp.bind(sim);
  sim.sendUdp = (from: SimNode, socket: SocketId, to: Endpoint, packet: Uint8Array) => {
    const e = easy.find((x) => x === from);
    // A probe: to a port of the hard address that is none of its advertised endpoints (those get the
    // plain discovery pings) and was not probed before (a ping-back goes to a port a probe found).
    const advertised = hard.endpoints.some((x) => x.address === to.address && x.port === to.port);
    if (e && to.address === hard.publicV4() && !advertised && !ports.get(e.name)!.has(to.port)) {
      ports.get(e.name)!.add(to.port);
      w.probes.get(e.name)!.push(sim.now);
    }
    const dst = easy.find((x) => x.publicV4() === to.address);
    if (from === hard && dst && socket !== 0) w.hardSockets.get(dst.name)!.add(socket);
    return send(from, socket, to, packet);
  };
  return w;
}

/** The most probes in any 1 s window. */
function peakRate(times: number[]): number {
  let best = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= 1000) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

function setup(seed: number, nEasy: number) {
  const sim = new MeshSim(seed);
  const hard = sim.add(site('hard', 9, HARD));
  const easy = Array.from({ length: nEasy }, (_, i) => sim.add(site(`easy${i + 1}`, i + 1, EASY)));
  const wire = watch(sim, hard, easy);
  sim.start();
  return { sim, hard, easy, wire };
}

function checkBudget(wire: Wire, hard: SimNode, easy: SimNode[], sim: MeshSim): void {
  assert.ok(wire.maxOpen <= 256, `the hard node held ${wire.maxOpen} extra sockets at once`);
  for (const e of easy) {
    const probes = wire.probes.get(e.name)!;
    assert.ok(probes.length <= 1024, `${e.name}: ${probes.length} probes`);
    assert.ok(peakRate(probes) <= 200, `${e.name}: ${peakRate(probes)} probes in one second`);
    assert.ok(wire.hardSockets.get(e.name)!.size <= 256, `${e.name}: pinged from ${wire.hardSockets.get(e.name)!.size} hard sockets`);
    const st = e.engine.status(hard.nodeKey, sim.now)!.birthday!;
    assert.ok(st.last!.probes <= 1024, 'the easy side reports within budget');
  }
}

test('three easy peers at once against one hard node: one shared set of <= 256 sockets, each pair within its budget and direct', () => {
  const { sim, hard, easy, wire } = setup(3, 3);
  for (const e of easy) sim.traffic(e, hard, 60_000, 200, 30);
  // The first win on the hard side must leave the other attempts running on the same sockets.
  const hardWon = (e: SimNode) => hard.engine.status(e.nodeKey, sim.now)?.birthday?.last?.ok === true;
  const first = sim.runUntilTrue(() => easy.some(hardWon), 12_000);
  assert.ok(first !== undefined, 'a hard-side win');
  const others = easy.filter((e) => !hardWon(e));
  const running = others.filter((e) => hard.engine.status(e.nodeKey, sim.now)!.birthday?.running?.role === 'hard');
  assert.equal(running.length, others.length, 'a win for one pair does not end the others\' attempts');
  if (others.length) assert.ok(hard.sockets.size - 1 > easy.length, 'the shared sockets stay open for them');
  sim.runUntil(20_000);
  for (const e of easy) {
    assert.equal(routeOf(e, hard, sim.now), 'direct', `${e.name} direct`);
    assert.equal(routeOf(hard, e, sim.now), 'direct', `hard -> ${e.name} direct`);
    const h = hard.engine.status(e.nodeKey, sim.now)!.birthday!;
    assert.deepEqual([h.attempts, h.last!.ok, h.last!.concurrent], [1, true, 3], `${e.name}: one attempt, won, shared by 3`);
    assert.ok(h.last!.sockets <= 256 && h.last!.probes <= 256);
    const via = hard.engine.route(e.nodeKey, sim.now)[0]!;
    assert.ok(via.kind === 'direct' && via.socket !== 0, 'the tunnel runs over an extra socket');
  }
  checkBudget(wire, hard, easy, sim);
  assert.equal(hard.stats.openRequests, 1, 'one opening served all three attempts');
  const winners = new Set(easy.map((e) => (hard.engine.route(e.nodeKey, sim.now)[0] as { socket: SocketId }).socket));
  assert.equal(hard.sockets.size - 1, winners.size, 'once no attempt runs, only the winning sockets stay open');
  const node = hard.engine.status(easy[0]!.nodeKey, sim.now)!.birthday!.node!;
  assert.deepEqual([node.open, node.pool, node.held, node.running, node.peakShared], [winners.size, 0, winners.size, 0, 3]);
  assert.ok(node.peakOpen <= 256);
});

test('two attempts, the second starting while the first runs: it pings from the open sockets at once; both win', () => {
  const { sim, hard, easy, wire } = setup(12, 2);
  const [e1, e2] = easy as [SimNode, SimNode];
  sim.traffic(e1, hard, 60_000, 200, 30);
  const opened = sim.runUntilTrue(() => hard.sockets.size > 1, 5_000);
  assert.ok(opened !== undefined);
  const before = hard.stats.opened;
  sim.traffic(e2, hard, 60_000, 200, 30);
  const joined = sim.runUntilTrue(() => wire.hardSockets.get('easy2')!.size > 0, 5_000);
  assert.ok(joined !== undefined, 'the hard side pinged easy2 from its extra sockets');
  assert.equal(hard.engine.status(e1.nodeKey, sim.now)!.birthday!.running?.role, 'hard', 'the first attempt was still running');
  assert.equal(hard.stats.opened, before, 'no new sockets for the second attempt');
  assert.ok(hard.engine.status(e2.nodeKey, sim.now)!.events.some((x) => /pinging .* from \d+ open extra sockets, sharing/.test(x.text)));
  sim.runUntil(25_000);
  for (const e of easy) {
    assert.equal(routeOf(e, hard, sim.now), 'direct', `${e.name} direct`);
    assert.equal(hard.engine.status(e.nodeKey, sim.now)!.birthday!.last!.ok, true);
  }
  checkBudget(wire, hard, easy, sim);
  assert.equal(hard.stats.openRequests, 1);
});
