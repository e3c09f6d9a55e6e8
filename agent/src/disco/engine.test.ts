// The engine alone, step by step on explicit times: what it sends, when, and where packets go.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededBytes } from '../../../test/fakes/disco-mesh.ts';
import type { PathAction, Via } from '../paths/types.ts';
import type { Endpoint } from '../wg/ports.ts';
import { DiscoEngine } from './engine.ts';
import type { DiscoMessage } from './types.ts';

const SELF = 'aa'.repeat(32);
const PEER = 'bb'.repeat(32);
const PEER_DISCO = 'cc'.repeat(32);
const OURS: Endpoint = { address: '198.51.100.1', port: 41641 };
const THEIRS: Endpoint[] = [{ address: '203.0.113.7', port: 41641 }, { address: '10.7.0.2', port: 41641 }];

type Disco = Extract<PathAction, { t: 'disco' }>;
const discos = (a: PathAction[], type?: DiscoMessage['type']) => a.filter((x): x is Disco => x.t === 'disco' && (!type || x.message.type === type));
const direct = (endpoint: Endpoint, socket = 0): Via => ({ kind: 'direct', endpoint, socket });

function engine(o: { selfHard?: boolean; peerEndpoints?: Endpoint[] } = {}): DiscoEngine {
  const e = new DiscoEngine({ nodeKey: SELF }, { randomBytes: seededBytes(7) });
  e.setSelf({ endpoints: [OURS], mappingVariesByDest: o.selfHard ?? false, udp: true }, 0);
  e.setPeers([{ nodeKey: PEER, discoKey: PEER_DISCO, endpoints: o.peerEndpoints ?? THEIRS, homeRelay: 'r1' }], 0);
  return e;
}

/** Answers every ping in `acts` sent to `to` (as the peer would), `rttMs` later. */
function pong(e: DiscoEngine, acts: PathAction[], to: Endpoint, atMs: number): PathAction[] {
  const out: PathAction[] = [];
  for (const p of discos(acts, 'ping')) {
    if (p.via.kind !== 'direct' || p.via.endpoint.address !== to.address || p.via.endpoint.port !== to.port || p.message.type !== 'ping') continue;
    out.push(...e.onDisco(PEER_DISCO, { type: 'pong', txId: p.message.txId, src: OURS }, p.via, atMs));
  }
  return out;
}

test('first traffic: every candidate pinged and call-me-maybe through the relay in the same tick; at most once per 5 s', () => {
  const e = engine();
  assert.deepEqual(e.route(PEER, 0), [{ kind: 'tcp-relay', region: 'r1' }], 'starts on the home relay');
  const a = e.onTraffic(PEER, 1000);
  assert.deepEqual(discos(a, 'ping').map((d) => d.via), THEIRS.map((t) => direct(t)));
  const cmm = discos(a, 'call-me-maybe');
  assert.equal(cmm.length, 1);
  assert.deepEqual(cmm[0]!.via, { kind: 'tcp-relay', region: 'r1' });
  assert.deepEqual(cmm[0]!.message, { type: 'call-me-maybe', endpoints: [OURS], hardNat: false });
  assert.deepEqual(discos(e.onTraffic(PEER, 1100)), []);
  assert.deepEqual(discos(e.tick(5999)), []);
  assert.equal(e.nextWakeMs(), 6000, 'ping timeouts and the next round are due at 5 s');
  assert.equal(discos(e.tick(6000), 'ping').length, 2);
});

test('traffic before the map knew the peer\'s endpoints and relay: the map update pings and calls at once, not at the next round', () => {
  const e = new DiscoEngine({ nodeKey: SELF }, { randomBytes: seededBytes(7) });
  e.setSelf({ endpoints: [OURS], mappingVariesByDest: false, udp: true }, 0);
  e.setPeers([{ nodeKey: PEER, discoKey: PEER_DISCO, endpoints: [], homeRelay: null }], 0);
  assert.deepEqual(discos(e.onTraffic(PEER, 1000)), [], 'nothing to ping, no relay to call through');
  const a = e.setPeers([{ nodeKey: PEER, discoKey: PEER_DISCO, endpoints: THEIRS, homeRelay: 'r1' }], 1200);
  assert.deepEqual(discos(a, 'ping').map((d) => d.via), THEIRS.map((t) => direct(t)));
  assert.deepEqual(discos(a, 'call-me-maybe').map((d) => d.via), [{ kind: 'tcp-relay', region: 'r1' }]);
  // The same map again: nothing new, nothing sent (a map update per peer change must not become a ping storm).
  assert.deepEqual(discos(e.setPeers([{ nodeKey: PEER, discoKey: PEER_DISCO, endpoints: THEIRS, homeRelay: 'r1' }], 1300)), []);
  // One more endpoint: only it is pinged.
  const extra = { address: '192.0.2.9', port: 41641 };
  const b = e.setPeers([{ nodeKey: PEER, discoKey: PEER_DISCO, endpoints: [...THEIRS, extra], homeRelay: 'r1' }], 1400);
  assert.deepEqual(discos(b).map((d) => d.via), [direct(extra)]);
  // A peer with no traffic (idle) or already direct is left to its rounds.
  const idle = engine();
  assert.deepEqual(discos(idle.setPeers([{ nodeKey: PEER, discoKey: PEER_DISCO, endpoints: [...THEIRS, extra], homeRelay: 'r2' }], 100)), []);
  const d = engine();
  pong(d, d.onTraffic(PEER, 0), THEIRS[0]!, 10);
  assert.equal(d.route(PEER, 20)[0]!.kind, 'direct');
  assert.deepEqual(discos(d.setPeers([{ nodeKey: PEER, discoKey: PEER_DISCO, endpoints: [...THEIRS, extra], homeRelay: 'r2' }], 30)), []);
});

