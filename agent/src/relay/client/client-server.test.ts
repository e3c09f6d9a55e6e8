/**
 * The relay client against the real relay server (agent/src/relay/server) over TLS on 127.0.0.1:
 * the RelayLink compliance suite, WebSocket (forced, and as the fallback when the upgrade is
 * refused), HA inside a region, and a pin that does not match.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { realClock } from '../../clock/clock.ts';
import type { RelayMap } from '../../coord/protocol.ts';
import { createLogger } from '../../log/logger.ts';
import { relayLinkCompliance, type RelayLinkHarness } from '../link-compliance.ts';
import { staticAdmission } from '../server/admission.ts';
import { startTestRelay, testCert, waitUntil, type TestRelay } from '../server/testing.ts';
import { wsAccept } from '../server/websocket.ts';
import { wsTransport } from '../server/ws-transport.ts';
import { RelayMesh } from '../mesh/mesh.ts';
import { createRelayClient, type RelayClientConfig } from './create.ts';
import type { RelayClient } from './client.ts';
import { dialRelay } from './dial.ts';
import { rnd } from './testkit.ts';

const log = createLogger({ level: 'silent' });
const admission = staticAdmission([]);
const links: RelayClient[] = [];
const relays: TestRelay[] = [];
const edges: import('node:https').Server[] = [];

after(async () => {
  for (const l of links) await l.close();
  for (const r of relays) await r.stop();
  for (const e of edges) {
    e.closeAllConnections();
    await new Promise<void>((res) => e.close(() => res()));
  }
});

async function relay(): Promise<TestRelay> {
  const r = await startTestRelay({ admission });
  relays.push(r);
  return r;
}

function client(config: RelayClientConfig = {}): { key: string; link: RelayClient } {
  const secret = x25519.utils.randomSecretKey();
  const key = Buffer.from(x25519.getPublicKey(secret)).toString('hex');
  admission.keys.add(key);
  // No proxy from the test machine's environment: these connections stay on loopback.
  const link = createRelayClient({ proxy: 'none', ...config }, { clock: realClock, log, nodeSecret: secret, env: {} });
  links.push(link);
  return { key, link };
}

function mapOf(...servers: TestRelay[]): RelayMap {
  return { regions: [{ id: 'lab', name: 'Lab', nodes: servers.map((s) => ({ url: s.url, certSha256: s.fingerprint })) }] };
}

const wait = (cond: () => boolean, what: string) => waitUntil(cond, 5_000, what);

let current: TestRelay | undefined;
relayLinkCompliance(
  'relay client against the relay server (TLS, upgrade)',
  async (): Promise<RelayLinkHarness> => {
    current = await relay();
    return { map: mapOf(current), region: 'lab', newLink: async () => client(), waitFor: wait };
  },
  async () => {
    await current?.stop();
  },
);

async function exchange(a: { key: string; link: RelayClient }, b: { key: string; link: RelayClient }, region: string, tag: number): Promise<void> {
  const gotA: number[] = [];
  const gotB: number[] = [];
  a.link.onReceive((_s, p) => gotA.push(p[0]!));
  b.link.onReceive((_s, p) => gotB.push(p[0]!));
  b.link.send(region, a.key, Uint8Array.of(tag + 1));
  a.link.send(region, b.key, Uint8Array.of(tag));
  await wait(() => gotB.includes(tag) && gotA.includes(tag + 1), `packets ${tag}/${tag + 1} both ways`);
}

test('relay client: WebSocket transport (forced) carries the same frames', async () => {
  const r = await relay();
  const a = client({ transport: 'websocket' });
  const b = client();
  a.link.setRelayMap(mapOf(r));
  b.link.setRelayMap(mapOf(r));
  await wait(() => a.link.status().regions[0]!.connected && b.link.status().regions[0]!.connected, 'both connected');
  await exchange(a, b, 'lab', 10);
  assert.equal(a.link.status().regions[0]!.transport, 'websocket');
  assert.equal(b.link.status().regions[0]!.transport, 'upgrade');
});

test('relay client: falls back to WebSocket when the upgrade is refused (a proxy that passes only WebSocket)', async () => {
  const r = await relay();
  const cert = await testCert();
  // The real relay behind an edge that answers 403 to `Upgrade: conegate-relay` and accepts WebSocket.
  const edge = createServer({ key: cert.key, cert: cert.cert }, (_req, res) => res.writeHead(200, { 'content-length': '0' }).end());
  edge.on('upgrade', (req, socket, head) => {
    socket.on('error', () => {});
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${wsAccept(String(req.headers['sec-websocket-key']))}\r\n\r\n`);
    r.relay.accept(wsTransport(socket as Socket, head));
  });
  await new Promise<void>((res) => edge.listen(0, '127.0.0.1', res));
  edges.push(edge);
  const url = `https://127.0.0.1:${(edge.address() as AddressInfo).port}`;
  const map: RelayMap = { regions: [{ id: 'ws', name: 'WS only', nodes: [{ url, certSha256: cert.fingerprint }] }] };
  const a = client();
  const b = client();
  a.link.setRelayMap(map);
  b.link.setRelayMap(map);
  await wait(() => a.link.status().regions[0]!.connected && b.link.status().regions[0]!.connected, 'both connected through the WebSocket-only edge').catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(a.link.regionDetails())}`);
  });
  await exchange(a, b, 'ws', 20);
  assert.equal(a.link.status().regions[0]!.transport, 'websocket');
});

test('relay client HA: the first server of the region killed, the client is on the second within 5 s', async () => {
  const r1 = await relay();
  const r2 = await relay();
  const map = mapOf(r1, r2);
  const a = client();
  const b = client();
  a.link.setRelayMap(map);
  b.link.setRelayMap(map);
  await wait(() => a.link.status().regions[0]!.server === r1.url && b.link.status().regions[0]!.server === r1.url, 'both on the first server');
  await exchange(a, b, 'lab', 30);
  await r1.stop();
  // Bounded wait, not a measurement: the brief's acceptance is "back within 5 s".
  await waitUntil(() => a.link.status().regions[0]!.server === r2.url && b.link.status().regions[0]!.server === r2.url, 5_000, 'both on the second server');
  await exchange(a, b, 'lab', 40);
  assert.ok(a.link.regionDetails().lab!.reconnects >= 1);
});

test('relay client: a relay whose certificate is not the pinned one is refused before any byte is sent', async () => {
  const r = await relay();
  const wrong = 'ab'.repeat(32);
  await assert.rejects(
    dialRelay({ url: r.url, certSha256: wrong }, { proxy: { config: 'none', env: {} }, transport: 'upgrade', randomBytes: rnd }),
    (e: { code: string; message: string }) => e.code === 'CG_RELAY_REFUSED' && /not the pinned/.test(e.message),
  );
  const a = client();
  a.link.setRelayMap({ regions: [{ id: 'lab', name: 'Lab', nodes: [{ url: r.url, certSha256: wrong }] }] });
  a.link.send('lab', 'cd'.repeat(32), Uint8Array.of(1));
  await wait(() => /not the pinned/.test(a.link.regionDetails().lab?.lastError ?? ''), 'the refusal in status');
  assert.equal(a.link.status().regions[0]!.connected, false);
  assert.equal(r.relay.stats().clients, 0);
  assert.equal(r.relay.stats().loginsRefused, 0, "the client never got as far as a login");
});

test('relay client: a relay whose 101 announces another server key than the map pins is refused (upgrade and WebSocket), the right key logs in', async () => {
  const r = await relay();
  const wrong = 'ab'.repeat(32);
  const right = Buffer.from(r.relay.serverKey).toString('hex');
  for (const transport of ['upgrade', 'websocket'] as const) {
    await assert.rejects(
      dialRelay({ url: r.url, certSha256: r.fingerprint, serverKey: wrong }, { proxy: { config: 'none', env: {} }, transport, randomBytes: rnd }),
      (e: { code: string; message: string }) => e.code === 'CG_RELAY_KEY_MISMATCH' && /not the key abababababababab\.\.\. the relay map pins/.test(e.message),
    );
  }
  const a = client();
  a.link.setRelayMap({ regions: [{ id: 'lab', name: 'Lab', nodes: [{ url: r.url, certSha256: r.fingerprint, serverKey: wrong }] }] });
  a.link.send('lab', 'cd'.repeat(32), Uint8Array.of(1));
  await wait(() => /the relay map pins/.test(a.link.regionDetails().lab?.lastError ?? ''), 'the refusal in status');
  assert.equal(a.link.status().regions[0]!.connected, false);
  assert.equal(r.relay.stats().clients, 0);
  assert.equal(r.relay.stats().loginsRefused, 0, 'the client never sealed a login to it');
  const b = client();
  b.link.setRelayMap({ regions: [{ id: 'lab', name: 'Lab', nodes: [{ url: r.url, certSha256: r.fingerprint, serverKey: right }] }] });
  b.link.send('lab', 'cd'.repeat(32), Uint8Array.of(1));
  await wait(() => b.link.status().regions[0]!.connected, 'logged in with the pinned key');
});

test('relay client HA with meshed relays: A on the first server, B on the second, traffic flows; the first killed, A is on the second within 5 s and traffic flows again', async () => {
  const meshKey = randomBytes(32).toString('hex');
  const rs = [await startTestRelay({ admission, config: { meshKey } }), await startTestRelay({ admission, config: { meshKey } })] as const;
  relays.push(...rs);
  const meshes = rs.map((r, i) => {
    const other = rs[1 - i]!;
    // The relay's own secret, as `relay serve` hands it to its mesh (the test helper keeps it in the config).
    const secret = (r.relay as unknown as { config: { serverSecret: Uint8Array } }).config.serverSecret;
    const mesh = new RelayMesh({ peers: [{ url: other.url, trust: { fingerprint: other.fingerprint } }], meshKey, secret, backoffStartMs: 50, backoffMaxMs: 200 }, { clock: realClock, log });
    mesh.onPeerGone = (k, h) => r.relay.peerGone(k, h);
    r.relay.attachMesh(mesh);
    mesh.start();
    return mesh;
  });
  try {
    await wait(() => meshes.every((m) => m.linksUp() === 1), 'mesh links up');
    const a = client();
    const b = client();
    // Same region, servers listed in opposite orders: A lands on the first relay, B on the second.
    const region = (order: TestRelay[]): RelayMap => ({ regions: [{ id: 'ha', name: 'HA', nodes: order.map((r) => ({ url: r.url, certSha256: r.fingerprint })) }] });
    a.link.setRelayMap(region([rs[0], rs[1]]));
    b.link.setRelayMap(region([rs[1], rs[0]]));
    await wait(() => a.link.status().regions[0]!.server === rs[0].url && b.link.status().regions[0]!.server === rs[1].url, 'A on the first relay, B on the second');
    await wait(() => meshes[1]!.holds(a.key) && meshes[0]!.holds(b.key), 'each relay knows where the other client is');
    await exchange(a, b, 'ha', 50);
    meshes[0]!.stop();
    await rs[0].stop();
    await waitUntil(() => a.link.status().regions[0]!.server === rs[1].url, 5_000, 'A on the second relay');
    await exchange(a, b, 'ha', 60);
  } finally {
    for (const m of meshes) m.stop();
  }
});
