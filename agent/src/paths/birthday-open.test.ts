// The opener between the discovery engine (agent/src/disco/engine.ts, the hard side of an attempt) and
// the socket set's memory twin: the engine's open-sockets becomes real extra sockets, each pings the easy
// endpoint, a pong on one makes it the path and closes the others; late sockets are closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../clock/clock.ts';
import { DiscoEngine } from '../disco/engine.ts';
import type { DiscoMessage } from '../disco/types.ts';
import { MemoryNetwork } from '../wg/memory-bind.ts';
import { seededRandom } from '../wg/testbed.ts';
import type { Endpoint } from '../wg/ports.ts';
import { BirthdayOpener } from './birthday-open.ts';
import { MemorySocketSet } from './birthday-sockets.ts';
import type { PathAction, SocketId, SocketSet } from './types.ts';

const E_KEY = 'e'.repeat(64);
const E_DISCO = 'd'.repeat(64);
const H_KEY = 'a'.repeat(64);
const E: Endpoint = { address: '198.51.100.5', port: 41641 };
const H = '203.0.113.7';

function setup(sockets?: (net: MemoryNetwork) => SocketSet & { extraCount(): number }) {
  const clock = new FakeClock(1_000_000);
  const net = new MemoryNetwork();
  const set = sockets ? sockets(net) : new MemorySocketSet(net, { address: H, port: 41641 }, seededRandom('h'));
  const engine = new DiscoEngine({ nodeKey: H_KEY }, { randomBytes: seededRandom('engine') });
  engine.setPeers([{ nodeKey: E_KEY, discoKey: E_DISCO, endpoints: [E], homeRelay: 'r1' }], clock.nowMs());
  engine.setSelf({ endpoints: [{ address: H, port: 41641 }], mappingVariesByDest: true, udp: true }, clock.nowMs());
  const performed: PathAction[] = [];
  const run = (actions: PathAction[]) => {
    for (const a of actions) {
      performed.push(a);
      if (a.t === 'close-sockets') set.closeExtra(a.ids);
    }
  };
  const opener = new BirthdayOpener({ sockets: set, engine, clock, run });
  const birthday: DiscoMessage = { type: 'birthday', attempt: 1, hardAddress: H, easy: E, sockets: 256, probes: 1024, ratePerSec: 200, deadlineMs: 10_000 };
  const start = () => {
    const actions = engine.onDisco(E_DISCO, birthday, { kind: 'tcp-relay', region: 'r1' }, clock.nowMs());
    const open = actions.find((a) => a.t === 'open-sockets');
    assert.ok(open && open.t === 'open-sockets', JSON.stringify(actions));
    opener.open(open.peer, open.count);
    return open;
  };
  return { clock, net, set, engine, opener, performed, start };
}

const settle = () => new Promise((r) => setImmediate(r));

test('open-sockets from the engine: 256 sockets open, the engine pings the easy endpoint once from each', async () => {
  const w = setup();
  const open = w.start();
  assert.equal(open.count, 256);
  await settle();
  assert.equal(w.set.extraCount(), 256);
  const pings = w.performed.filter((a) => a.t === 'disco' && a.message.type === 'ping');
  assert.equal(pings.length, 256);
  const sockets = new Set<SocketId>();
  for (const p of pings) {
    assert.ok(p.t === 'disco' && p.via.kind === 'direct');
    assert.deepEqual(p.via.endpoint, E);
    sockets.add(p.via.socket);
  }
  assert.equal(sockets.size, 256);
  assert.ok(!sockets.has(0));
  assert.deepEqual({ ...w.opener.last.get(E_KEY), atMs: 0 }, { requested: 256, opened: 256, openMs: 0, atMs: 0 });

  // The easy side's probe found socket k: its pong makes k the path and the other 255 close.
  const k = [...sockets][100]!;
  const ping = pings.find((p) => p.t === 'disco' && p.via.kind === 'direct' && p.via.socket === k)!;
  assert.ok(ping.t === 'disco' && ping.message.type === 'ping');
  w.clock.advance(40);
  const after = w.engine.onDisco(E_DISCO, { type: 'pong', txId: ping.message.txId, src: { address: H, port: 30000 } }, { kind: 'direct', endpoint: E, socket: k }, w.clock.nowMs());
  const close = after.find((a) => a.t === 'close-sockets');
  assert.ok(close && close.t === 'close-sockets' && close.ids.length === 255 && !close.ids.includes(k));
  w.set.closeExtra(close.ids);
  assert.equal(w.set.extraCount(), 1);
  assert.deepEqual(w.engine.route(E_KEY, w.clock.nowMs())[0], { kind: 'direct', endpoint: E, socket: k });
  assert.equal(w.engine.status(E_KEY, w.clock.nowMs())?.birthday?.last?.ok, true);
});

test('sockets that open after the attempt ended are closed at once; after close() the engine is not asked', async () => {
  // A socket set whose openExtra resolves only when the test says so (a slow OS).
  let release: (() => void) | undefined;
  const w = setup((net) => {
    const inner = new MemorySocketSet(net, { address: H, port: 41641 }, seededRandom('slow'));
    return Object.assign(Object.create(inner) as MemorySocketSet, {
      openExtra: async (n: number) => {
        await new Promise<void>((r) => (release = r));
        return inner.openExtra(n);
      },
    });
  });
  w.start();
  // Past the 10 s deadline before any socket exists: the engine ends the attempt on its tick.
  w.clock.advance(10_001);
  w.engine.tick(w.clock.nowMs());
  release!();
  await settle();
  await settle();
  const close = w.performed.find((a) => a.t === 'close-sockets');
  assert.ok(close && close.t === 'close-sockets' && close.ids.length === 256);
  assert.equal(w.set.extraCount(), 0);
  assert.equal(w.performed.filter((a) => a.t === 'disco').length, 0);

  // A second request while one is in flight is ignored; after close() late sockets are closed, unreported.
  const w2 = setup((net) => {
    const inner = new MemorySocketSet(net, { address: H, port: 41641 }, seededRandom('slow2'));
    return Object.assign(Object.create(inner) as MemorySocketSet, {
      openExtra: async (n: number) => {
        await new Promise<void>((r) => (release = r));
        return inner.openExtra(n);
      },
    });
  });
  const open = w2.start();
  w2.opener.open(open.peer, open.count);
  assert.equal(w2.opener.ignored, 1);
  w2.opener.close();
  release!();
  await settle();
  await settle();
  assert.equal(w2.set.extraCount(), 0);
  assert.equal(w2.performed.length, 0);
});

test('a request over the budget is clamped to 256 sockets', async () => {
  const w = setup();
  w.opener.open(E_KEY, 10_000);
  await settle();
  assert.equal(w.opener.last.get(E_KEY)?.requested, 256);
});