test('call-me-maybe: replaces the earlier list, resets ping timers and pings all at once, answers once per 5 s', () => {
  const e = engine();
  e.onTraffic(PEER, 0);
  const cmm1: DiscoMessage = { type: 'call-me-maybe', endpoints: [{ address: '192.0.2.50', port: 1000 }], hardNat: false };
  const a = e.onDisco(PEER_DISCO, cmm1, { kind: 'tcp-relay', region: 'r1' }, 1000);
  assert.equal(discos(a, 'ping').length, 3, 'both map candidates again (timers reset) and the new one');
  assert.equal(discos(a, 'call-me-maybe').length, 0, 'we sent ours 1 s ago');
  const b = e.onDisco(PEER_DISCO, { ...cmm1, endpoints: [{ address: '192.0.2.51', port: 1001 }] }, { kind: 'tcp-relay', region: 'r1' }, 7000);
  assert.deepEqual(e.status(PEER, 7000)!.candidates.map((c) => `${c.source} ${c.endpoint}`), [
    'map 203.0.113.7:41641', 'map 10.7.0.2:41641', 'call-me-maybe 192.0.2.51:1001',
  ]);
  assert.equal(discos(b, 'call-me-maybe').length, 1, 'our own list and NAT kind go back');
});

test('a ping from an unknown address: peer-reflexive candidate, pong to exactly that address and socket, expires 45 s after its last ping', () => {
  const e = engine();
  const from: Endpoint = { address: '203.0.113.7', port: 20555 };
  const txId = new Uint8Array(12).fill(9);
  const a = e.onDisco(PEER_DISCO, { type: 'ping', txId, nodeKey: PEER }, direct(from, 0), 1000);
  assert.deepEqual(discos(a, 'pong').map((d) => [d.via, d.message]), [[direct(from), { type: 'pong', txId, src: from }]]);
  assert.equal(discos(a, 'ping').length, 1, 'and pings it back: the path works inbound now');
  assert.equal(e.peerForSource(from, 0), PEER);
  assert.equal(e.peerForSource(from, 3), undefined, 'per socket');
  assert.ok(e.status(PEER, 1000)!.candidates.some((c) => c.source === 'peer-reflexive'));
  e.onDisco(PEER_DISCO, { type: 'ping', txId, nodeKey: PEER }, direct(from, 0), 30_000);
  e.onTraffic(PEER, 74_000);
  assert.equal(e.peerForSource(from, 0), PEER, '44 s after the last ping');
  e.tick(75_001);
  assert.equal(e.peerForSource(from, 0), undefined, 'gone 45 s after the last ping');
  // A ping naming another node key is not tied to this peer.
  assert.deepEqual(e.onDisco(PEER_DISCO, { type: 'ping', txId, nodeKey: 'dd'.repeat(32) }, direct(from), 80_000), []);
  assert.deepEqual(e.onDisco('ee'.repeat(32), { type: 'ping', txId, nodeKey: PEER }, direct(from), 80_000), [], 'unknown disco key');
});

test('a burst of pings from new addresses (a hard peer\'s birthday sockets) is one counted event; the path\'s history stays', () => {
  const e = engine();
  pong(e, e.onTraffic(PEER, 0), THEIRS[0]!, 10);
  const txId = new Uint8Array(12);
  for (let i = 0; i < 256; i++) e.onDisco(PEER_DISCO, { type: 'ping', txId, nodeKey: PEER }, direct({ address: '203.0.113.7', port: 2000 + i }), 100 + (i >> 3));
  const texts = e.status(PEER, 200)!.events.map((x) => x.text);
  assert.ok(texts.some((t) => t.startsWith('first pong: direct via 203.0.113.7:41641')), 'the direct event is still there');
  assert.deepEqual(texts.filter((t) => t.startsWith('ping from new address')), ['ping from new address 203.0.113.7:2000 and 255 more']);
  // Later (more than a second after the burst began) a new address is an event of its own.
  e.onDisco(PEER_DISCO, { type: 'ping', txId, nodeKey: PEER }, direct({ address: '198.51.100.77', port: 41641 }), 5_000);
  assert.equal(e.status(PEER, 5_000)!.events.at(-1)!.text, 'ping from new address 198.51.100.77:41641');
});

