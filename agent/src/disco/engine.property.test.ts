// Any sequence of events, including nonsense a buggy or hostile peer could seal, leaves the engine sane:
// no exception, every action encodable, routes of at most two paths, the birthday budget held.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seededBytes } from '../../../test/fakes/disco-mesh.ts';
import type { PathAction, Via } from '../paths/types.ts';
import type { Endpoint } from '../wg/ports.ts';
import { BIRTHDAY_BACKOFF_MS, BIRTHDAY_MAX_SOCKETS } from './birthday.ts';
import { encodeDiscoPlain } from './codec.ts';
import { DiscoEngine } from './engine.ts';
import type { DiscoMessage } from './types.ts';

const PEERS = ['11', '22'].map((b) => ({ nodeKey: b.repeat(32), discoKey: (b + 'd').slice(0, 2).replace(/./g, 'e') + b.repeat(31) }));
const ADDRS = ['203.0.113.7', '198.51.100.9', '10.1.1.1', '2001:db8::5', '192.0.2.77'];
const MAP_ENDPOINT: Endpoint = { address: '203.0.113.7', port: 41641 };
const endpointArb: fc.Arbitrary<Endpoint> = fc.record({ address: fc.constantFrom(...ADDRS), port: fc.constantFrom(1, 41641, 20000, 65535) });
const viaArb: fc.Arbitrary<Via> = fc.oneof(
  fc.record({ kind: fc.constant('direct' as const), endpoint: endpointArb, socket: fc.integer({ min: 0, max: 4 }) }),
  fc.record({ kind: fc.constant('tcp-relay' as const), region: fc.constant('r1') }),
);
const peerArb = fc.integer({ min: 0, max: 1 });
const messageArb: fc.Arbitrary<DiscoMessage | { type: 'pong-of'; index: number }> = fc.oneof(
  fc.record({ type: fc.constant('ping' as const), txId: fc.uint8Array({ minLength: 12, maxLength: 12 }), nodeKey: fc.constantFrom(PEERS[0]!.nodeKey, PEERS[1]!.nodeKey) }),
  fc.record({ type: fc.constant('pong-of' as const), index: fc.nat() }),
  fc.record({ type: fc.constant('call-me-maybe' as const), endpoints: fc.array(endpointArb, { maxLength: 5 }), hardNat: fc.boolean() }),
  fc.record({
    type: fc.constant('birthday' as const), attempt: fc.nat(), hardAddress: fc.constantFrom(...ADDRS), easy: fc.oneof(fc.constant(MAP_ENDPOINT), endpointArb),
    sockets: fc.nat({ max: 0xffff }), probes: fc.nat({ max: 0xffff }), ratePerSec: fc.nat({ max: 0xffff }), deadlineMs: fc.nat({ max: 0xffffffff }),
  }),
);
const eventArb = fc.oneof(
  fc.record({ e: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 8000 }) }),
  fc.record({ e: fc.constant('traffic' as const), peer: peerArb }),
  fc.record({ e: fc.constant('disco' as const), peer: peerArb, m: messageArb, via: viaArb }),
  fc.record({ e: fc.constant('send-error' as const), peer: peerArb, via: viaArb }),
  fc.record({ e: fc.constant('link' as const) }),
  fc.record({ e: fc.constant('opened' as const), peer: peerArb, ids: fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 5 }) }),
  fc.record({ e: fc.constant('self' as const), hard: fc.option(fc.boolean()), udp: fc.option(fc.boolean()), endpoints: fc.array(endpointArb, { maxLength: 3 }) }),
);

test('property: random event sequences never throw, emit only encodable messages, keep routes and the birthday budget', () => {
  let openedRuns = 0;
  fc.assert(
    fc.property(fc.array(eventArb, { maxLength: 120 }), fc.integer({ min: 1, max: 1e6 }), (events, seed) => {
      const e = new DiscoEngine({ nodeKey: 'aa'.repeat(32) }, { randomBytes: seededBytes(seed) });
      let now = 0;
      const sent: PathAction[] = [];
      const opens: Array<{ at: number; count: number; peer: string }> = [];
      const take = (acts: PathAction[]) => {
        for (const a of acts) {
          sent.push(a);
          if (a.t === 'disco') encodeDiscoPlain(a.message, 0);
          if (a.t === 'open-sockets') opens.push({ at: now, count: a.count, peer: a.peer });
        }
      };
      take(e.setPeers(PEERS.map((p) => ({ ...p, endpoints: [MAP_ENDPOINT], homeRelay: 'r1' })), now));
      take(e.setSelf({ endpoints: [{ address: '198.51.100.1', port: 41641 }], mappingVariesByDest: seed % 2 === 0, udp: true }, now));
      for (const ev of events) {
        if (ev.e === 'advance') {
          const until = now + ev.ms;
          for (let w = e.nextWakeMs(); w !== undefined && w <= until; w = e.nextWakeMs()) {
            assert.ok(w >= now, 'wake never in the past');
            now = w;
            take(e.tick(now));
          }
          now = until;
        } else if (ev.e === 'traffic') take(e.onTraffic(PEERS[ev.peer]!.nodeKey, now));
        else if (ev.e === 'disco') {
          let m: DiscoMessage;
          if (ev.m.type === 'pong-of') {
            const pings = sent.filter((a): a is Extract<PathAction, { t: 'disco' }> => a.t === 'disco' && a.message.type === 'ping');
            const p = pings[ev.m.index % Math.max(1, pings.length)];
            if (!p || p.message.type !== 'ping') continue;
            m = { type: 'pong', txId: p.message.txId, src: { address: '198.51.100.1', port: 1 } };
            take(e.onDisco(PEERS[ev.peer]!.discoKey, m, p.via, now));
            continue;
          }
          m = ev.m;
          take(e.onDisco(PEERS[ev.peer]!.discoKey, m, ev.via, now));
        } else if (ev.e === 'send-error') take(e.onSendError(PEERS[ev.peer]!.nodeKey, ev.via, now));
        else if (ev.e === 'link') take(e.onLinkChange(now));
        else if (ev.e === 'opened') take(e.onSocketsOpened(PEERS[ev.peer]!.nodeKey, ev.ids, now));
        else take(e.setSelf({ endpoints: ev.endpoints, mappingVariesByDest: ev.hard ?? undefined, udp: ev.udp ?? undefined }, now));
        for (const p of PEERS) {
          assert.ok(e.route(p.nodeKey, now).length <= 2);
          e.status(p.nodeKey, now);
        }
      }
      // At most one opening per peer per 5 min, each within the socket budget.
      for (const o of opens) assert.ok(o.count >= 1 && o.count <= BIRTHDAY_MAX_SOCKETS);
      for (const p of PEERS) {
        const at = opens.filter((o) => o.peer === p.nodeKey).map((o) => o.at);
        for (let i = 1; i < at.length; i++) assert.ok(at[i]! - at[i - 1]! >= BIRTHDAY_BACKOFF_MS, JSON.stringify(at));
      }
      if (opens.length) openedRuns++;
    }),
    { numRuns: 300 },
  );
  assert.ok(openedRuns > 0, 'the generator reaches birthday attempts');
});
