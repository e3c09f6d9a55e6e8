import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MapEngine } from './map-engine.ts';
import { MESH_SOCKET } from './types.ts';

const k = (c: string) => c.repeat(64);

test('map engine: direct at the first usable map endpoint, else the home relay; UDP blocked moves everyone to the relay with the reason', () => {
  const e = new MapEngine({ families: [4] });
  e.setPeers(
    [
      { nodeKey: k('a'), discoKey: k('1'), endpoints: [{ address: '2001:db8::1', port: 1 }, { address: '192.0.2.1', port: 41641 }], homeRelay: 'r1' },
      { nodeKey: k('b'), discoKey: k('2'), endpoints: [], homeRelay: 'r2' },
      { nodeKey: k('c'), discoKey: k('3'), endpoints: [], homeRelay: null },
    ],
    100,
  );
  assert.deepEqual(e.route(k('a')), [{ kind: 'direct', endpoint: { address: '192.0.2.1', port: 41641 }, socket: MESH_SOCKET }]);
  assert.equal(e.route(k('a')), e.route(k('a')), 'the same array each time (no allocation per packet)');
  assert.deepEqual(e.route(k('b')), [{ kind: 'tcp-relay', region: 'r2' }]);
  assert.deepEqual(e.route(k('c')), []);
  assert.equal(e.status(k('b'))!.reason!.code, 'no-candidates');
  assert.equal(e.peerForSource({ address: '192.0.2.1', port: 41641 }, MESH_SOCKET), k('a'));
  assert.equal(e.peerForSource({ address: '192.0.2.1', port: 41642 }, MESH_SOCKET), undefined);

  e.setSelf({ endpoints: [], udp: false, mappingVariesByDest: undefined }, 200);
  assert.deepEqual(e.route(k('a')), [{ kind: 'tcp-relay', region: 'r1' }]);
  const st = e.status(k('a'))!;
  assert.equal(st.reason!.code, 'udp-blocked');
  assert.equal(st.sinceMs, 200);
  assert.deepEqual(st.events.map((x) => x.atMs), [100, 200]);
  e.setPeers([], 300);
  assert.equal(e.status(k('a')), undefined);
});