test('pong: direct at once; trust 6.5 s after each pong; heartbeats every 3 s while active; untrusted sends on both', () => {
  const e = engine();
  const a = e.onTraffic(PEER, 0);
  pong(e, a, THEIRS[0]!, 20);
  assert.deepEqual(e.route(PEER, 20), [direct(THEIRS[0]!)]);
  assert.equal(e.status(PEER, 20)!.rttMs, 20);
  // Keep traffic flowing both ways, answer no heartbeat: suspect after 1 s without an answer, relay copy from then.
  e.onTraffic(PEER, 2000);
  e.onReceive(PEER, direct(THEIRS[0]!), 2000);
  const hb = e.tick(3020);
  assert.equal(discos(hb, 'ping').length, 1, 'heartbeat on the path in use only');
  assert.deepEqual(e.route(PEER, 4000), [direct(THEIRS[0]!)]);
  assert.deepEqual(e.route(PEER, 4100), [direct(THEIRS[0]!), { kind: 'tcp-relay', region: 'r1' }], 'a heartbeat unanswered for > 1 s');
  pong(e, hb, THEIRS[0]!, 4200);
  assert.deepEqual(e.route(PEER, 4200), [direct(THEIRS[0]!)], 'trusted again at the pong');
  assert.deepEqual(e.route(PEER, 10_700), [direct(THEIRS[0]!), { kind: 'tcp-relay', region: 'r1' }], '6.5 s after the last pong');
});

test('no heartbeats once traffic stopped for 45 s; the next traffic probes again', () => {
  const e = engine();
  pong(e, e.onTraffic(PEER, 0), THEIRS[0]!, 20);
  let t = 20;
  let pings = 0;
  while (t < 120_000) {
    const w = e.nextWakeMs();
    if (w === undefined) break;
    t = w;
    for (const d of discos(e.tick(t), 'ping')) {
      pings++;
      pong(e, [d], THEIRS[0]!, t + 20);
    }
  }
  assert.ok(pings >= 12 && pings <= 17, `${pings} heartbeats in the 45 s window`);
  assert.ok(t <= 46_000, `idle after ${t} ms`);
  assert.equal(discos(e.onTraffic(PEER, 200_000), 'ping').length, 2, 'untrusted: re-probe everything');
});

test('a pong counts only from the address and socket the ping went to', () => {
  const e = engine();
  const a = discos(e.onTraffic(PEER, 0), 'ping')[0]!;
  if (a.message.type !== 'ping') throw new Error('ping');
  assert.deepEqual(e.onDisco(PEER_DISCO, { type: 'pong', txId: a.message.txId, src: OURS }, direct({ address: '192.0.2.99', port: 1 }), 10), []);
  assert.deepEqual(e.onDisco(PEER_DISCO, { type: 'pong', txId: a.message.txId, src: OURS }, direct(THEIRS[0]!, 4), 10), []);
  assert.deepEqual(e.route(PEER, 10), [{ kind: 'tcp-relay', region: 'r1' }]);
});

test('re-probe all candidates every 60 s, unless the path is 5 ms or faster', () => {
  for (const [rtt, expectReprobe] of [[20, true], [5, false]] as const) {
    const e = engine();
    pong(e, e.onTraffic(PEER, 0), THEIRS[0]!, rtt);
    let reprobes = 0;
    for (let t = 100; t <= 61_000; t += 100) {
      e.onTraffic(PEER, t);
      e.onReceive(PEER, direct(THEIRS[0]!), t);
      const acts = e.tick(t);
      const ps = discos(acts, 'ping');
      if (ps.some((p) => p.via.kind === 'direct' && p.via.endpoint.address === THEIRS[1]!.address)) reprobes++;
      for (const p of ps) pong(e, [p], THEIRS[0]!, t + rtt);
    }
    assert.equal(reprobes, expectReprobe ? 1 : 0, `rtt ${rtt}`);
  }
});

test('re-STUN every 20-26 s while active, never while idle; a link change forgets the path and re-STUNs', () => {
  const e = engine();
  pong(e, e.onTraffic(PEER, 0), THEIRS[0]!, 20);
  const stuns: number[] = [];
  for (let t = 100; t <= 100_000; t += 100) {
    if (t < 60_000) e.onTraffic(PEER, t);
    const acts = e.tick(t);
    for (const x of acts) if (x.t === 're-stun') stuns.push(t);
    // The loop runs STUN and reports the (unchanged) result.
    if (acts.some((x) => x.t === 're-stun')) e.setSelf({ endpoints: [OURS], mappingVariesByDest: false, udp: true }, t);
    for (const p of discos(acts, 'ping')) pong(e, [p], THEIRS[0]!, t);
  }
  const gaps = stuns.slice(1).map((s, i) => s - stuns[i]!);
  assert.ok(stuns.length >= 2 && gaps.every((g) => g >= 20_000 && g <= 26_100), JSON.stringify(stuns));
  assert.ok(stuns.at(-1)! < 60_000 + 45_000 && stuns.at(-1)! > 60_000 - 26_100, 'stops once idle');
  e.onTraffic(PEER, 100_000);
  const lc = e.onLinkChange(100_100);
  assert.ok(lc.some((x) => x.t === 're-stun'));
  assert.equal(discos(lc, 'ping').length, 2, 'active peers re-probed at once');
  assert.deepEqual(e.route(PEER, 100_100), [{ kind: 'tcp-relay', region: 'r1' }], 'best path forgotten');
});

