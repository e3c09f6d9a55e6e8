// The mesh stage's verdict per peer (pure): "direct" only with a handshake, bytes back and ping
// replies; otherwise a reason that says what status showed (nothing back, crossed initiations, ...).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { peerPath, type StatusPeer } from './demo-mesh.ts';

const peer = (over: Partial<StatusPeer>): StatusPeer => ({ name: 'b-h1', addresses: ['100.64.0.2/32'], endpoints: [], currentEndpoint: '203.0.113.100:41641', lastHandshake: null, rxBytes: 0, txBytes: 0, ...over });
const ping = (received: number) => ({ from: 'a.h1', to: 'b.h1', toAddr: '100.64.0.2', sent: 12, received });

describe('mesh stage: path per peer', () => {
  it('direct with a handshake, bytes back and ping replies', () => {
    assert.deepEqual(peerPath(peer({ lastHandshake: '2026-12-07T04:00:00.000Z', rxBytes: 3000 }), ping(12)), { path: 'direct', reason: null });
  });
  it('nothing back: the NATs dropped our handshakes', () => {
    const r = peerPath(peer({ txBytes: 296 }), ping(0));
    assert.equal(r.path, 'none');
    assert.match(r.reason!, /nothing came back from 203\.0\.113\.100:41641.*hole punching\/relay \(next\)/);
  });
  it('only initiations received: the handshakes crossed', () => {
    assert.match(peerPath(peer({ rxBytes: 296, txBytes: 480 }), ping(0)).reason!, /initiations arrived \(2 x 148 B\).*crossed/);
  });
  it('a handshake without ping replies is no path either', () => {
    const r = peerPath(peer({ lastHandshake: '2026-12-07T04:00:00.000Z', rxBytes: 92 }), ping(0));
    assert.equal(r.path, 'none');
    assert.match(r.reason!, /0\/12 pings answered/);
  });
});
