// The executor on the memory twin, with a FakeClock: the hard side's extra sockets sit on random ports
// (standing in for its NAT's random per-destination mappings) and the easy side filters like a
// port-restricted NAT (a tap admits only sources it has sent to), or not at all (full cone).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../clock/clock.ts';
import { ConegateError } from '../errors.ts';
import { MemoryNetwork } from '../wg/memory-bind.ts';
import { generatePrivateKey, keyToHex, publicKey } from '../wg/keys.ts';
import { ipv4Packet, seededRandom } from '../wg/testbed.ts';
import { formatEndpoint, type Endpoint } from '../wg/ports.ts';
import { plainWire } from '../../../test/lab/birthday-wire.ts';
import { wgOverSocket } from '../../../test/lab/birthday-wg.ts';
import { BirthdayAttempt, type BirthdayReport } from './birthday-exec.ts';
import type { BirthdayParams } from './birthday-plan.ts';
import { MemorySocketSet } from './birthday-sockets.ts';
import { MESH_SOCKET, type SocketId, type SocketSet } from './types.ts';

const H = '203.0.113.7';
const E: Endpoint = { address: '198.51.100.5', port: 41641 };

function world(seed: string, easyFiltering: 'port-restricted' | 'full-cone') {
  const clock = new FakeClock(0);
  const net = new MemoryNetwork();
  const hard = new MemorySocketSet(net, { address: H, port: 41641 }, seededRandom(`${seed}:h`));
  const easy = new MemorySocketSet(net, E, seededRandom(`${seed}:e`));
  const easySentTo = new Set<string>();
  /** Datagrams on the wire from each side (the budget is counted here, not trusted from reports). */
  const wire = { fromHard: 0, fromEasy: 0 };
  net.tap = (_p, from, to) => {
    if (from.address === E.address) {
      wire.fromEasy++;
      easySentTo.add(formatEndpoint(to));
      return 'pass';
    }
    wire.fromHard++;
    if (easyFiltering === 'port-restricted' && to.address === E.address && !easySentTo.has(formatEndpoint(from))) return 'drop';
    return 'pass';
  };
  const base = { attempt: 7, hardAddress: H, easy: E, sockets: 256, probes: 1024, ratePerSec: 200, deadlineMs: 10_000 };
  const mk = (set: SocketSet, p: BirthdayParams, s: string) => {
    const a = new BirthdayAttempt(p, { sockets: set, clock, randomBytes: seededRandom(s), wire: plainWire(p.attempt) });
    set.onReceive((pkt, from, socket) => a.handle(pkt, from, socket));
    return a;
  };
  return {
    clock, net, hard, easy, wire,
    hardAttempt: (p: Partial<BirthdayParams> = {}) => mk(hard, { ...base, role: 'hard', selfHard: true, peerHard: false, ...p }, `${seed}:ha`),
    easyAttempt: (p: Partial<BirthdayParams> = {}) => mk(easy, { ...base, role: 'easy', selfHard: false, peerHard: true, ...p }, `${seed}:ea`),
  };
}

/** Runs the fake clock in 5 ms steps, letting the network drain, until every attempt resolved (bounded by maxMs). */
async function drive(clock: FakeClock, net: MemoryNetwork, runs: Promise<BirthdayReport>[], maxMs = 11_000): Promise<BirthdayReport[]> {
  let out: BirthdayReport[] | undefined;
  void Promise.all(runs).then((r) => (out = r));
  for (let t = 0; !out && t <= maxMs; t += 5) {
    await net.idle();
    await new Promise((r) => setImmediate(r));
    if (out) break;
    clock.advance(5);
  }
  await net.idle();
  assert.ok(out, 'attempts did not end within the deadline');
  return out;
}

test('hard vs port-restricted: 256 sockets x 1,024 probes finds a common port; both sides get a pong on the same pair', async () => {
  const w = world('pr', 'port-restricted');
  const ha = w.hardAttempt();
  const ea = w.easyAttempt();
  const [h, e] = await drive(w.clock, w.net, [ha.start(), ea.start()]);
  assert.ok(h!.ok && e!.ok, JSON.stringify({ h, e }));
  assert.equal(h!.sockets, 256);
  // The pair: the hard side's winning socket <-> the easy endpoint, seen from both ends.
  assert.deepEqual(h!.winner!.remote, E);
  assert.equal(e!.winner!.socket, MESH_SOCKET);
  assert.deepEqual(e!.winner!.remote, { address: H, port: h!.winner!.localPort });
  // The easy side stopped probing at its first pong: far fewer than 1,024 probes, all within 200/s.
  assert.ok(e!.probes < 1024 && e!.firstPongMs! >= (e!.probes - 2) * 5, JSON.stringify(e));
  // Losers closed at once; the winner stays for the tunnel until release().
  assert.equal(w.hard.extraCount(), 1);
  ha.release();
  ea.release();
  assert.equal(w.hard.extraCount(), 0);
  assert.equal(w.clock.pendingTimers(), 0);
});

test('full cone on the easy side: the hard side\'s first pings get through, no search needed', async () => {
  const w = world('fc', 'full-cone');
  const [h, e] = await drive(w.clock, w.net, [w.hardAttempt().start(), w.easyAttempt().start()]);
  assert.ok(h!.ok && e!.ok);
  assert.ok(h!.firstPongMs! <= 5 && e!.firstPongMs! <= 5, JSON.stringify({ h: h!.firstPongMs, e: e!.firstPongMs }));
  assert.equal(w.hard.extraCount(), 1);
});

