// Any sequence of events leaves the UDP relay step sane: no exception, no wake time in the past (the loop
// would spin), every message encodable, a UDP relay Via in a route only while one is bound, never a relay
// asked of the node it is for, and want/let-go alternating per peer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seededBytes } from '../../../test/fakes/disco-mesh.ts';
import type { PathAction, Via } from '../paths/types.ts';
import type { Endpoint } from '../wg/ports.ts';
import { encodeDiscoPlain } from './codec.ts';
import { DiscoEngine } from './engine.ts';
import { UdpRelayEngine } from './udp-relay-engine.ts';
import type { DiscoMessage } from './types.ts';

const SELF = 'aa'.repeat(32);
const PEERS = ['11', '22', '33'].map((b) => ({ nodeKey: b.repeat(32), discoKey: 'e' + b.repeat(31) + 'e' }));
const RELAY_AT = '192.0.2.33:41642';
const MAP_ENDPOINT: Endpoint = { address: '203.0.113.7', port: 41641 };
const peerArb = fc.integer({ min: 0, max: 2 });
const udpVia = (vni: number): Extract<Via, { kind: 'udp-relay' }> => ({ kind: 'udp-relay', relay: { address: '192.0.2.33', port: 41642 }, vni, socket: 0 });
const viaArb: fc.Arbitrary<Via> = fc.oneof(
  fc.record({ kind: fc.constant('direct' as const), endpoint: fc.constant(MAP_ENDPOINT), socket: fc.constant(0) }),
  fc.record({ kind: fc.constant('tcp-relay' as const), region: fc.constant('r1') }),
  fc.integer({ min: 1, max: 3 }).map(udpVia),
);
const eventArb = fc.oneof(
  fc.record({ e: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 12_000 }) }),
  fc.record({ e: fc.constant('traffic' as const), peer: peerArb }),
  fc.record({ e: fc.constant('bound' as const), peer: peerArb, vni: fc.option(fc.integer({ min: 1, max: 3 })) }),
  fc.record({ e: fc.constant('pong-of' as const), index: fc.nat() }),
  fc.record({ e: fc.constant('ping' as const), peer: peerArb, via: viaArb, own: fc.boolean() }),
  fc.record({ e: fc.constant('cmm' as const), peer: peerArb, hard: fc.boolean() }),
  fc.record({ e: fc.constant('link' as const) }),
  fc.record({ e: fc.constant('self' as const), hard: fc.option(fc.boolean()), udp: fc.option(fc.boolean()) }),
  fc.record({ e: fc.constant('map' as const), relay: fc.boolean() }),
);

test('property: the UDP relay step never throws, never wakes in the past, routes a UDP relay only while bound', () => {
  let udpRoutes = 0;
  fc.assert(
    fc.property(fc.array(eventArb, { minLength: 30, maxLength: 120 }), fc.integer({ min: 1, max: 1e6 }), (events, seed) => {
      const rnd = seededBytes(seed);
      const e = new UdpRelayEngine(new DiscoEngine({ nodeKey: SELF }, { randomBytes: rnd }), { nodeKey: SELF }, { randomBytes: rnd });
      let now = 0;
      const sent: PathAction[] = [];
      const bound = new Map<string, Extract<Via, { kind: 'udp-relay' }>>();
      const wanted = new Map<string, boolean>();
      const take = (acts: PathAction[]) => {
        for (const a of acts) {
          sent.push(a);
          if (a.t === 'disco') encodeDiscoPlain(a.message, 0);
          if (a.t !== 'udp-relay') continue;
          assert.notEqual(a.relay?.nodeKey, a.peer, 'never a relay for its own pairs');
          assert.notEqual(wanted.get(a.peer) ?? false, a.relay !== undefined, `want / let go alternate for ${a.peer.slice(0, 4)}`);
          wanted.set(a.peer, a.relay !== undefined);
          if (!a.relay) bound.delete(a.peer);
        }
      };
      const map = (relay: boolean) => PEERS.map((p, i) => ({ ...p, endpoints: [MAP_ENDPOINT], homeRelay: 'r1', ...(relay && i === 2 ? { udpRelay: RELAY_AT } : {}) }));
      take(e.setPeers(map(true), now));
      take(e.setSelf({ endpoints: [{ address: '198.51.100.1', port: 41641 }], mappingVariesByDest: true, udp: true }, now));
      for (const ev of events) {
        if (ev.e === 'advance') {
          const until = now + ev.ms;
          let ticks = 0;
          for (let w = e.nextWakeMs(); w !== undefined && w <= until; w = e.nextWakeMs()) {
            assert.ok(w >= now, 'wake never in the past');
            // A wake that stays due after its tick would spin the path loop.
            assert.ok(++ticks < 5_000, `the engine keeps asking to be woken at ${w}`);
            now = w;
            take(e.tick(now));
          }
          now = until;
        } else if (ev.e === 'traffic') take(e.onTraffic(PEERS[ev.peer]!.nodeKey, now));
        else if (ev.e === 'bound') {
          const key = PEERS[ev.peer]!.nodeKey;
          const via = ev.vni === null ? undefined : udpVia(ev.vni);
          // The client reports only for peers it was asked about.
          if (!wanted.get(key)) continue;
          if (via) bound.set(key, via);
          else bound.delete(key);
          take(e.onUdpRelay(key, via, now));
        } else if (ev.e === 'pong-of') {
          const pings = sent.filter((a): a is Extract<PathAction, { t: 'disco' }> => a.t === 'disco' && a.message.type === 'ping' && a.via.kind === 'udp-relay');
          const p = pings[ev.index % Math.max(1, pings.length)];
          if (!p || p.message.type !== 'ping') continue;
          const from = PEERS.find((x) => x.nodeKey === p.peer)!;
          take(e.onDisco(from.discoKey, { type: 'pong', txId: p.message.txId, src: p.via.kind === 'udp-relay' ? p.via.relay : MAP_ENDPOINT }, p.via, now));
        } else if (ev.e === 'ping') {
          const m: DiscoMessage = { type: 'ping', txId: rnd(12), nodeKey: ev.own ? PEERS[ev.peer]!.nodeKey : SELF };
          take(e.onDisco(PEERS[ev.peer]!.discoKey, m, ev.via, now));
        } else if (ev.e === 'cmm') take(e.onDisco(PEERS[ev.peer]!.discoKey, { type: 'call-me-maybe', endpoints: [MAP_ENDPOINT], hardNat: ev.hard }, { kind: 'tcp-relay', region: 'r1' }, now));
        else if (ev.e === 'link') take(e.onLinkChange(now));
        else if (ev.e === 'map') take(e.setPeers(map(ev.relay), now));
        else take(e.setSelf({ endpoints: [{ address: '198.51.100.1', port: 41641 }], mappingVariesByDest: ev.hard ?? undefined, udp: ev.udp ?? undefined }, now));
        for (const p of PEERS) {
          const r = e.route(p.nodeKey, now);
          assert.ok(r.length <= 2);
          const u = r.find((v) => v.kind === 'udp-relay');
          if (u) {
            udpRoutes++;
            assert.deepEqual(u, bound.get(p.nodeKey), 'a UDP relay Via only while bound, the one bound');
          }
          e.status(p.nodeKey, now);
        }
      }
    }),
    { numRuns: 150 },
  );
  assert.ok(udpRoutes > 0, 'the generator reaches routes through the UDP relay');
});
