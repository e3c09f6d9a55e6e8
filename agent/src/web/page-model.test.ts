import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Finding } from '../ips/findings.ts';
import type { MeshStatus, PeerView } from '../service/mesh-status.ts';
import { buildPageModel, currentRtts, pageFingerprint, whereOf, type PageInputs } from './page-model.ts';
import { RttHistory } from './rtt-history.ts';

const T0 = Date.UTC(2026, 11, 7, 9, 0, 0);

function peer(over: Partial<PeerView> & { id: string; name: string }): PeerView {
  return { addresses: ['100.64.0.2'], routes: [], nodeKey: 'a'.repeat(64), discoKey: 'b'.repeat(64), endpoints: [], currentEndpoint: null, path: null, homeRelay: 'lab', relay: null, udpRelay: null, online: true, lastHandshake: null, rxBytes: 0, txBytes: 0, ...over };
}

const path = (kind: 'direct' | 'tcp-relay' | 'udp-relay', over: Record<string, unknown> = {}) => ({ kind, endpoint: null, region: null, socket: null, rttMs: null, forSec: 12, reason: null, relayChoice: null, udpRelay: null, packets: null, candidates: [], birthday: null, events: [], ...over }) as NonNullable<PeerView['path']>;

const mesh: MeshStatus = {
  coordinator: { phase: 'streaming', lastError: null, reconnects: 0, seq: 4, clockOffsetMs: 0 },
  self: { id: 'n1', name: 'site-a', addresses: ['100.64.0.1'], machineKey: 'm', nodeKey: 'n', discoKey: 'd', interface: 'cg0', listenPort: 41641 },
  peers: [
    peer({ id: 'n3', name: 'site-c', path: path('tcp-relay', { region: 'lab', reason: { code: 'both-hard', text: 'both sides map per destination' }, rttMs: 41.26 }) }),
    peer({ id: 'n2', name: '<img src=x onerror=alert(1)>', path: path('direct', { endpoint: '198.51.100.20:41641', rttMs: 3.2, reason: { code: 'x', text: 'stale' }, events: [{ at: '2026-12-07T08:59:00.000Z', text: 'direct via 198.51.100.20:41641' }] }), rxBytes: 10, txBytes: 20, lastHandshake: '2026-12-07T08:59:30.000Z' }),
    peer({ id: 'n4', name: 'site-d', path: path('udp-relay', { endpoint: '203.0.113.9:41642' }) }),
  ],
  demux: { wg: 0, stun: 0, disco: 0, unknown: 0 } as unknown as MeshStatus['demux'],
  relay: { home: 'lab', regions: [{ id: 'lab', connected: true, server: 'relay-1.lab:443', latencyMs: 12.34 }] },
  udpRelay: null,
  udpRelayClient: null,
};

const finding: Finding = {
  engine: 'suricata', platform: 'opnsense', interface: 'wan', sid: 2008581, gid: 1, msg: 'ET P2P BitTorrent DHT ping', source: 'rules/emerging-p2p.rules:12', action: 'drop', mode: 'inline', severity: 'blocks', hits: [], why: 'drops WireGuard handshakes',
  fix: ['Services > Intrusion Detection > Administration > Rules: search SID 2008581, set its action to Alert (or disable it), then Apply.', 'second step'], notes: [],
};

function inputs(over: Partial<PageInputs> = {}): PageInputs {
  const rtt = new RttHistory(3);
  return {
    version: '0.1.0', nowWallMs: T0, platform: 'linux', coordinator: 'https://203.0.113.10:8443', mesh, rtt,
    pmp: { epochSec: 120, mappings: [
      { via: 'pcp', client: '192.168.1.11', transport: 'udp', internalAddress: '192.168.1.11', internalPort: 6000, externalPort: 6000, remainingSec: 100 },
      { via: 'pmp', client: '192.168.1.10', transport: 'tcp', internalAddress: '192.168.1.10', internalPort: 5555, externalPort: 40000, remainingSec: 3500 },
    ] },
    netcheck: null, ips: [finding],
    nat: { enabled: true, backend: 'nft', rules: 'table ip conegate {}', pending: { deadlineWallMs: T0 + 60_000 }, appliedAtWallMs: T0 - 1000 },
    settings: { pending: true, appliedAtWallMs: null, restartNeeded: ['wg.listenPort'] },
    ...over,
  };
}

test('peers: path kind, endpoint or relay region and server, reason only when not direct, sorted by name, names as data', () => {
  const m = buildPageModel(inputs());
  assert.deepEqual(m.peers.map((p) => [p.name, p.path, p.endpoint, p.relay, p.reason?.code ?? null]), [
    ['<img src=x onerror=alert(1)>', 'direct', '198.51.100.20:41641', null, null],
    ['site-c', 'tcp-relay', null, { region: 'lab', server: 'relay-1.lab:443' }, 'both-hard'],
    ['site-d', 'udp-relay', '203.0.113.9:41642', null, null],
  ]);
  const d = m.peers[0]!;
  assert.deepEqual([d.rttMs, d.rxBytes, d.txBytes, d.forSec, d.lastHandshake, d.events.length], [3.2, 10, 20, 12, '2026-12-07T08:59:30.000Z', 1]);
  assert.deepEqual(m.self, { name: 'site-a', addresses: ['100.64.0.1'], interface: 'cg0', listenPort: 41641, coordinator: 'https://203.0.113.10:8443' });
  assert.equal(m.generatedAt, '2026-12-07T09:00:00.000Z');
});

