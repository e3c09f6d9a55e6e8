import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import type { MapMessage } from '../protocol.ts';
import { MAP_FORMATS, mapMessageSchema } from '../schemas.ts';
import type { StreamSink } from './hub.ts';
import { testCoordinator, type TestCoord } from './testing.ts';

// Every line the hub sends must pass the schema the node checks it with (node/map-message.ts).
const ajv = new Ajv({ allErrors: true, strict: false });
for (const [name, validate] of Object.entries(MAP_FORMATS)) ajv.addFormat(name, { type: 'string', validate });
const validMapMessage = ajv.compile(mapMessageSchema);

/** A sink that records lines; `full` makes it refuse writes like a client that stopped reading. */
class Sink implements StreamSink {
  lines: MapMessage[] = [];
  ended = false;
  full = false;
  write(line: string): boolean {
    if (this.ended || this.full) return false;
    assert.ok(line.endsWith('\n'));
    const msg = JSON.parse(line) as unknown;
    assert.ok(validMapMessage(msg), `the node would refuse ${line.trim()}: ${JSON.stringify(validMapMessage.errors)}`);
    this.lines.push(msg as MapMessage);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  last(): MapMessage | undefined {
    return this.lines[this.lines.length - 1];
  }
  deltas() {
    return this.lines.filter((l): l is Extract<MapMessage, { t: 'delta' }> => l.t === 'delta');
  }
}

async function node(t: TestCoord, name: string) {
  const key = t.machine();
  const self = (await t.register(key, await t.authKey(), name)).json().self;
  return { key, id: self.id as string };
}

async function open(t: TestCoord, id: string, since?: number) {
  const sink = new Sink();
  await t.coord.hub.attach((await t.store.nodeById(id))!, sink, since);
  return sink;
}

/** Lets the coalescing timer fire and the drain (async store reads) finish. */
async function flush(t: TestCoord) {
  t.clock.advance(250);
  await t.coord.hub.drain();
}

test('first a full map of the other nodes, then a delta with only the changed fields', async () => {
  const t = await testCoordinator();
  const a = await node(t, 'a');
  const b = await node(t, 'b');
  const sa = await open(t, a.id);
  const full = sa.lines[0]!;
  assert.equal(full.t, 'full');
  assert.ok(full.t === 'full' && full.self.id === a.id && full.peers.length === 1 && full.peers[0]!.id === b.id);
  await flush(t);
  sa.lines = [];
  await t.request(b.key, 'POST', '/v1/endpoints', { endpoints: [{ addr: '198.51.100.7:41641', type: 'stun' }] });
  await flush(t);
  assert.deepEqual(sa.lines, [{ t: 'delta', seq: await t.store.latestSeq(), patch: [{ id: b.id, endpoints: [{ addr: '198.51.100.7:41641', type: 'stun' }] }] }]);
  await t.stop();
});

test('a burst of changes inside the coalescing window is one delta; online flips on connect and disconnect', async () => {
  const t = await testCoordinator();
  const a = await node(t, 'a');
  const b = await node(t, 'b');
  const sa = await open(t, a.id);
  await flush(t);
  sa.lines = [];
  for (let i = 1; i <= 5; i++) await t.request(b.key, 'POST', '/v1/endpoints', { endpoints: [{ addr: `198.51.100.7:${i}`, type: 'stun' }] });
  await flush(t);
  assert.equal(sa.lines.length, 1);
  assert.deepEqual(sa.deltas()[0]!.patch, [{ id: b.id, endpoints: [{ addr: '198.51.100.7:5', type: 'stun' }] }]);
  sa.lines = [];
  const sb = await open(t, b.id);
  await flush(t);
  const on = sa.deltas()[0]!.patch![0]!;
  assert.equal(on.online, true);
  assert.deepEqual(Object.keys(on).sort(), ['id', 'lastSeenMs', 'online']);
  sa.lines = [];
  t.wall.nowMs += 1000;
  await t.coord.hub.detach(b.id, sb);
  await flush(t);
  assert.equal(sa.deltas()[0]!.patch![0]!.online, false);
  await t.stop();
});

test('a new node is upserted whole; its own stream gets self patches, not itself as a peer', async () => {
  const t = await testCoordinator();
  const a = await node(t, 'a');
  const sa = await open(t, a.id);
  await flush(t);
  sa.lines = [];
  const c = await node(t, 'c');
  await flush(t);
  const d = sa.deltas()[0]!;
  assert.equal(d.upsert?.[0]?.id, c.id);
  assert.equal(d.upsert?.[0]?.name, 'c');
  sa.lines = [];
  await t.request(a.key, 'POST', '/v1/routes', { advertise: ['10.9.0.0/16'] });
  await flush(t);
  assert.deepEqual(sa.deltas()[0]!.self, { advertisedRoutes: ['10.9.0.0/16'], approvedRoutes: [] });
  assert.equal(sa.deltas()[0]!.patch, undefined);
  await t.stop();
});

test('an approved route reaches the other nodes as a routes patch', async () => {
  const t = await testCoordinator();
  const a = await node(t, 'a');
  const b = await node(t, 'b');
  await t.request(b.key, 'POST', '/v1/routes', { advertise: ['192.168.20.0/24'] });
  const sa = await open(t, a.id);
  await flush(t);
  sa.lines = [];
  const r = await t.admin('POST', '/admin/routes/approve', { nodeId: b.id, cidr: '192.168.20.0/24' });
  assert.equal(r.statusCode, 200);
  await flush(t);
  assert.deepEqual(sa.deltas()[0]!.patch, [{ id: b.id, routes: ['192.168.20.0/24'] }]);
  await t.stop();
});

test('resume from a seq the log still has: only the missed changes; from a trimmed seq: a full map', async () => {
  const t = await testCoordinator();
  const a = await node(t, 'a');
  const b = await node(t, 'b');
  await flush(t);
  const first = await open(t, a.id);
  await flush(t);
  const seenSeq = (first.lines[0] as { seq: number }).seq;
  await t.coord.hub.detach(a.id, first);
  await t.request(b.key, 'POST', '/v1/endpoints', { endpoints: [{ addr: '203.0.113.9:41641', type: 'portmap' }] });
  await flush(t);
  const resumed = await open(t, a.id, seenSeq);
  const d = resumed.lines[0]!;
  assert.equal(d.t, 'delta');
  assert.deepEqual(d.t === 'delta' && d.patch?.find((p) => p.id === b.id)?.endpoints, [{ addr: '203.0.113.9:41641', type: 'portmap' }]);
  assert.equal(d.t === 'delta' && d.upsert, undefined);
  await t.coord.hub.detach(a.id, resumed);
  await t.store.trimChanges(0);
  await t.request(b.key, 'POST', '/v1/endpoints', { endpoints: [] });
  const trimmed = await open(t, a.id, seenSeq);
  assert.equal(trimmed.lines[0]!.t, 'full');
  await t.stop();
});

test('a revoked node: its stream closes at once and it leaves every other map', async () => {
  const t = await testCoordinator();
  const a = await node(t, 'a');
  const b = await node(t, 'b');
  const sa = await open(t, a.id);
  const sb = await open(t, b.id);
  await flush(t);
  sa.lines = [];
  assert.equal((await t.admin('POST', `/admin/nodes/${b.id}/revoke`)).statusCode, 200);
  await flush(t);
  assert.equal(sb.ended, true);
  assert.deepEqual(sa.deltas()[0]!.remove, [b.id]);
  assert.equal(t.coord.hub.isOnline(b.id), false);
  const fresh = await open(t, a.id);
  assert.ok(fresh.lines[0]!.t === 'full' && fresh.lines[0]!.peers.length === 0);
  await t.stop();
});

test('a stream that does not take its lines is cut, and the others go on', async () => {
  const t = await testCoordinator();
  const a = await node(t, 'a');
  const b = await node(t, 'b');
  const c = await node(t, 'c');
  const sa = await open(t, a.id);
  const sb = await open(t, b.id);
  await flush(t);
  sb.full = true;
  await t.request(c.key, 'POST', '/v1/endpoints', { endpoints: [{ addr: '192.0.2.3:1', type: 'stun' }] });
  await flush(t);
  assert.equal(sb.ended, true);
  assert.equal(t.coord.hub.stats.streamsCut, 1);
  assert.ok(sa.deltas().some((d) => d.patch?.some((p) => p.id === c.id)));
  await t.stop();
});

test('keepalives every 50 s plus jitter; stop leaves no timer armed', async () => {
  const t = await testCoordinator();
  const a = await node(t, 'a');
  const sa = await open(t, a.id);
  await flush(t);
  sa.lines = [];
  t.clock.advance(54_500 - 250); // random() is 0.5 in tests: 50 s + 4.5 s
  assert.deepEqual(sa.lines, [{ t: 'keepalive' }]);
  t.clock.advance(54_500);
  assert.equal(sa.lines.length, 2);
  await t.stop();
  assert.equal(sa.ended, true);
  assert.equal(t.clock.pendingTimers(), 0);
});

test('bytes per change do not grow with the number of nodes', async () => {
  const perChange: number[] = [];
  for (const count of [10, 100]) {
    const t = await testCoordinator({ registerLimit: { burst: 1000, perSec: 1000, maxKeys: 10 } });
    const key = await t.authKey({ reusable: true });
    const nodes = [];
    for (let i = 0; i < count; i++) nodes.push((await t.register(t.machine(), key, `n${i}`)).json().self.id as string);
    const sinks = [];
    for (const id of nodes) sinks.push(await open(t, id));
    await flush(t);
    const mover = (await t.store.nodeById(nodes[0]!))!;
    const before = t.coord.hub.stats.bytesWritten;
    await t.store.updateNode(mover.id, { endpoints: [{ addr: '192.0.2.77:41641', type: 'stun' }] }, t.wall.nowMs);
    await flush(t);
    perChange.push((t.coord.hub.stats.bytesWritten - before) / (count - 1));
    await t.stop();
  }
  // equal up to the width of ids and sequence numbers in decimal
  assert.ok(Math.abs(perChange[0]! - perChange[1]!) <= 4, `${perChange.join(' vs ')} bytes per stream per change`);
});