test('send error: the path is dropped at once and another answering candidate takes over in the same call', () => {
  const v6: Endpoint = { address: '2001:db8::7', port: 41641 };
  const e = engine({ peerEndpoints: [v6, THEIRS[0]!] });
  const a = e.onTraffic(PEER, 0);
  pong(e, a, THEIRS[0]!, 20);
  pong(e, a, v6, 21);
  assert.deepEqual(e.route(PEER, 30), [direct(v6)], 'IPv6 preferred (within 10%)');
  const out = e.onSendError(PEER, direct(v6), 40);
  assert.deepEqual(e.route(PEER, 40), [direct(THEIRS[0]!), { kind: 'tcp-relay', region: 'r1' }], 'IPv4 at once, with a relay copy until its pong');
  assert.equal(discos(out, 'ping').length, 1, 'IPv4 re-confirmed right away; IPv6 held back');
  pong(e, out, THEIRS[0]!, 60);
  assert.deepEqual(e.route(PEER, 60), [direct(THEIRS[0]!)]);
});

function runBirthdayEasySide() {
  const e = engine({ peerEndpoints: [{ address: '203.0.113.9', port: 20000 }] });
  e.onTraffic(PEER, 0);
  const cmm = e.onDisco(PEER_DISCO, { type: 'call-me-maybe', endpoints: [{ address: '203.0.113.9', port: 20001 }], hardNat: true }, { kind: 'tcp-relay', region: 'r1' }, 100);
  return { e, cmm };
}

test('birthday, easy side: decided 300 ms after the hard side\'s call-me-maybe, paced at 200/s, at most 1,024 probes, stops at 10 s', () => {
  const { e, cmm } = runBirthdayEasySide();
  assert.equal(discos(cmm, 'birthday').length, 0, 'plain punching gets its chance first');
  const probes: number[] = [];
  let bday: Disco | undefined;
  for (let t = 101; t <= 12_000; t++) {
    if (t % 100 === 0) e.onTraffic(PEER, t);
    const acts = e.tick(t);
    bday ??= discos(acts, 'birthday')[0];
    for (const p of discos(acts, 'ping')) if (p.via.kind === 'direct' && p.via.endpoint.port !== 20000 && p.via.endpoint.port !== 20001) probes.push(t);
  }
  assert.ok(bday, 'birthday message sent');
  assert.equal(e.status(PEER, 12_000)!.events.find((x) => /easy side/.test(x.text))?.atMs, 400, 'decided 300 ms after call-me-maybe');
  assert.deepEqual(bday.via, { kind: 'tcp-relay', region: 'r1' });
  assert.deepEqual({ ...bday.message }, { type: 'birthday', attempt: 1, hardAddress: '203.0.113.9', easy: OURS, sockets: 256, probes: 1024, ratePerSec: 200, deadlineMs: 10_000 });
  assert.equal(probes.length, 1024);
  for (let i = 200; i < probes.length; i++) assert.ok(probes[i]! - probes[i - 200]! >= 995, `probe ${i}: more than 200 in a second`);
  assert.ok(probes.at(-1)! < 1100 + 10_000);
  const st = e.status(PEER, 12_000)!;
  assert.equal(st.reason?.code, 'birthday-failed');
  assert.deepEqual({ attempts: st.birthday!.attempts, probes: st.birthday!.last!.probes, ok: st.birthday!.last!.ok }, { attempts: 1, probes: 1024, ok: false });
  // Within 5 min: the next call-me-maybe does not start another attempt.
  e.onDisco(PEER_DISCO, { type: 'call-me-maybe', endpoints: [], hardNat: true }, { kind: 'tcp-relay', region: 'r1' }, 60_000);
  assert.equal(discos(e.tick(61_500), 'birthday').length, 0);
  assert.equal(e.status(PEER, 61_500)!.reason?.code, 'birthday-backoff');
  e.onTraffic(PEER, 301_200);
  e.onDisco(PEER_DISCO, { type: 'call-me-maybe', endpoints: [], hardNat: true }, { kind: 'tcp-relay', region: 'r1' }, 301_200);
  assert.equal(discos(e.tick(302_300), 'birthday').length, 1, 'after 5 min a new attempt');
});

test('birthday, easy side: probing starts when the hard side says its sockets have pinged ("ready"), 2 s after the request without it', () => {
  const firstProbe = (ready: boolean): number | undefined => {
    const { e } = runBirthdayEasySide();
    let sentAt: number | undefined;
    for (let t = 101; t <= 4_000; t++) {
      const acts = e.tick(t);
      const b = discos(acts, 'birthday')[0];
      if (b && b.message.type === 'birthday') {
        sentAt = t;
        if (ready) e.onDisco(PEER_DISCO, { ...b.message, sockets: 256, probes: 0, ratePerSec: 0, deadlineMs: 9_950 }, { kind: 'tcp-relay', region: 'r1' }, t + 50);
      }
      const probe = discos(acts, 'ping').find((p) => p.via.kind === 'direct' && p.via.endpoint.port !== 20000 && p.via.endpoint.port !== 20001);
      if (probe) return t - sentAt!;
    }
    return undefined;
  };
  assert.equal(firstProbe(true), 51, 'at the engine\'s next wake after the ready (one relay crossing after the request)');
  assert.equal(firstProbe(false), 2_000, 'a hard side that never answers ready (an older peer) still gets probed');
});

