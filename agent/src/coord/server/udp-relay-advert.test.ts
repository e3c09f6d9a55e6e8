import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MapMessage, Peer } from '../protocol.ts';
import { decodeMapMessage } from '../../node/map-message.ts';
import { applyMapMessage, type MapState } from '../../node/map-state.ts';
import type { StreamSink } from './hub.ts';
import { testCoordinator, type TestCoord } from './testing.ts';

// A node that offers a UDP relay says so in its endpoint report; every peer sees Peer.udpRelay in its
// map (full and delta), and a later report without it withdraws it.

class Sink implements StreamSink {
  lines: MapMessage[] = [];
  write(line: string): boolean {
    this.lines.push(decodeMapMessage(line.trimEnd()));
    return true;
  }
  end(): void {}
}

async function node(t: TestCoord, name: string) {
  const key = t.machine();
  const self = (await t.register(key, await t.authKey(), name)).json().self;
  return { key, id: self.id as string };
}

async function flush(t: TestCoord) {
  t.clock.advance(250);
  await t.coord.hub.drain();
}

test('udpRelay in the endpoint report reaches peers: full map, delta patch, withdrawal, and the node-side map', async () => {
  const t = await testCoordinator();
  const a = await node(t, 'a');
  const r = await node(t, 'relay');
  const ep = [{ addr: '203.0.113.9:41641', type: 'stun' }];
  assert.equal((await t.request(r.key, 'POST', '/v1/endpoints', { endpoints: ep, udpRelay: '203.0.113.9:41642' })).statusCode, 204);
  const sink = new Sink();
  await t.coord.hub.attach((await t.store.nodeById(a.id))!, sink);
  const full = sink.lines[0]!;
  assert.ok(full.t === 'full');
  const peer = full.peers.find((p) => p.id === r.id)!;
  assert.deepEqual(peer.endpoints, ep, 'the relay is not a path candidate');
  assert.equal(peer.udpRelay, '203.0.113.9:41642');
  let state: MapState | undefined = applyMapMessage(undefined, full).state;

  await flush(t);
  sink.lines = [];
  await t.request(r.key, 'POST', '/v1/endpoints', { endpoints: ep });
  await flush(t);
  assert.deepEqual(sink.lines.map((l) => l.t === 'delta' && l.patch), [[{ id: r.id, endpoints: ep }]]);
  state = applyMapMessage(state, sink.lines[0]!).state;
  assert.equal((state!.peers.get(r.id) as Peer).udpRelay, undefined, 'withdrawn');

  sink.lines = [];
  await t.request(r.key, 'POST', '/v1/endpoints', { endpoints: ep, udpRelay: '203.0.113.9:3480' });
  await flush(t);
  assert.deepEqual(sink.lines.map((l) => l.t === 'delta' && l.patch), [[{ id: r.id, endpoints: ep, udpRelay: '203.0.113.9:3480' }]]);
  state = applyMapMessage(state, sink.lines[0]!).state;
  assert.equal((state!.peers.get(r.id) as Peer).udpRelay, '203.0.113.9:3480');
  await t.stop();
});

test('udpRelay must be a literal ip:port', async () => {
  const t = await testCoordinator();
  const r = await node(t, 'relay');
  for (const bad of ['relay.example.net:41642', '203.0.113.9', '203.0.113.9:0', 7]) {
    const res = await t.request(r.key, 'POST', '/v1/endpoints', { endpoints: [], udpRelay: bad });
    assert.equal(res.statusCode, 400, String(bad));
  }
  await t.stop();
});