test('too few sockets and probes: the attempt ends at the deadline with nothing open and the budget kept on the wire', async () => {
  const w = world('small', 'port-restricted');
  const [h, e] = await drive(w.clock, w.net, [w.hardAttempt({ sockets: 2, deadlineMs: 2000 }).start(), w.easyAttempt({ probes: 4, deadlineMs: 2000 }).start()]);
  assert.equal(h!.ok, false);
  assert.equal(h!.failure, 'deadline');
  assert.equal(e!.failure, 'deadline');
  assert.equal(h!.elapsedMs, 2000);
  assert.equal(w.hard.extraCount(), 0);
  // Budget on the wire: the easy side sent its 4 probes; the hard side 2 sockets x 2 rounds.
  assert.equal(w.wire.fromEasy, 4);
  assert.equal(w.wire.fromHard, 4);
  assert.equal(w.clock.pendingTimers(), 0);
});

test('the full budget on the wire: at most 1,024 probes at 200/s from the easy side, at most 2 x 256 pings from the hard side', async () => {
  const w = world('budget', 'port-restricted');
  // No hard side listening: the easy side sprays its whole budget into nothing.
  const e = (await drive(w.clock, w.net, [w.easyAttempt().start()]))[0]!;
  assert.equal(e.ok, false);
  assert.equal(e.probes, 1024);
  assert.equal(w.wire.fromEasy, 1024);
  const w2 = world('budget2', 'port-restricted');
  const h = (await drive(w2.clock, w2.net, [w2.hardAttempt({ sockets: 256 }).start()]))[0]!;
  assert.equal(h.sockets, 256);
  assert.equal(w2.wire.fromHard, 512);
});

test('both sides hard: refused before any socket opens or any packet leaves', async () => {
  const w = world('bh', 'port-restricted');
  await assert.rejects(w.hardAttempt({ peerHard: true }).start(), (e: unknown) => e instanceof ConegateError && e.code === 'CG_BIRTHDAY_REFUSED');
  await assert.rejects(w.hardAttempt({ sockets: 257 }).start(), (e: unknown) => e instanceof ConegateError && e.code === 'CG_INPUT_INVALID');
  assert.equal(w.hard.extraCount(), 0);
  assert.equal(w.hard.counters.sent, 0);
});

test('a pong that answers no ping of ours, or comes from another source, is not a winner', async () => {
  const w = world('forge', 'full-cone');
  const ha = w.hardAttempt({ deadlineMs: 1000 });
  const run = ha.start();
  await w.net.idle();
  await new Promise((r) => setImmediate(r));
  const wire = plainWire(7);
  // A forged pong (unknown txId) to every extra socket, from the easy endpoint.
  const forger = w.net.bind({ address: E.address, port: 999 });
  w.easy.close();
  for (let port = 1025; port <= 65535; port += 1) if (!w.net.isFree({ address: H, port }) && port !== 41641) forger.send(wire.pong(new Uint8Array(12), E), { address: H, port });
  const [h] = await drive(w.clock, w.net, [run]);
  assert.equal(h!.ok, false);
  assert.ok(h!.dropped >= 1, JSON.stringify(h));
});

test('after a win, WireGuard runs over the winning extra socket through the port-restricted filter', async () => {
  const w = world('wg', 'port-restricted');
  const ha = w.hardAttempt();
  const ea = w.easyAttempt();
  const [h, e] = await drive(w.clock, w.net, [ha.start(), ea.start()]);
  assert.ok(h!.ok && e!.ok);
  const k = h!.winner!.socket;
  const keys = { h: generatePrivateKey(seededRandom('kh')), e: generatePrivateKey(seededRandom('ke')) };
  const common = { clock: w.clock, wallClockMs: () => 1_800_000_000_000 + w.clock.nowMs() };
  const wgH = wgOverSocket({ ...common, set: w.hard, socket: k, privateKeyHex: keyToHex(keys.h), peerPublicKeyHex: keyToHex(publicKey(keys.e)), peer: E, peerTun: '10.9.0.2', randomBytes: seededRandom('dh') });
  const wgE = wgOverSocket({ ...common, set: w.easy, socket: MESH_SOCKET, privateKeyHex: keyToHex(keys.e), peerPublicKeyHex: keyToHex(publicKey(keys.h)), peer: e!.winner!.remote, peerTun: '10.9.0.1', randomBytes: seededRandom('de') });
  // The set's owner routes: the attempt's own messages first, then WireGuard on the tunnel's socket.
  const route = (a: BirthdayAttempt, wg: typeof wgH) => (p: Uint8Array, f: Endpoint, s: SocketId) => {
    if (!a.handle(p, f, s) && s === wg.bind.socket) wg.bind.deliver(p, f);
  };
  w.hard.onReceive(route(ha, wgH));
  w.easy.onReceive(route(ea, wgE));
  try {
    wgH.tun.inject(ipv4Packet('10.9.0.1', '10.9.0.2', 64));
    for (let i = 0; i < 20 && wgE.tun.written.length === 0; i++) {
      await w.net.idle();
      w.clock.advance(10);
    }
    assert.equal(wgE.tun.written.length, 1, 'the packet crossed the tunnel');
    wgE.tun.inject(ipv4Packet('10.9.0.2', '10.9.0.1', 64));
    await w.net.idle();
    assert.equal(wgH.tun.written.length, 1, 'and the answer came back');
    // Only the winner carried it: the hard side has one extra socket, and the easy side's device
    // still sends to the winner's mapping (no roaming to another port).
    assert.equal(w.hard.extraCount(), 1);
    assert.deepEqual(wgE.dev.peers()[0]!.endpoint, e!.winner!.remote);
    assert.deepEqual(wgE.dev.peers()[0]!.endpoint, { address: H, port: w.hard.localPort(k) });
  } finally {
    wgH.stop();
    wgE.stop();
    ha.release();
    ea.release();
  }
});