test('birthday, easy side: the hard side\'s ping arriving first (answered by our ping-back) ends the attempt as won', () => {
  const { e } = runBirthdayEasySide();
  for (let t = 101; t <= 700; t++) e.tick(t);
  assert.ok(e.status(PEER, 700)!.events.some((x) => /easy side/.test(x.text)), 'attempt started');
  // One of the hard side's extra sockets got through before any of our probes hit its port.
  const from = { address: '203.0.113.9', port: 40_123 };
  const acts = e.onDisco(PEER_DISCO, { type: 'ping', txId: new Uint8Array(12).fill(7), nodeKey: PEER }, direct(from), 710);
  const pingBack = discos(acts, 'ping').find((p) => p.via.kind === 'direct' && p.via.endpoint.port === from.port);
  assert.ok(pingBack, 'pinged back to the source');
  e.onDisco(PEER_DISCO, { type: 'pong', txId: (pingBack.message as { txId: Uint8Array }).txId, src: OURS }, direct(from), 720);
  let later = 0;
  for (let t = 721; t <= 12_000; t += 5) later += discos(e.tick(t), 'ping').filter((p) => p.via.kind === 'direct' && p.via.endpoint.port !== from.port && p.via.endpoint.port !== 20000 && p.via.endpoint.port !== 20001).length;
  const st = e.status(PEER, 12_000)!;
  assert.equal(st.birthday!.last!.ok, true, 'reported as won');
  assert.equal(later, 0, 'no probes after the win (each costs a NAT session entry)');
  assert.equal(st.path?.kind, 'direct');
});

test('birthday, easy side: not started when the hard side\'s plain pings already reach us (its sockets stay free for peers that need them)', () => {
  const { e } = runBirthdayEasySide();
  // The hard side answered our call-me-maybe by pinging us from its mesh socket, and that ping got in.
  e.onDisco(PEER_DISCO, { type: 'ping', txId: new Uint8Array(12).fill(3), nodeKey: PEER }, direct({ address: '203.0.113.9', port: 40_777 }), 300);
  let birthdays = 0;
  for (let t = 301; t <= 2_000; t++) birthdays += discos(e.tick(t), 'birthday').length;
  assert.equal(birthdays, 0);
  assert.ok(e.status(PEER, 2_000)!.events.some((x) => /birthday not needed/.test(x.text)));
});

test('birthday, easy side: a busy answer from the hard side voids our attempt (no probes after it, no 5 min back-off) and we ask again when its sockets are free', () => {
  const { e } = runBirthdayEasySide();
  let bday: Disco | undefined;
  for (let t = 101; t <= 700 && !bday; t++) bday = discos(e.tick(t), 'birthday')[0];
  assert.ok(bday);
  const m = bday.message as Extract<DiscoMessage, { type: 'birthday' }>;
  e.onDisco(PEER_DISCO, { ...m, sockets: 0, probes: 0, ratePerSec: 0, deadlineMs: 4_000 }, { kind: 'tcp-relay', region: 'r1' }, 720);
  let probesWhileBusy = 0;
  let again: Disco | undefined;
  for (let t = 721; t <= 6_000 && !again; t++) {
    if (t % 100 === 0) e.onTraffic(PEER, t);
    const acts = e.tick(t);
    again = discos(acts, 'birthday')[0];
    if (!again) probesWhileBusy += discos(acts, 'ping').filter((p) => p.via.kind === 'direct' && p.via.endpoint.port !== 20000 && p.via.endpoint.port !== 20001).length;
  }
  assert.equal(probesWhileBusy, 0);
  assert.ok(again, 'asked again within ~4.5 s, not after 5 min');
  // Busy again, then "free now" (0 ms) before the announced time: asked again at once.
  const m2 = again.message as Extract<DiscoMessage, { type: 'birthday' }>;
  const at = 6_100;
  e.onDisco(PEER_DISCO, { ...m2, sockets: 0, probes: 0, ratePerSec: 0, deadlineMs: 9_000 }, { kind: 'tcp-relay', region: 'r1' }, at);
  e.onDisco(PEER_DISCO, { ...m2, sockets: 0, probes: 0, ratePerSec: 0, deadlineMs: 0 }, { kind: 'tcp-relay', region: 'r1' }, at + 1_000);
  let third: Disco | undefined;
  for (let t = at + 1_001; t <= at + 1_100 && !third; t++) third = discos(e.tick(t), 'birthday')[0];
  assert.ok(third, 'asked again right after "free"');
  assert.equal((again.message as { attempt: number }).attempt, 2);
});

test('birthday is never tried when both sides are hard, nor by the hard side on its own', () => {
  const e = engine({ selfHard: true });
  e.onTraffic(PEER, 0);
  e.onDisco(PEER_DISCO, { type: 'call-me-maybe', endpoints: [{ address: '203.0.113.9', port: 20001 }], hardNat: true }, { kind: 'tcp-relay', region: 'r1' }, 100);
  const all: PathAction[] = [];
  for (let t = 200; t < 20_000; t += 100) all.push(...e.tick(t));
  assert.equal(discos(all, 'birthday').length + all.filter((x) => x.t === 'open-sockets').length, 0);
  const r = e.status(PEER, 20_000)!.reason!;
  assert.equal(r.code, 'both-hard');
  assert.match(r.text, /both NATs map per destination/);
  const h = engine({ selfHard: true });
  h.onTraffic(PEER, 0);
  h.onDisco(PEER_DISCO, { type: 'call-me-maybe', endpoints: [OURS], hardNat: false }, { kind: 'tcp-relay', region: 'r1' }, 100);
  const hall: PathAction[] = [];
  for (let t = 200; t < 5_000; t += 100) hall.push(...h.tick(t));
  assert.equal(discos(hall, 'birthday').length, 0, 'only the easy side decides');
});

