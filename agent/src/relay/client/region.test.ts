import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../clock/clock.ts';
import type { RelayNode, RelayRegion } from '../../coord/protocol.ts';
import { createLogger } from '../../log/logger.ts';
import * as f from '../frames.ts';
import type { Dialed } from './dial.ts';
import { dialOrder, reconnectDelayMs, RegionConnection, REGION_TIMING } from './region.ts';
import { keyPair, pipe, rnd, ScriptedRelay } from './testkit.ts';

const log = createLogger({ level: 'silent' });
const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};
const REGION: RelayRegion = { id: 'fra', name: 'Frankfurt', nodes: [{ url: 'https://a.example' }, { url: 'https://b.example' }] };

/** A dial that the test drives: each call waits until the test answers it. */
function scriptedDial() {
  const calls: { node: RelayNode; signal: AbortSignal; ok: () => ScriptedRelay; fail: (msg: string) => void }[] = [];
  const dial = (node: RelayNode, signal: AbortSignal) =>
    new Promise<Dialed>((resolve, reject) => {
      calls.push({
        node,
        signal,
        ok: () => {
          const [c, s] = pipe();
          const relay = new ScriptedRelay(s);
          resolve({ stream: c, transport: 'upgrade' });
          queueMicrotask(() => relay.start());
          return relay;
        },
        fail: (msg) => reject(new Error(msg)),
      });
    });
  return { calls, dial };
}

function setup() {
  const clock = new FakeClock();
  const d = scriptedDial();
  const me = keyPair();
  const got: string[] = [];
  const region = new RegionConnection(REGION, { clock, log, dial: d.dial, randomBytes: rnd, random: () => 0.5, nodeSecret: me.secret, nodePublic: me.public }, {
    recv: (src, data) => got.push(`recv ${src[0]} ${data[0]}`),
    peerGone: (key, reason) => got.push(`gone ${key[0]} ${reason}`),
  });
  return { clock, region, got, ...d };
}

test('region: back-off doubles from 250 ms to 5 s with jitter in the upper half; dial order wraps', () => {
  assert.equal(reconnectDelayMs(0, 0.9), 0);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 20].map((n) => reconnectDelayMs(n, 0)), [125, 250, 500, 1000, 2000, 2500, 2500, 2500]);
  assert.deepEqual([1, 6, 20].map((n) => reconnectDelayMs(n, 0.999)), [250, 4998, 4998]);
  assert.deepEqual(dialOrder(3, 1), [1, 2, 0]);
});

test('region: packets queue while connecting (oldest dropped past the bound) and go out after login', async () => {
  const { region, calls } = setup();
  const dst = new Uint8Array(32).fill(2);
  for (let i = 0; i < REGION_TIMING.queuePackets + 3; i++) region.send(dst, Uint8Array.of(i));
  assert.equal(calls.length, 1, 'one dial, not one per packet');
  assert.equal(region.droppedQueueFull, 3);
  const relay = calls[0]!.ok();
  await flush();
  assert.equal(region.status().connected, true);
  const sent = relay.received.filter((m) => m.kind === 'send');
  assert.equal(sent.length, REGION_TIMING.queuePackets);
  assert.deepEqual(sent[0], { kind: 'send', dstKey: dst, data: Uint8Array.of(3) });
  region.send(dst, Uint8Array.of(200));
  assert.deepEqual(relay.received.at(-1), { kind: 'send', dstKey: dst, data: Uint8Array.of(200) });
  relay.end.write(f.encodeRecv(new Uint8Array(32).fill(9), Uint8Array.of(1)));
  region.close();
});

test('region: the next server starts after 1.5 s when the first hangs; the first is aborted when it wins', async () => {
  const { clock, region, calls } = setup();
  region.connect();
  assert.equal(calls.length, 1);
  clock.advance(REGION_TIMING.staggerMs - 1);
  assert.equal(calls.length, 1);
  clock.advance(1);
  assert.deepEqual(calls.map((c) => c.node.url), ['https://a.example', 'https://b.example']);
  calls[1]!.ok();
  await flush();
  assert.equal(region.status().server, 'https://b.example');
  assert.equal(calls[0]!.signal.aborted, true);
  region.close();
  assert.equal(clock.pendingTimers(), 0);
});

test('region HA: a dead connection moves to the next server at once; unreachable servers back off up to 5 s', async () => {
  const { clock, region, calls } = setup();
  region.setHome(true);
  const first = calls[0]!.ok();
  await flush();
  assert.equal(region.status().server, 'https://a.example');
  first.end.close(); // server a died
  clock.advance(0);
  assert.equal(calls.length, 2);
  assert.equal(calls[1]!.node.url, 'https://b.example', 'the second server of the region');
  const second = calls[1]!.ok();
  await flush();
  assert.equal(region.status().server, 'https://b.example');
  assert.equal(region.status().reconnects, 1);

  // Now b dies too and nothing answers: b, a fail; retries back off 250, 500, ... ms.
  second.end.close();
  clock.advance(0);
  const failRound = async () => {
    const n = calls.length;
    calls.at(-1)!.fail('refused');
    await flush();
    if (calls.length > n) {
      calls.at(-1)!.fail('refused');
      await flush();
    }
  };
  await failRound();
  const before = calls.length;
  clock.advance(reconnectDelayMs(1, 0.5) - 1);
  assert.equal(calls.length, before);
  clock.advance(1);
  assert.equal(calls.length, before + 1);
  assert.match(region.status().lastError ?? '', /refused/);
  region.close();
  assert.equal(clock.pendingTimers(), 0);
});

test('region: a restarting frame sets the delay before the next attempt', async () => {
  const { clock, region, calls } = setup();
  region.setHome(true);
  const relay = calls[0]!.ok();
  await flush();
  relay.end.write(f.encodeRestarting({ reconnectInMs: 3_000, tryForMs: 30_000 }));
  relay.end.close();
  clock.advance(2_999);
  assert.equal(calls.length, 1);
  clock.advance(1);
  assert.equal(calls.length, 2);
  region.close();
});
