import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SelfNode } from '../coord/protocol.ts';
import { peer } from './testkit.ts';
import { desiredPeers, firstUsableEndpoint, planPeerSteps, type AppliedPeer } from './peers-plan.ts';
import type { MapState } from './map-state.ts';

const self = { id: 'me' } as SelfNode;
const state = (peers: ReturnType<typeof peer>[]): MapState => ({ seq: 1, self, peers: new Map(peers.map((p) => [p.id, p])), relays: { regions: [] }, keepaliveSec: 50 });

test('allowed IPs are mesh addresses, plus approved routes only with acceptRoutes', () => {
  const s = state([peer('p2', 2, { routes: ['10.2.0.0/24'] })]);
  assert.deepEqual(desiredPeers(s, { acceptRoutes: false })[0]!.allowedIps, ['100.64.0.2/32']);
  assert.deepEqual(desiredPeers(s, { acceptRoutes: true })[0]!.allowedIps, ['100.64.0.2/32', '10.2.0.0/24']);
  assert.deepEqual(desiredPeers(s, { acceptRoutes: true, ownAddresses: ['10.2.0.11'] })[0]!.allowedIps, ['100.64.0.2/32'], 'never our own LAN');
});

test('the endpoint is the first one of a family this node can use', () => {
  const eps = [{ addr: '[2001:db8::2]:41641', type: 'local' as const }, { addr: '203.0.113.2:5000', type: 'stun' as const }];
  assert.deepEqual(firstUsableEndpoint(eps), { address: '2001:db8::2', port: 41641 });
  assert.deepEqual(firstUsableEndpoint(eps, [4]), { address: '203.0.113.2', port: 5000 });
  assert.equal(firstUsableEndpoint([]), undefined);
});

test('steps: removed peers first, then only peers that changed', () => {
  const s = state([peer('p2', 2), peer('p3', 3)]);
  const d = desiredPeers(s, { acceptRoutes: false });
  const applied = new Map<string, AppliedPeer>([
    [d[0]!.publicKeyHex, { allowedIps: d[0]!.allowedIps, endpoint: d[0]!.endpoint }],
    ['9'.repeat(64), { allowedIps: ['100.64.0.9/32'], endpoint: undefined }],
  ]);
  const steps = planPeerSteps(applied, d);
  assert.deepEqual(steps.map((x) => (x.op === 'remove' ? `remove ${x.publicKeyHex[0]}` : `upsert ${x.peer.id}`)), ['remove 9', 'upsert p3']);
  assert.deepEqual(planPeerSteps(new Map([[d[0]!.publicKeyHex, { allowedIps: d[0]!.allowedIps, endpoint: d[0]!.endpoint }], [d[1]!.publicKeyHex, { allowedIps: d[1]!.allowedIps, endpoint: d[1]!.endpoint }]]), d), []);
});
