import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ed25519 } from '@noble/curves/ed25519.js';
import { FakeClock } from '../clock/clock.ts';
import type { MapMessage, SelfNode } from '../coord/protocol.ts';
import { silentLogger } from '../log/logger.ts';
import type { CoordApi } from './coord-client.ts';
import type { NodeIdentity } from './identity.ts';
import { CoordSession } from './session.ts';
import { k, peer } from './testkit.ts';

const key = (n: number) => ({ privateKey: new Uint8Array(32).fill(n), publicKey: new Uint8Array(32).fill(n) });
const identity: NodeIdentity = { machine: { privateKey: new Uint8Array(32).fill(1), publicKey: ed25519.getPublicKey(new Uint8Array(32).fill(1)) }, node: key(2), disco: key(3) };
const self: SelfNode = { id: 'me', name: 'me', machineKey: k('a'), nodeKey: k('b'), discoKey: k('c'), addresses: ['100.64.0.1/32'], advertisedRoutes: [], approvedRoutes: [], tags: [] };

/** A stream the test feeds line by line; ends when the signal aborts. */
class FedStream {
  private queue: string[] = [];
  private wake: (() => void) | undefined;
  constructor(private readonly signal: AbortSignal) {
    signal.addEventListener('abort', () => this.wake?.());
  }
  push(m: MapMessage): void {
    this.queue.push(JSON.stringify(m));
    this.wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    for (;;) {
      while (this.queue.length) yield this.queue.shift()!;
      if (this.signal.aborted) throw new Error('aborted');
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}

function memoryApi() {
  const opens: (number | undefined)[] = [];
  const streams: FedStream[] = [];
  const api: CoordApi = {
    register: async () => ({ self }),
    openMap: async (since, signal) => {
      opens.push(since);
      const s = new FedStream(signal);
      streams.push(s);
      return s;
    },
    endpoints: async () => undefined,
    routes: async () => undefined,
    routeHealth: async () => undefined,
    logout: async () => undefined,
  };
  return { api, opens, streams };
}

const tick = () => new Promise((r) => setImmediate(r));
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await tick();
  assert.ok(cond());
}

test('a stream silent for 120 s is dropped and resumed with ?since after the back-off; a keepalive resets the count', async () => {
  const clock = new FakeClock();
  const { api, opens, streams } = memoryApi();
  const s = new CoordSession({ hostname: 'me', advertiseRoutes: [], authKey: async () => undefined }, { api, identity, clock, log: silentLogger(), random: () => 0 });
  s.start();
  await until(() => streams.length === 1);
  streams[0]!.push({ t: 'full', seq: 4, self, peers: [peer('p2', 2)], relays: { regions: [] }, keepaliveSec: 50 });
  await until(() => s.map?.seq === 4);
  clock.advance(119_000);
  streams[0]!.push({ t: 'keepalive' });
  await tick();
  clock.advance(119_000);
  await tick();
  assert.equal(s.phase, 'streaming', 'a keepalive re-armed the silence timer');
  clock.advance(1_000);
  await until(() => s.phase === 'backoff');
  assert.equal(s.map?.peers.size, 1, 'map kept');
  clock.advance(500);
  await until(() => streams.length === 2);
  assert.deepEqual(opens, [undefined, 4]);
  await s.stop();
  assert.equal(clock.pendingTimers(), 0, 'stop leaves no timer armed');
});

test('a delta that removes this node is a revocation; a delta out of step asks for a full map', async () => {
  const clock = new FakeClock();
  const { api, opens, streams } = memoryApi();
  let revoked = 0;
  const s = new CoordSession({ hostname: 'me', advertiseRoutes: [], authKey: async () => undefined }, { api, identity, clock, log: silentLogger(), random: () => 0 }, { revoked: () => revoked++ });
  s.start();
  await until(() => streams.length === 1);
  streams[0]!.push({ t: 'full', seq: 4, self, peers: [peer('p2', 2)], relays: { regions: [] }, keepaliveSec: 50 });
  streams[0]!.push({ t: 'delta', seq: 5, patch: [{ id: 'ghost', online: false }] });
  await until(() => s.phase === 'backoff');
  clock.advance(500);
  await until(() => streams.length === 2);
  assert.deepEqual(opens, [undefined, undefined], 'resync reconnects without ?since');
  streams[1]!.push({ t: 'full', seq: 6, self, peers: [peer('p2', 2)], relays: { regions: [] }, keepaliveSec: 50 });
  streams[1]!.push({ t: 'delta', seq: 7, remove: ['me'] });
  await until(() => s.phase === 'revoked');
  assert.equal(revoked, 1);
  await s.stop();
  assert.equal(s.phase, 'revoked');
  assert.equal(clock.pendingTimers(), 0);
});

test('the home relay region goes with the endpoint report, and a new home is reported even when the endpoints did not change', async () => {
  const clock = new FakeClock();
  const { api, streams } = memoryApi();
  const sent: unknown[] = [];
  api.endpoints = async (req) => {
    sent.push(req);
  };
  const s = new CoordSession({ hostname: 'me', advertiseRoutes: [], authKey: async () => undefined }, { api, identity, clock, log: silentLogger(), random: () => 0 });
  s.start();
  await until(() => streams.length === 1);
  streams[0]!.push({ t: 'full', seq: 1, self, peers: [], relays: { regions: [] }, keepaliveSec: 50 });
  await until(() => s.phase === 'streaming');
  const eps = [{ addr: '192.0.2.1:41641', type: 'stun' as const }];
  s.reportEndpoints(eps);
  await until(() => sent.length === 1);
  s.reportHomeRelay('fra');
  await until(() => sent.length === 2);
  s.reportHomeRelay('fra');
  s.reportEndpoints(eps);
  await tick();
  assert.deepEqual(sent, [{ endpoints: eps }, { endpoints: eps, homeRelay: 'fra' }]);
  await s.stop();
});
