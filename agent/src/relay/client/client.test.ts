import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../clock/clock.ts';
import type { RelayMap, RelayNode } from '../../coord/protocol.ts';
import { createLogger } from '../../log/logger.ts';
import * as f from '../frames.ts';
import { CLIENT_TIMING, RelayClient } from './client.ts';
import type { Dialed } from './dial.ts';
import { HOME } from './home.ts';
import { keyPair, pipe, rnd, ScriptedRelay } from './testkit.ts';

const log = createLogger({ level: 'silent' });
const flush = async () => {
  for (let i = 0; i < 8; i++) await new Promise<void>((r) => setImmediate(r));
};
const MAP: RelayMap = {
  regions: [
    { id: 'fra', name: 'Frankfurt', nodes: [{ url: 'https://fra.example' }] },
    { id: 'ams', name: 'Amsterdam', nodes: [{ url: 'https://ams.example' }] },
  ],
};

function setup(latency: Record<string, number>, opts: { probeHangs?: boolean } = {}) {
  const clock = new FakeClock();
  const relays = new Map<string, ScriptedRelay>();
  const ends = new Map<string, { closed: boolean }>();
  const all: { url: string; relay: ScriptedRelay }[] = [];
  const dials: string[] = [];
  let reachable = true;
  const me = keyPair();
  const client = new RelayClient({
    clock,
    log,
    nodeSecret: me.secret,
    nodePublic: me.public,
    randomBytes: rnd,
    random: () => 0.5,
    dial: async (node: RelayNode): Promise<Dialed> => {
      dials.push(node.url);
      const [c, s] = pipe();
      const relay = new ScriptedRelay(s);
      ends.set(node.url, c);
      all.push({ url: node.url, relay });
      relays.set(node.url, relay);
      queueMicrotask(() => relay.start());
      return { stream: c, transport: 'upgrade' };
    },
    probe: async (node, signal) => {
      if (opts.probeHangs) await new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
      const ms = latency[new URL(node.url).hostname.split('.')[0]!];
      if (ms === undefined) throw new Error('no answer');
      return ms;
    },
    coordinatorReachable: () => reachable,
  });
  const homes: string[] = [];
  client.onHomeChange((r) => homes.push(r));
  return { clock, client, relays, all, ends, dials, homes, me, setReachable: (v: boolean) => (reachable = v) };
}

test('relay client: home = fastest region after the first probe round; connected and marked preferred', async () => {
  const { client, relays, homes, dials } = setup({ fra: 40, ams: 15 });
  client.setRelayMap(MAP);
  await flush();
  assert.equal(client.home(), 'ams');
  assert.deepEqual(homes, ['ams']);
  assert.deepEqual(dials, ['https://ams.example'], 'only the home is connected up front');
  assert.deepEqual(relays.get('https://ams.example')!.received.find((m) => m.kind === 'note-preferred'), { kind: 'note-preferred', preferred: true });
  const st = client.status();
  assert.deepEqual(st.regions.find((r) => r.id === 'ams'), { id: 'ams', connected: true, server: 'https://ams.example', latencyMs: 15, viaProxy: false, transport: 'upgrade' });
  assert.deepEqual(st.regions.find((r) => r.id === 'fra'), { id: 'fra', connected: false, latencyMs: 40 });
  await client.close();
});

test('relay client: on-demand region, packets in and out with hex keys, idle close after 60 s (checked every 15 s)', async () => {
  const { clock, client, relays } = setup({ fra: 40, ams: 15 });
  const got: string[] = [];
  const gone: string[] = [];
  client.onReceive((src, p, region) => got.push(`${src.slice(0, 4)}:${p[0]}@${region}`));
  client.onPeerGone((k, region, why) => gone.push(`${k.slice(0, 4)}@${region}:${why}`));
  client.setRelayMap(MAP);
  await flush();
  client.send('fra', 'ab'.repeat(32), Uint8Array.of(7));
  await flush();
  const fra = relays.get('https://fra.example')!;
  assert.deepEqual(fra.received.at(-1), { kind: 'send', dstKey: new Uint8Array(32).fill(0xab), data: Uint8Array.of(7) });
  fra.end.write(f.encodeRecv(new Uint8Array(32).fill(0xcd), Uint8Array.of(9)));
  fra.end.write(f.encodePeerGone(new Uint8Array(32).fill(0xef), 'not-here'));
  assert.deepEqual(got, ['cdcd:9@fra']);
  assert.deepEqual(gone, ['efef@fra:not-here']);

  // Idle: the last packet was at t=0; checks at 15, 30, 45, 60 s: closed at the 60 s check.
  clock.advance(CLIENT_TIMING.idleCloseMs - 1);
  assert.equal(client.status().regions.find((r) => r.id === 'fra')!.connected, true);
  clock.advance(1);
  assert.equal(client.status().regions.find((r) => r.id === 'fra')!.connected, false);
  assert.equal(client.status().regions.find((r) => r.id === 'ams')!.connected, true, 'the home stays');
  await client.close();
  assert.equal(clock.pendingTimers(), 0, 'close leaves no timer armed');
});

