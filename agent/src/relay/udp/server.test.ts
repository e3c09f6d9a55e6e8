import { test } from 'node:test';
import assert from 'node:assert/strict';
import { realClock } from '../../clock/clock.ts';
import { createUdpRelayClient } from './client.ts';
import { createUdpRelayServer } from './server.ts';
import { DEFAULT_LIMITS } from './server-core.ts';
import { loopbackSocket, testMap, testNode, waitFor } from './testkit.ts';

const RELAY = testNode('relay');
const A = testNode('a');
const B = testNode('b');

test('over real UDP on loopback: two clients bind through the relay and exchange 1,000 datagrams each way', async (t) => {
  const map = testMap([RELAY, A, B]);
  const server = createUdpRelayServer(
    { host: '127.0.0.1', port: 0, limits: DEFAULT_LIMITS },
    { clock: realClock, discoPrivate: RELAY.discoPrivate, discoPublic: RELAY.discoPublic, ...map, publicEndpoint: () => ({ address: '127.0.0.1', port: server.port()! }) },
  );
  await server.start();
  await server.start(); // idempotent
  const sa = await loopbackSocket();
  const sb = await loopbackSocket();
  const mk = (me: typeof A, s: typeof sa) => {
    const c = createUdpRelayClient({ discoPrivate: me.discoPrivate, discoPublic: me.discoPublic, nodeKey: me.nodeKey, clock: realClock, sockets: s });
    s.onReceive((p, from, sock) => c.receive(p, from, sock));
    return c;
  };
  const a = mk(A, sa);
  const b = mk(B, sb);
  t.after(async () => {
    a.close();
    b.close();
    await Promise.all([sa.close(), sb.close(), server.stop()]);
  });
  const got = { a: 0, b: 0, bytes: 0 };
  a.onPacket((peer) => {
    assert.equal(peer, B.nodeHex);
    got.a++;
  });
  b.onPacket((peer, payload, proto) => {
    assert.equal(peer, A.nodeHex);
    assert.equal(proto, 'wireguard');
    got.bytes += payload.length;
    got.b++;
  });
  const relay = { endpoint: { address: '127.0.0.1', port: server.port()! }, nodeKey: RELAY.nodeHex, discoKey: RELAY.discoHex };
  a.want(B.nodeHex, relay);
  b.want(A.nodeHex, relay);
  await waitFor(() => !!a.via(B.nodeHex) && !!b.via(A.nodeHex), 'both sides bound');
  const va = a.via(B.nodeHex)!;
  const vb = b.via(A.nodeHex)!;
  assert.equal(va.vni, vb.vni);
  // Sent in bursts of 50 with a turn of the event loop between them, so loopback's socket buffers never overflow.
  const payload = new Uint8Array(1200).fill(0xab);
  for (let i = 0; i < 1000; i += 50) {
    for (let j = 0; j < 50; j++) {
      a.send(va, payload);
      b.send(vb, payload.subarray(0, 100));
    }
    await waitFor(() => got.b >= i + 45 && got.a >= i + 45, `burst ${i / 50}`).catch(() => undefined);
  }
  await waitFor(() => got.a === 1000 && got.b === 1000, '1,000 datagrams each way');
  assert.equal(got.bytes, 1000 * 1200);
  assert.equal(server.stats().forwarded, 2000);
  assert.equal(server.stats().allocations, 1);
});

test('a port already in use is a clear CG_NETWORK error, and stop() on a server never started is fine', async () => {
  const s = await loopbackSocket();
  const map = testMap([RELAY]);
  const server = createUdpRelayServer(
    { host: '127.0.0.1', port: s.port, limits: DEFAULT_LIMITS },
    { clock: realClock, discoPrivate: RELAY.discoPrivate, discoPublic: RELAY.discoPublic, ...map, publicEndpoint: () => ({ address: '127.0.0.1', port: 1 }) },
  );
  await assert.rejects(server.start(), (err: { code?: string }) => err.code === 'CG_NETWORK');
  await server.stop();
  await s.close();
});

test('an IPv6 listen address gets an IPv6 socket', async () => {
  const map = testMap([RELAY]);
  const server = createUdpRelayServer(
    { host: '::1', port: 0, limits: DEFAULT_LIMITS },
    { clock: realClock, discoPrivate: RELAY.discoPrivate, discoPublic: RELAY.discoPublic, ...map, publicEndpoint: () => ({ address: '::1', port: 1 }) },
  );
  await server.start();
  assert.ok(server.port()! > 0);
  await server.stop();
});
