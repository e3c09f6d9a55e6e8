import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../clock/clock.ts';
import type { RelayMap } from '../coord/protocol.ts';
import { DISCO_MAGIC } from '../mesh/demux.ts';
import { relayLinkCompliance, type RelayLinkHarness } from './link-compliance.ts';
import { MemoryRelayFabric } from './memory.ts';

const MAP: RelayMap = {
  regions: [
    { id: 'fra', name: 'Frankfurt', nodes: [{ url: 'https://relay-fra.example:443' }] },
    { id: 'nyc', name: 'New York', nodes: [{ url: 'https://relay-nyc.example:443' }] },
  ],
};
const key = (n: number) => n.toString(16).padStart(2, '0').repeat(32);

let keyCounter = 0;
relayLinkCompliance(
  'memory relay',
  async (): Promise<RelayLinkHarness> => {
    const fabric = new MemoryRelayFabric();
    return {
      map: MAP,
      region: 'fra',
      newLink: async () => {
        const k = key(++keyCounter);
        return { key: k, link: fabric.node(k) };
      },
      waitFor: async (cond, what) => {
        for (let i = 0; i < 100 && !cond(); i++) await new Promise<void>((r) => setImmediate(r));
        assert.ok(cond(), `timed out waiting for: ${what}`);
      },
    };
  },
  async () => {},
);

function disco(): Uint8Array {
  const p = new Uint8Array(70);
  p.set(DISCO_MAGIC);
  return p;
}

test('memory relay: delivery waits for the clock (latency), never re-enters the sender', () => {
  const clock = new FakeClock();
  const fabric = new MemoryRelayFabric({ clock, latencyMs: 30 });
  const a = fabric.node(key(1), { home: 'fra' });
  const b = fabric.node(key(2), { home: 'fra' });
  const got: string[] = [];
  b.onReceive((src, p, region) => {
    got.push(`${src.slice(0, 2)}:${p[0]}@${region}`);
    b.send(region, src, Uint8Array.of(p[0]! + 1)); // answering at once is safe
  });
  a.onReceive((src, p) => got.push(`${src.slice(0, 2)}:${p[0]}`));
  a.setRelayMap(MAP);
  b.setRelayMap(MAP);
  a.send('fra', key(2), Uint8Array.of(7));
  assert.deepEqual(got, []);
  clock.advance(29);
  assert.deepEqual(got, []);
  clock.advance(1);
  assert.deepEqual(got, ['01:7@fra']);
  clock.advance(30);
  assert.deepEqual(got, ['01:7@fra', '02:8']);
  assert.equal(fabric.counters.delivered, 2);
});

test('memory relay: no routing between regions; data to an absent key is dropped without an answer', () => {
  const clock = new FakeClock();
  const fabric = new MemoryRelayFabric({ clock });
  const a = fabric.node(key(1), { home: 'fra' });
  const b = fabric.node(key(2), { home: 'nyc' });
  const got: number[] = [];
  const gone: string[] = [];
  b.onReceive((_s, p) => got.push(p[0]!));
  a.onPeerGone((k, r, why) => gone.push(`${k.slice(0, 2)}@${r}:${why}`));
  a.setRelayMap(MAP);
  b.setRelayMap(MAP);
  a.send('fra', key(2), Uint8Array.of(1)); // b is in nyc only
  clock.advance(0);
  assert.deepEqual(got, []);
  assert.deepEqual(gone, [], 'data packets get no not-here answer');
  a.send('fra', key(2), disco());
  clock.advance(0);
  assert.deepEqual(gone, ['02@fra:not-here']);
  a.send('nyc', key(2), Uint8Array.of(3)); // on demand: a joins b's home region
  clock.advance(0);
  assert.deepEqual(got, [3]);
  assert.deepEqual(fabric.presentIn('nyc').sort(), [key(1), key(2)]);
});

test('memory relay: drop rules, region down, kill and homes', () => {
  const clock = new FakeClock();
  const fabric = new MemoryRelayFabric({ clock });
  const a = fabric.node(key(1), { latencyMs: { fra: 40, nyc: 12 } });
  const b = fabric.node(key(2), { home: 'fra' });
  const homes: string[] = [];
  a.onHomeChange((r) => homes.push(r));
  const got: number[] = [];
  const gone: string[] = [];
  b.onReceive((_s, p) => got.push(p[0]!));
  a.onPeerGone((k, r, why) => gone.push(`${k.slice(0, 2)}@${r}:${why}`));
  a.setRelayMap(MAP);
  b.setRelayMap(MAP);
  assert.equal(a.home(), 'nyc', 'lowest latency');
  assert.deepEqual(homes, ['nyc']);
  assert.equal(a.status().regions.find((r) => r.id === 'nyc')?.latencyMs, 12);

  const undrop = fabric.dropWhen(({ packet }) => packet[0] === 2);
  a.send('fra', key(2), Uint8Array.of(1));
  a.send('fra', key(2), Uint8Array.of(2));
  clock.advance(0);
  assert.deepEqual(got, [1]);
  undrop();
  a.send('fra', key(2), Uint8Array.of(2));
  clock.advance(0);
  assert.deepEqual(got, [1, 2]);

  fabric.setRegionDown('fra', true);
  a.send('fra', key(2), Uint8Array.of(3));
  clock.advance(0);
  assert.deepEqual(got, [1, 2]);
  assert.equal(fabric.counters.droppedRegionDown, 1);
  assert.equal(b.status().regions.find((r) => r.id === 'fra')?.connected, false);
  fabric.setRegionDown('fra', false);
  b.send('fra', key(1), Uint8Array.of(0)); // b comes back on its next send
  a.send('fra', key(2), Uint8Array.of(4));
  clock.advance(0);
  assert.deepEqual(got, [1, 2, 4]);

  fabric.kill(key(2));
  clock.advance(0);
  assert.deepEqual(gone, ['02@fra:disconnected']);
  a.setHome('fra');
  assert.deepEqual(homes, ['nyc', 'fra']);
  fabric.close();
  assert.equal(clock.pendingTimers(), 0);
});