test('mappings: page ids as pmp-delete takes them, lifetimes as seconds left, the epoch; null without the server', () => {
  const m = buildPageModel(inputs());
  assert.deepEqual(m.mappings, { epochSec: 120, items: [
    { id: '192.168.1.10/tcp/5555', client: '192.168.1.10', protocol: 'tcp', internalPort: 5555, externalPort: 40000, lifetimeSec: 3500, via: 'nat-pmp' },
    { id: '192.168.1.11/udp/6000', client: '192.168.1.11', protocol: 'udp', internalPort: 6000, externalPort: 6000, lifetimeSec: 100, via: 'pcp' },
  ] });
  assert.equal(buildPageModel(inputs({ pmp: null })).mappings, null);
});

test('IPS findings carry the fix steps and where to click; NAT and settings state', () => {
  const m = buildPageModel(inputs());
  assert.equal(m.ips[0]!.severity, 'block');
  assert.equal(m.ips[0]!.where, 'Services > Intrusion Detection > Administration > Rules');
  assert.match(m.ips[0]!.fix, /SID 2008581, set its action to Alert/);
  assert.match(m.ips[0]!.title, /SID 2008581 "ET P2P BitTorrent DHT ping" \(drop\)/);
  assert.equal(whereOf(['Nothing blocks. To stop the notifications: UniFi Network > Settings > CyberSecure (Security) > Intrusion Prevention > Signature Suppression: add SID 1.']), 'UniFi Network > Settings > CyberSecure (Security) > Intrusion Prevention > Signature Suppression');
  assert.deepEqual(m.nat, { enabled: true, backend: 'nft', rules: 'table ip conegate {}', pending: { revertAt: '2026-12-07T09:01:00.000Z' }, appliedAt: '2026-12-07T08:59:59.000Z' });
  assert.deepEqual(m.settings, { pending: true, appliedAt: null, restartNeeded: ['wg.listenPort'] });
  assert.equal(m.netcheck, null);
});

test('RTT history: a bounded ring per peer, oldest first, gaps as null, peers that left forgotten', () => {
  const h = new RttHistory(3);
  const rtts = currentRtts(mesh);
  assert.deepEqual([...rtts], [['n3', 41.26], ['n2', 3.2], ['n4', null]]);
  for (let s = 0; s < 5; s++) h.sample(1000 + 2 * s, new Map([['n2', s === 3 ? null : 3 + s], ['n3', 40]]));
  assert.deepEqual(h.get('n2'), [[1004, 5], [1006, null], [1008, 7]]);
  h.sample(1010, new Map([['n2', 8]]));
  assert.equal(h.peers, 1, 'n3 left the map: its ring is dropped');
  const m = buildPageModel(inputs({ rtt: h }));
  assert.deepEqual(m.peers.find((p) => p.id === 'n2')!.rttHistory, [[1006, null], [1008, 7], [1010, 8]]);
});

test('the SSE fingerprint ignores the clock and counters, not real changes', () => {
  const a = buildPageModel(inputs());
  const later = buildPageModel(inputs({ nowWallMs: T0 + 1000, pmp: { epochSec: 121, mappings: inputs().pmp!.mappings.map((x) => ({ ...x, remainingSec: x.remainingSec - 1 })) } }));
  assert.equal(pageFingerprint(a), pageFingerprint(later));
  const moved = buildPageModel(inputs({ mesh: { ...mesh, peers: mesh.peers.map((p) => (p.id === 'n3' ? { ...p, path: path('direct', { endpoint: '192.0.2.7:41641' }) } : p)) } }));
  assert.notEqual(pageFingerprint(a), pageFingerprint(moved));
});

test('netcheck view: the port mapping carries the upstream gateway\'s epoch from the running portmap', () => {
  const report = {
    ipv4: { mapping: 'endpoint-independent', filtering: 'address-dependent', hairpinning: false },
    ipv6: { works: false },
    portMapping: { probed: true, upnp: false, natpmp: true, pcp: false, gateway: '192.168.1.1', externalAddress: '203.0.113.7', note: null },
  } as unknown as NonNullable<PageInputs['netcheck']>['report'];
  const m = buildPageModel(inputs({ netcheck: { atWallMs: T0, report }, portmapEpochSec: 4242 }));
  assert.deepEqual(m.netcheck?.portMapping, { protocol: 'nat-pmp', externalAddress: '203.0.113.7', epoch: 4242 });
  assert.equal(buildPageModel(inputs({ netcheck: { atWallMs: T0, report } })).netcheck?.portMapping.epoch, null, 'no mapping held: no epoch');
});

test('the fingerprint ignores the upstream epoch ticking by (no push every second for it)', () => {
  const report = { ipv4: {}, ipv6: {}, portMapping: { natpmp: true, externalAddress: null } } as unknown as NonNullable<PageInputs['netcheck']>['report'];
  const a = buildPageModel(inputs({ netcheck: { atWallMs: T0, report }, portmapEpochSec: 100 }));
  const b = buildPageModel(inputs({ netcheck: { atWallMs: T0, report }, portmapEpochSec: 101 }));
  assert.equal(pageFingerprint(a), pageFingerprint(b));
});
