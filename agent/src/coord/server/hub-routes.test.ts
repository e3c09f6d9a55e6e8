// Subnet route failover in the map hub, on a FakeClock: two routers advertise one prefix, peers see it
// on exactly one of them; the primary's stream goes away, the prefix moves after the grace (a routes
// patch for both routers in one delta, also in the log for resumed streams), and does not move back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MapMessage, Peer } from '../protocol.ts';
import { applyMapMessage, type MapState } from '../../node/map-state.ts';
import type { StreamSink } from './hub.ts';
import { testCoordinator, type TestCoord } from './testing.ts';

const LAN = '10.2.0.0/24';
const GRACE = 8000;

class Sink implements StreamSink {
  lines: MapMessage[] = [];
  ended = false;
  write(line: string): boolean {
    if (this.ended) return false;
    this.lines.push(JSON.parse(line) as MapMessage);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  patches(from = 0) {
    return this.lines.slice(from).flatMap((l) => (l.t === 'delta' ? (l.patch ?? []) : []));
  }
}

async function node(t: TestCoord, name: string, routes: string[] = []) {
  const key = t.machine();
  const self = (await t.register(key, await t.authKey(), name, { advertiseRoutes: routes })).json().self;
  return { key, id: self.id as string };
}

async function open(t: TestCoord, id: string, since?: number) {
  const sink = new Sink();
  await t.coord.hub.attach((await t.store.nodeById(id))!, sink, since);
  return sink;
}

async function flush(t: TestCoord, ms = 250) {
  t.clock.advance(ms);
  await t.coord.hub.drain();
}

/** The routes of each peer in the map a node holds after every line so far (the node's own reducer). */
function served(sink: Sink): Record<string, string[]> {
  let state: MapState | undefined;
  for (const l of sink.lines) {
    const r = applyMapMessage(state, l);
    assert.notEqual(r.kind, 'resync');
    state = r.state;
  }
  return Object.fromEntries([...(state?.peers.values() ?? [])].filter((p) => p.name.startsWith('router')).map((p) => [p.id, p.routes]));
}

/** Who serves LAN in the peer view of a full map. */
const servedIn = (full: MapMessage, id: string) => (full.t === 'full' ? full.peers.find((p: Peer) => p.id === id)?.routes : undefined);

async function twoRouters() {
  const t = await testCoordinator({ hub: { failoverGraceMs: GRACE } });
  const a = await node(t, 'site-a');
  const r1 = await node(t, 'router-1', [LAN]);
  const r2 = await node(t, 'router-2', [LAN]);
  const sa = await open(t, a.id);
  const s1 = await open(t, r1.id);
  const s2 = await open(t, r2.id);
  // Approved in this order: router-1 is the only candidate when its route is approved, so it is primary.
  assert.equal((await t.admin('POST', '/admin/routes/approve', { nodeId: r1.id, cidr: LAN })).statusCode, 200);
  await flush(t);
  assert.equal((await t.admin('POST', '/admin/routes/approve', { nodeId: r2.id, cidr: LAN })).statusCode, 200);
  await flush(t);
  return { t, a, r1, r2, sa, s1, s2 };
}

test('two routers advertise one approved prefix: peers route it through one of them only', async () => {
  const { t, a, r1, r2, sa } = await twoRouters();
  assert.deepEqual(served(sa), { [r1.id]: [LAN], [r2.id]: [] }, 'router-2 approved later: the prefix stays with router-1');
  assert.ok(!sa.patches().some((p) => p.id === r2.id && p.routes?.length));
  const fresh = await open(t, a.id);
  assert.deepEqual(servedIn(fresh.lines[0]!, r1.id), [LAN]);
  assert.deepEqual(servedIn(fresh.lines[0]!, r2.id), []);
  // Each router still sees its own approval in self.
  const own = await open(t, r2.id);
  assert.ok(own.lines[0]!.t === 'full' && own.lines[0]!.self.approvedRoutes.includes(LAN));
  await t.stop();
});

test('the primary goes offline: the prefix moves after the grace, not before, and does not move back', async () => {
  const { t, a, r1, r2, sa, s1 } = await twoRouters();
  const mark = sa.lines.length;
  await t.coord.hub.detach(r1.id, s1);
  await flush(t);
  assert.deepEqual(sa.patches(mark).filter((p) => p.routes), [], 'kept during the grace');
  await flush(t, GRACE - 500);
  assert.deepEqual(sa.patches(mark).filter((p) => p.routes), []);
  await flush(t, 500);
  // The recheck appended the move to the log; one more coalescing period brings it out.
  await flush(t);
  const moves = sa.lines.slice(mark).filter((l) => l.t === 'delta' && l.patch?.some((p) => p.routes));
  assert.equal(moves.length, 1, 'one delta carries the move');
  const patch = moves[0]!.t === 'delta' ? moves[0]!.patch! : [];
  assert.deepEqual(patch.filter((p) => p.routes).map((p) => [p.id, p.routes]).sort(), [[r1.id, []], [r2.id, [LAN]]].sort());
  assert.deepEqual(served(sa), { [r1.id]: [], [r2.id]: [LAN] });
  // The old primary returns: no flapping.
  const before = sa.lines.length;
  const back = await open(t, r1.id);
  await flush(t);
  await flush(t, GRACE * 2);
  assert.ok(!sa.lines.slice(before).some((l) => l.t === 'delta' && l.patch?.some((p) => p.routes)), 'no routes patch after the return');
  assert.deepEqual(served(sa), { [r1.id]: [], [r2.id]: [LAN] });
  assert.deepEqual(servedIn(back.lines[0]!, r2.id), [LAN], 'the returning router sees router-2 serving');
  // A stream that missed the move while away gets it on resume, from the log.
  const fullSeq = (await open(t, a.id)).lines[0]!;
  assert.deepEqual(servedIn(fullSeq, r2.id), [LAN]);
  await t.stop();
  assert.equal(t.clock.pendingTimers(), 0, 'no recheck left armed');
});

test('a stream resuming from before the move gets both routers\' routes in its catch-up delta', async () => {
  const { t, a, r1, r2, sa, s1 } = await twoRouters();
  const seenSeq = t.coord.hub.seq;
  await t.coord.hub.detach(a.id, sa);
  await t.coord.hub.detach(r1.id, s1);
  await flush(t);
  await flush(t, GRACE);
  await flush(t);
  const resumed = await open(t, a.id, seenSeq);
  const first = resumed.lines[0]!;
  assert.equal(first.t, 'delta');
  const routes = Object.fromEntries((first.t === 'delta' ? (first.patch ?? []) : []).filter((p) => p.routes).map((p) => [p.id, p.routes]));
  assert.deepEqual(routes[r2.id], [LAN]);
  assert.deepEqual(routes[r1.id], []);
  await t.stop();
});

test('health: the online primary reports its probe into the prefix failing (POST /v1/route-health): the prefix moves after the health grace; a bad report is refused', async () => {
  const { t, r1, r2, sa } = await twoRouters();
  const mark = sa.lines.length;
  const report = (key: typeof r1.key, unhealthy: unknown) => t.request(key, 'POST', '/v1/route-health', { unhealthy });
  assert.equal((await report(r1.key, ['10.2.0.0/33'])).statusCode, 400, 'not a prefix');
  assert.equal((await report(r1.key, [LAN])).statusCode, 204);
  await flush(t);
  assert.deepEqual(sa.patches(mark).filter((p) => p.routes), [], 'kept within the health grace');
  await flush(t, 1000);
  await flush(t);
  assert.deepEqual(served(sa), { [r1.id]: [], [r2.id]: [LAN] }, 'moved to the healthy router while router-1 stays online');
  // router-1 healthy again: no move back (no flapping); router-2 unhealthy with router-1 healthy: moves back.
  assert.equal((await report(r1.key, [])).statusCode, 204);
  await flush(t, 5000);
  assert.deepEqual(served(sa), { [r1.id]: [], [r2.id]: [LAN] });
  assert.equal((await report(r2.key, [LAN])).statusCode, 204);
  await flush(t, 1000);
  await flush(t);
  assert.deepEqual(served(sa), { [r1.id]: [LAN], [r2.id]: [] });
  await t.stop();
  assert.equal(t.clock.pendingTimers(), 0, 'no recheck left armed');
});

test('rejecting the primary\'s route moves the prefix at once; with nobody else, it is gone', async () => {
  const { t, r1, r2, sa } = await twoRouters();
  await t.admin('POST', '/admin/routes/reject', { nodeId: r1.id, cidr: LAN });
  await flush(t);
  assert.deepEqual(served(sa), { [r1.id]: [], [r2.id]: [LAN] });
  await t.request(r2.key, 'POST', '/v1/routes', { advertise: [] });
  await flush(t);
  assert.deepEqual(served(sa), { [r1.id]: [], [r2.id]: [] });
  await t.stop();
});