test('birthday, hard side: clamps the request to 256 sockets, pings from each, keeps the winner while it carries the peer, closes the rest', () => {
  const easy: Endpoint = { address: '198.51.100.77', port: 41641 };
  const e = engine({ selfHard: true, peerEndpoints: [easy] });
  const req: DiscoMessage = { type: 'birthday', attempt: 3, hardAddress: '203.0.113.1', easy, sockets: 5000, probes: 60000, ratePerSec: 60000, deadlineMs: 600_000 };
  const open = e.onDisco(PEER_DISCO, req, { kind: 'tcp-relay', region: 'r1' }, 1000);
  assert.deepEqual(open, [{ t: 'open-sockets', peer: PEER, count: 256 }]);
  const ids = Array.from({ length: 256 }, (_, i) => i + 1);
  const opened = e.onSocketsOpened(PEER, ids, 1001);
  const pings = discos(opened, 'ping');
  assert.deepEqual(discos(opened, 'birthday').map((d) => [d.peer, d.via.kind, d.message.type === 'birthday' && [d.message.sockets, d.message.probes]]), [[PEER, 'tcp-relay', [256, 0]]], 'ready after the pings');
  assert.deepEqual(pings.map((p) => (p.via.kind === 'direct' ? p.via.socket : -1)), ids);
  assert.ok(pings.every((p) => p.via.kind === 'direct' && p.via.endpoint.address === easy.address));
  // The easy side's probe reaches socket 77; the ping back on 77 is answered.
  const back = e.onDisco(PEER_DISCO, { type: 'ping', txId: new Uint8Array(12).fill(1), nodeKey: PEER }, direct(easy, 77), 2000);
  const out = pong(e, back, easy, 2020);
  assert.deepEqual(e.route(PEER, 2020), [direct(easy, 77)]);
  const closed = out.filter((x) => x.t === 'close-sockets');
  assert.equal(closed.length, 1);
  assert.deepEqual(closed[0]!.t === 'close-sockets' && closed[0]!.ids.length, 255);
  assert.equal(e.status(PEER, 2020)!.birthday!.last!.winner, '198.51.100.77:41641 on socket 77');
  // Idle: once the path over socket 77 is forgotten (45 s without a ping or pong), socket 77 is closed.
  const later: PathAction[] = [];
  for (let w = e.nextWakeMs(); w !== undefined && w < 200_000; w = e.nextWakeMs()) later.push(...e.tick(w));
  assert.deepEqual(later.filter((x) => x.t === 'close-sockets'), [{ t: 'close-sockets', ids: [77] }]);
  assert.deepEqual(e.route(PEER, 200_000), [{ kind: 'tcp-relay', region: 'r1' }]);
  // A second request within 5 min is refused; an endpoint the peer never advertised is refused.
  assert.deepEqual(e.onDisco(PEER_DISCO, { ...req, attempt: 4 }, { kind: 'tcp-relay', region: 'r1' }, 60_000), []);
  const e2 = engine({ selfHard: true, peerEndpoints: [easy] });
  assert.deepEqual(e2.onDisco(PEER_DISCO, { ...req, easy: { address: '192.0.2.200', port: 53 } }, { kind: 'tcp-relay', region: 'r1' }, 1000), []);
});