test('relay client: a faster region takes over only with the coordinator reachable, after the window', async () => {
  const latency = { fra: 20, ams: 25 };
  const { clock, client, homes, setReachable, all } = setup(latency);
  client.setRelayMap(MAP);
  await flush();
  assert.equal(client.home(), 'fra');
  latency.fra = 80;
  latency.ams = 25;
  setReachable(false);
  // Past the 5 min window the old 20 ms sample is gone; ams is 55 ms and 69% faster, but the
  // coordinator is unreachable: stay.
  for (let t = 0; t < HOME.windowMs + HOME.probeEveryMs; t += HOME.probeEveryMs) {
    clock.advance(HOME.probeEveryMs);
    await flush();
  }
  assert.equal(client.home(), 'fra');
  setReachable(true);
  clock.advance(HOME.probeEveryMs);
  await flush();
  assert.equal(client.home(), 'ams');
  assert.deepEqual(homes, ['fra', 'ams']);
  // The scripted relay sends no keepalives, so fra's connection is renewed every 120 s: the newest one
  // must not be marked preferred any more (false, or nothing: a new connection starts not preferred).
  const fraConns = all.filter((r) => r.url === 'https://fra.example');
  const lastNote = fraConns.at(-1)!.relay.received.filter((m) => m.kind === 'note-preferred').at(-1);
  assert.notDeepEqual(lastNote, { kind: 'note-preferred', preferred: true });
  const amsNotes = all.filter((r) => r.url === 'https://ams.example').flatMap((r) => r.relay.received.filter((m) => m.kind === 'note-preferred'));
  assert.deepEqual(amsNotes.at(-1), { kind: 'note-preferred', preferred: true });
  await client.close();
});

test('relay client: bad keys, unknown regions and sends after close are dropped and counted, never thrown', async () => {
  const { client } = setup({});
  client.setRelayMap(MAP);
  await flush();
  assert.equal(client.home(), 'fra', 'nothing measurable: the first region');
  client.send('fra', 'not-a-key', Uint8Array.of(1));
  client.send('nowhere', 'ab'.repeat(32), Uint8Array.of(1));
  await client.close();
  client.send('fra', 'ab'.repeat(32), Uint8Array.of(1));
  assert.deepEqual(client.counters, { droppedBadKey: 1, droppedNoRegion: 1, droppedClosed: 1 });
});

test('relay client: a region dropped from the map is closed; its servers replaced keep the connection', async () => {
  const { client, ends } = setup({ fra: 10, ams: 50 });
  client.setRelayMap(MAP);
  await flush();
  client.send('ams', 'ab'.repeat(32), Uint8Array.of(1));
  await flush();
  assert.equal(ends.get('https://ams.example')!.closed, false);
  client.setRelayMap({ regions: [MAP.regions[0]!] });
  assert.equal(ends.get('https://ams.example')!.closed, true);
  assert.deepEqual(client.status().regions.map((r) => r.id), ['fra']);
  await client.close();
});

test('relay client: a map of one region makes it the home at once, connected before any latency probe answers (fast start)', async () => {
  const { client, homes, dials, clock } = setup({}, { probeHangs: true });
  client.setRelayMap({ regions: [MAP.regions[0]!] });
  await flush();
  assert.equal(client.home(), 'fra');
  assert.deepEqual(homes, ['fra']);
  assert.deepEqual(dials, ['https://fra.example']);
  assert.equal(client.status().regions[0]!.connected, true);
  // The probe round still ends (its timeout) and keeps the home.
  clock.advance(CLIENT_TIMING.probeTimeoutMs);
  await flush();
  assert.deepEqual(homes, ['fra']);
  await client.close();
});

test('relay client: with several regions the home waits for the probe round (no home while every probe is pending)', async () => {
  const { client, homes, dials, clock } = setup({}, { probeHangs: true });
  client.setRelayMap(MAP);
  await flush();
  assert.equal(client.home(), undefined);
  assert.deepEqual(dials, []);
  clock.advance(CLIENT_TIMING.probeTimeoutMs);
  await flush();
  assert.deepEqual(homes, ['fra'], 'nothing measured: the map\'s first region');
  await client.close();
});
