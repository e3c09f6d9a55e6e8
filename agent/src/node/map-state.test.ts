import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MapMessage, Peer, SelfNode } from '../coord/protocol.ts';
import { k, peer } from './testkit.ts';
import { isConegateError } from '../errors.ts';
import { decodeMapMessage } from './map-message.ts';
import { applyMapMessage, type MapState } from './map-state.ts';

const self: SelfNode = { id: 'me', name: 'me', machineKey: k('a'), nodeKey: k('b'), discoKey: k('c'), addresses: ['100.64.0.1/32'], advertisedRoutes: [], approvedRoutes: [], tags: [] };
const full = (seq: number, peers: Peer[]): MapMessage => ({ t: 'full', seq, self, peers, relays: { regions: [] }, keepaliveSec: 50 });

function run(msgs: MapMessage[]): { state: MapState | undefined; kinds: string[] } {
  let state: MapState | undefined;
  const kinds: string[] = [];
  for (const m of msgs) {
    const r = applyMapMessage(state, m);
    kinds.push(r.kind);
    state = r.state;
  }
  return { state, kinds };
}

test('full, then upsert, patch and remove deltas give the expected map', () => {
  const { state, kinds } = run([
    full(5, [peer('p2', 2), peer('p3', 3), peer('me', 1)]),
    { t: 'delta', seq: 6, upsert: [peer('p4', 4)] },
    { t: 'keepalive' },
    { t: 'delta', seq: 7, patch: [{ id: 'p2', endpoints: [{ addr: '198.51.100.2:1', type: 'stun' }], online: false }] },
    { t: 'delta', seq: 8, remove: ['p3'] },
    { t: 'delta', seq: 9, self: { approvedRoutes: ['10.9.0.0/24'] } },
  ]);
  assert.deepEqual(kinds, ['applied', 'applied', 'unchanged', 'applied', 'applied', 'applied']);
  assert.equal(state!.seq, 9);
  assert.deepEqual([...state!.peers.keys()].sort(), ['p2', 'p4'], 'self is never a peer');
  const p2 = state!.peers.get('p2')!;
  assert.deepEqual(p2.endpoints, [{ addr: '198.51.100.2:1', type: 'stun' }]);
  assert.equal(p2.online, false);
  assert.equal(p2.name, 'n2', 'absent patch fields are unchanged');
  assert.deepEqual(state!.self.approvedRoutes, ['10.9.0.0/24']);
});

test('duplicates after a resume are ignored; deltas without a full or for unknown peers ask for a resync', () => {
  const r0 = applyMapMessage(undefined, { t: 'delta', seq: 1, remove: ['x'] });
  assert.equal(r0.kind, 'resync');
  const s = run([full(5, [peer('p2', 2)])]).state!;
  assert.equal(applyMapMessage(s, { t: 'delta', seq: 5, remove: ['p2'] }).kind, 'unchanged');
  const r = applyMapMessage(s, { t: 'delta', seq: 6, patch: [{ id: 'ghost', online: true }] });
  assert.equal(r.kind, 'resync');
  assert.equal(r.state, s, 'state untouched on resync');
});

test('a new full map reports peers that vanished as removed', () => {
  const s = run([full(5, [peer('p2', 2), peer('p3', 3)])]).state!;
  const r = applyMapMessage(s, full(9, [peer('p3', 3)]));
  assert.equal(r.kind, 'applied');
  if (r.kind === 'applied') assert.deepEqual(r.changes.removed, ['p2']);
});

test('the decoder accepts protocol messages and refuses bad keys, bad CIDRs and non-JSON with DecodeError only', () => {
  assert.equal(decodeMapMessage(JSON.stringify(full(1, [peer('p2', 2)]))).t, 'full');
  assert.equal(decodeMapMessage('{"t":"keepalive"}').t, 'keepalive');
  const bad = [
    'nope',
    '{"t":"delta"}',
    JSON.stringify({ t: 'delta', seq: 2, upsert: [peer('p', 2, { nodeKey: 'zz' })] }),
    JSON.stringify({ t: 'delta', seq: 2, upsert: [peer('p', 2, { addresses: ['100.64.0.300/32'] })] }),
    JSON.stringify({ t: 'delta', seq: 2, patch: [{ id: 'p', endpoints: [{ addr: 'x', type: 'local' }] }] }),
    '[]',
    'null',
  ];
  for (const line of bad) assert.throws(() => decodeMapMessage(line), (e) => isConegateError(e) && e.name === 'DecodeError', line);
});