test('birthday, hard side: concurrent attempts share the node\'s extra sockets (256 in all); a win for one keeps them open for the other', () => {
  const easy: Endpoint = { address: '198.51.100.77', port: 41641 };
  const easy2: Endpoint = { address: '198.51.100.78', port: 41641 };
  const PEER2 = 'dd'.repeat(32);
  const PEER2_DISCO = 'ee'.repeat(32);
  const e = new DiscoEngine({ nodeKey: SELF }, { randomBytes: seededBytes(7) });
  e.setSelf({ endpoints: [OURS], mappingVariesByDest: true, udp: true }, 0);
  e.setPeers([
    { nodeKey: PEER, discoKey: PEER_DISCO, endpoints: [easy], homeRelay: 'r1' },
    { nodeKey: PEER2, discoKey: PEER2_DISCO, endpoints: [easy2], homeRelay: 'r1' },
  ], 0);
  const req: DiscoMessage = { type: 'birthday', attempt: 1, hardAddress: '203.0.113.1', easy, sockets: 256, probes: 1024, ratePerSec: 200, deadlineMs: 10_000 };
  assert.deepEqual(e.onDisco(PEER_DISCO, req, { kind: 'tcp-relay', region: 'r1' }, 1000), [{ t: 'open-sockets', peer: PEER, count: 256 }]);
  // The second request while the sockets are being opened: no new opening, no "busy"; it waits for them.
  assert.deepEqual(e.onDisco(PEER2_DISCO, { ...req, easy: easy2 }, { kind: 'tcp-relay', region: 'r1' }, 1000.4), []);
  const ids = Array.from({ length: 256 }, (_, i) => i + 1);
  const opened = e.onSocketsOpened(PEER, ids, 1001);
  const pings = discos(opened, 'ping');
  // After the pings, each easy peer hears "ready" (probing may start: the mappings exist).
  assert.deepEqual(discos(opened, 'birthday').map((d) => [d.peer, d.via.kind, d.message.type === 'birthday' && [d.message.sockets, d.message.probes]]), [[PEER, 'tcp-relay', [256, 0]], [PEER2, 'tcp-relay', [256, 0]]]);
  assert.ok(opened.findIndex((x) => x.t === 'disco' && x.message.type === 'birthday') > opened.findLastIndex((x) => x.t === 'disco' && x.message.type === 'ping'), 'ready after the pings');
  for (const [peer, to] of [[PEER, easy], [PEER2, easy2]] as const) {
    const mine = pings.filter((p) => p.peer === peer);
    assert.deepEqual(mine.map((p) => (p.via.kind === 'direct' ? p.via.socket : -1)), ids, 'one ping from each socket');
    assert.ok(mine.every((p) => p.via.kind === 'direct' && p.via.endpoint.port === to.port && p.via.endpoint.address === to.address));
  }
  assert.deepEqual(e.status(PEER2, 1001)!.birthday!.running, { id: 1, role: 'hard', sockets: 256, probes: 256, concurrent: 2 });
  // PEER wins on socket 77: nothing is closed (PEER2's attempt still pings from the same sockets).
  const back = e.onDisco(PEER_DISCO, { type: 'ping', txId: new Uint8Array(12).fill(1), nodeKey: PEER }, direct(easy, 77), 2000);
  const won = pong(e, back, easy, 2020);
  assert.deepEqual(won.filter((x) => x.t === 'close-sockets'), []);
  assert.deepEqual(e.route(PEER, 2020), [direct(easy, 77)]);
  assert.equal(e.status(PEER2, 2020)!.birthday!.running?.role, 'hard');
  assert.deepEqual(e.status(PEER2, 2020)!.birthday!.node, { open: 256, pool: 256, held: 0, running: 1, peakOpen: 256, peakShared: 2 });
  // PEER2 wins on socket 78 (a probe answered there): then every socket but the two winners is closed.
  const back2 = e.onDisco(PEER2_DISCO, { type: 'ping', txId: new Uint8Array(12).fill(2), nodeKey: PEER2 }, direct(easy2, 78), 3000);
  const won2 = discos(back2, 'ping').flatMap((p) => (p.message.type === 'ping' ? e.onDisco(PEER2_DISCO, { type: 'pong', txId: p.message.txId, src: OURS }, p.via, 3020) : []));
  const closed = won2.flatMap((x) => (x.t === 'close-sockets' ? x.ids : []));
  assert.deepEqual(closed.sort((a, b) => a - b), ids.filter((id) => id !== 77 && id !== 78));
  assert.deepEqual(e.route(PEER2, 3020), [direct(easy2, 78)]);
  assert.deepEqual([e.status(PEER, 3020)!.birthday!.last!.concurrent, e.status(PEER2, 3020)!.birthday!.last!.ok], [2, true]);
  assert.deepEqual(e.status(PEER2, 3020)!.birthday!.node, { open: 2, pool: 0, held: 2, running: 0, peakOpen: 256, peakShared: 2 });
});

test('birthday, hard side: a late probe on a socket another attempt keeps open makes a path; the socket lives while it carries the peer', () => {
  const easy: Endpoint = { address: '198.51.100.77', port: 41641 };
  const easy2: Endpoint = { address: '198.51.100.78', port: 41641 };
  const PEER2 = 'dd'.repeat(32);
  const PEER2_DISCO = 'ee'.repeat(32);
  const e = new DiscoEngine({ nodeKey: SELF }, { randomBytes: seededBytes(9) });
  e.setSelf({ endpoints: [OURS], mappingVariesByDest: true, udp: true }, 0);
  e.setPeers([
    { nodeKey: PEER, discoKey: PEER_DISCO, endpoints: [easy], homeRelay: 'r1' },
    { nodeKey: PEER2, discoKey: PEER2_DISCO, endpoints: [easy2], homeRelay: 'r1' },
  ], 0);
  const req: DiscoMessage = { type: 'birthday', attempt: 1, hardAddress: '203.0.113.1', easy, sockets: 4, probes: 1024, ratePerSec: 200, deadlineMs: 10_000 };
  e.onDisco(PEER_DISCO, req, { kind: 'tcp-relay', region: 'r1' }, 1000);
  e.onSocketsOpened(PEER, [1, 2, 3, 4], 1001);
  e.onDisco(PEER2_DISCO, { ...req, easy: easy2 }, { kind: 'tcp-relay', region: 'r1' }, 5000);
  const acts: PathAction[] = [];
  for (let t = 5001; t <= 12_000; t += 500) acts.push(...e.tick(t));
  assert.equal(e.status(PEER, 12_000)!.birthday!.last!.ok, false, 'PEER\'s attempt ended without a pong');
  assert.deepEqual(acts.filter((x) => x.t === 'close-sockets'), [], 'PEER2\'s attempt still uses the sockets');
  // PEER's late probe reaches socket 2; our ping-back is answered: a direct path over socket 2.
  const back = e.onDisco(PEER_DISCO, { type: 'ping', txId: new Uint8Array(12).fill(3), nodeKey: PEER }, direct(easy, 2), 12_100);
  pong(e, back, easy, 12_120);
  assert.deepEqual(e.route(PEER, 12_120), [direct(easy, 2)]);
  // PEER2's attempt ends: every shared socket closes but the one carrying PEER.
  const end: PathAction[] = [];
  for (let t = 12_500; t <= 16_000; t += 500) end.push(...e.tick(t));
  assert.deepEqual(end.flatMap((x) => (x.t === 'close-sockets' ? x.ids : [])).sort(), [1, 3, 4]);
  // Once that path is forgotten (45 s without a ping or pong), socket 2 is closed too (no leak).
  const later: PathAction[] = [];
  for (let w = e.nextWakeMs(); w !== undefined && w < 200_000; w = e.nextWakeMs()) later.push(...e.tick(w));
  assert.deepEqual(later.filter((x) => x.t === 'close-sockets'), [{ t: 'close-sockets', ids: [2] }]);
  assert.equal(e.status(PEER, 200_000)!.birthday!.node!.open, 0);
});

