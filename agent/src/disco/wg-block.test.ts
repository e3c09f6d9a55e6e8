// The engine's "why relayed" for two cases that are not "no direct path": WireGuard dropped on a path
// that answers discovery (an IPS rule on WireGuard's shape), and a peer the relay or coordinator says is gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededBytes } from '../../../test/fakes/disco-mesh.ts';
import type { PathAction, Via } from '../paths/types.ts';
import type { Endpoint } from '../wg/ports.ts';
import { DiscoEngine } from './engine.ts';
import { WG_BLOCK_RETRY_MS } from './wg-block.ts';

const SELF = 'aa'.repeat(32);
const PEER = 'bb'.repeat(32);
const PEER_DISCO = 'cc'.repeat(32);
const OURS: Endpoint = { address: '198.51.100.1', port: 41641 };
const THEIRS: Endpoint = { address: '203.0.113.7', port: 41641 };
const RELAY: Via = { kind: 'tcp-relay', region: 'r1' };
const DIRECT: Via = { kind: 'direct', endpoint: THEIRS, socket: 0 };

function engine(online?: boolean): DiscoEngine {
  const e = new DiscoEngine({ nodeKey: SELF }, { randomBytes: seededBytes(3) });
  e.setSelf({ endpoints: [OURS], mappingVariesByDest: false, udp: true }, 0);
  e.setPeers([{ nodeKey: PEER, discoKey: PEER_DISCO, endpoints: [THEIRS], homeRelay: 'r1', ...(online === undefined ? {} : { online }) }], 0);
  return e;
}

/** Answers the pings in `acts` (as the peer would): the direct path is confirmed. */
function pongAll(e: DiscoEngine, acts: PathAction[], atMs: number): void {
  for (const a of acts) {
    if (a.t !== 'disco' || a.message.type !== 'ping' || a.via.kind !== 'direct') continue;
    e.onDisco(PEER_DISCO, { type: 'pong', txId: a.message.txId, src: OURS }, a.via, atMs);
  }
}

function direct(): DiscoEngine {
  const e = engine();
  pongAll(e, e.onTraffic(PEER, 0), 20);
  assert.deepEqual(e.route(PEER, 100), [DIRECT], 'direct after the first pong');
  return e;
}

test('WireGuard silent on a path that answers pings: relay, reason wireguard-blocked naming the pattern and the exemption', () => {
  const e = direct();
  e.onWireGuardSilent(PEER, DIRECT, 5_000);
  assert.deepEqual(e.route(PEER, 5_000), [RELAY], 'WireGuard goes through the relay');
  const st = e.status(PEER, 5_000)!;
  assert.deepEqual(st.path, RELAY, 'status shows the relay, not the direct path the pings still use');
  assert.equal(st.reason?.code, 'wireguard-blocked');
  assert.match(st.reason!.text, /drops WireGuard-shaped UDP/);
  assert.match(st.reason!.text, /148-byte type 1/);
  assert.match(st.reason!.text, /exempt the mesh from the IPS/);
  assert.match(st.reason!.text, /203\.0\.113\.7:41641/);
  // Once a minute WireGuard tries the direct path again (with a copy through the relay).
  assert.deepEqual(e.route(PEER, 5_000 + WG_BLOCK_RETRY_MS), [DIRECT, RELAY]);
  e.onWireGuardDirect(PEER, 5_000 + WG_BLOCK_RETRY_MS + 50);
  assert.equal(e.status(PEER, 5_000 + WG_BLOCK_RETRY_MS + 50)!.reason, undefined, 'heard direct: the block is lifted');
});

test('an IPS finding of this router is cited in the reason', () => {
  const e = direct();
  e.setIpsFinding('IPS on this router blocks P2P: suricata rule 2027722 (wireguard) on WAN');
  e.onWireGuardSilent(PEER, DIRECT, 5_000);
  assert.match(e.status(PEER, 5_000)!.reason!.text, /this router's IPS check: .*2027722/);
});

test('silence on a path that answers no pings is not an IPS verdict (the heartbeats handle a dead path)', () => {
  const e = direct();
  e.onWireGuardSilent(PEER, DIRECT, 60_000);
  assert.equal(e.status(PEER, 60_000)!.reason?.code === 'wireguard-blocked', false);
  const other: Via = { kind: 'direct', endpoint: { address: '192.0.2.9', port: 1 }, socket: 0 };
  const f = direct();
  f.onWireGuardSilent(PEER, other, 5_000);
  assert.deepEqual(f.route(PEER, 5_000), [DIRECT], 'a candidate we never confirmed');
});

test('peer gone at the relay: reason peer-offline, cleared by the peer\'s next discovery message', () => {
  const e = engine();
  e.onTraffic(PEER, 0);
  e.onPeerGone(PEER, 'r1', 'disconnected', 1_000);
  const r = e.status(PEER, 6_000)!.reason!;
  assert.equal(r.code, 'peer-offline');
  assert.match(r.text, /relay region r1 says the peer disconnected/);
  e.onDisco(PEER_DISCO, { type: 'call-me-maybe', endpoints: [THEIRS], hardNat: false }, RELAY, 7_000);
  assert.notEqual(e.status(PEER, 7_000)!.reason?.code, 'peer-offline');
});

test('offline in the coordinator\'s map: reason peer-offline, not "no answer"', () => {
  const e = engine(false);
  e.onTraffic(PEER, 0);
  const r = e.status(PEER, 10_000)!.reason!;
  assert.equal(r.code, 'peer-offline');
  assert.match(r.text, /coordinator reports the peer offline/);
  assert.equal(engine(true).status(PEER, 10_000)!.reason?.code === 'peer-offline', false);
});