test('birthday, hard side: no pong by the deadline closes every extra socket; late sockets are closed at once', () => {
  const easy: Endpoint = { address: '198.51.100.77', port: 41641 };
  const e = engine({ selfHard: true, peerEndpoints: [easy] });
  e.onDisco(PEER_DISCO, { type: 'birthday', attempt: 1, hardAddress: '203.0.113.1', easy, sockets: 4, probes: 10, ratePerSec: 10, deadlineMs: 10_000 }, { kind: 'tcp-relay', region: 'r1' }, 0);
  e.onSocketsOpened(PEER, [1, 2, 3, 4], 5);
  assert.equal(e.nextWakeMs(), 5005, 'ping timeouts');
  e.tick(5005);
  assert.deepEqual(e.tick(10_000).filter((x) => x.t === 'close-sockets'), [{ t: 'close-sockets', ids: [1, 2, 3, 4] }]);
  assert.deepEqual(e.onSocketsOpened(PEER, [9], 10_001), [{ t: 'close-sockets', ids: [9] }]);
  assert.equal(e.status(PEER, 10_001)!.birthday!.last!.ok, false);
});

test('a removed peer\'s extra sockets are closed; status events and peer-reflexive candidates stay bounded', () => {
  const easy: Endpoint = { address: '198.51.100.77', port: 41641 };
  const e = engine({ selfHard: true, peerEndpoints: [easy] });
  e.onDisco(PEER_DISCO, { type: 'birthday', attempt: 1, hardAddress: '203.0.113.1', easy, sockets: 2, probes: 10, ratePerSec: 10, deadlineMs: 10_000 }, { kind: 'tcp-relay', region: 'r1' }, 0);
  e.onSocketsOpened(PEER, [1, 2], 5);
  for (let i = 0; i < 100; i++) e.onDisco(PEER_DISCO, { type: 'ping', txId: new Uint8Array(12), nodeKey: PEER }, direct({ address: '192.0.2.1', port: 1000 + i }), 10 + i);
  assert.equal(e.status(PEER, 200)!.candidates.filter((c) => c.source === 'peer-reflexive').length, 64, 'peer-reflexive candidates bounded');
  assert.equal(e.peerForSource({ address: '192.0.2.1', port: 1099 }, 0), PEER, 'the newest kept');
  assert.equal(e.peerForSource({ address: '192.0.2.1', port: 1000 }, 0), undefined, 'the oldest forgotten');
  assert.deepEqual(e.setPeers([], 300), [{ t: 'close-sockets', ids: [1, 2] }]);
  assert.equal(e.status(PEER, 300), undefined);
  assert.deepEqual(e.route(PEER, 300), []);
  // Events: new addresses a second or more apart are an event each, and the list keeps the last 32.
  const f = engine();
  for (let i = 0; i < 40; i++) f.onDisco(PEER_DISCO, { type: 'ping', txId: new Uint8Array(12), nodeKey: PEER }, direct({ address: '192.0.2.1', port: 1000 + i }), i * 1_100);
  const events = f.status(PEER, 44_000)!.events;
  assert.equal(events.length, 32);
  assert.equal(events.at(-1)!.text, 'ping from new address 192.0.2.1:1039');
});

test('reasons: udp-blocked, no-candidates, starting, then no-answer', () => {
  const e = engine({ peerEndpoints: [] });
  assert.equal(e.status(PEER, 0)!.reason?.code, 'no-candidates');
  const f = engine();
  f.onTraffic(PEER, 0);
  assert.equal(f.status(PEER, 100)!.reason?.code, 'starting');
  assert.equal(f.status(PEER, 6000)!.reason?.code, 'no-answer');
  f.setSelf({ endpoints: [], mappingVariesByDest: undefined, udp: false }, 6000);
  const r = f.status(PEER, 6000)!.reason!;
  assert.equal(r.code, 'udp-blocked');
  assert.match(r.text, /UDP does not leave this network/);
});

