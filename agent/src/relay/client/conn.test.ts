import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../clock/clock.ts';
import * as f from '../frames.ts';
import { RelayConnection, type ConnEvents } from './conn.ts';
import { keyPair, pipe, rnd, ScriptedRelay } from './testkit.ts';

function setup(opts: { answerLogin?: boolean } = {}) {
  const clock = new FakeClock();
  const [client, server] = pipe();
  const relay = new ScriptedRelay(server, opts);
  const me = keyPair();
  const log: string[] = [];
  const events: ConnEvents = {
    recv: (src, data) => log.push(`recv ${src[0]} ${data.length}`),
    peerGone: (key, reason) => log.push(`gone ${key[0]} ${reason}`),
    health: (p) => log.push(`health ${p}`),
    restarting: (r) => log.push(`restarting ${r.reconnectInMs}/${r.tryForMs}`),
    closed: (reason) => log.push(`closed ${reason}`),
  };
  const conn = new RelayConnection(client, { nodeSecret: me.secret, nodePublic: me.public, clock, randomBytes: rnd }, events);
  return { clock, relay, me, log, conn, client, server };
}

test('relay conn: login proves the node key; frames both ways; pings answered', async () => {
  const { relay, me, log, conn, server } = setup();
  const login = conn.login();
  relay.start();
  assert.deepEqual((await login).version, 1);
  assert.deepEqual(relay.clientKey, me.public);
  assert.equal(conn.ready, true);
  assert.equal(conn.send(new Uint8Array(32).fill(7), Uint8Array.of(1, 2)), true);
  assert.deepEqual(relay.received.at(-1), { kind: 'send', dstKey: new Uint8Array(32).fill(7), data: Uint8Array.of(1, 2) });
  server.write(f.encodeRecv(new Uint8Array(32).fill(3), new Uint8Array(100)));
  server.write(f.encodePeerGone(new Uint8Array(32).fill(4), 'not-here'));
  server.write(f.encodePing(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)));
  server.write(f.encodeHealth('overloaded'));
  server.write(f.encodeRestarting({ reconnectInMs: 500, tryForMs: 10_000 }));
  server.write(f.encodeFrame(0x7f, Uint8Array.of(1))); // unknown type: skipped
  assert.deepEqual(relay.received.at(-1), { kind: 'pong', data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) });
  assert.deepEqual(log, ['recv 3 100', 'gone 4 not-here', 'health overloaded', 'restarting 500/10000']);
  conn.notePreferred(true);
  assert.deepEqual(relay.received.at(-1), { kind: 'note-preferred', preferred: true });
  conn.close();
  assert.equal(conn.send(new Uint8Array(32), Uint8Array.of(1)), false);
});

test('relay conn: a server-info that does not open (wrong server key) fails the login and closes', async () => {
  const { log, conn, server } = setup();
  const login = conn.login();
  const impostor = keyPair();
  server.write(f.encodeServerKey(keyPair().public));
  server.write(f.encodeServerInfo(new Uint8Array(64)));
  await assert.rejects(login, (e: { code: string }) => e.code === 'CG_RELAY_REFUSED');
  assert.match(log.at(-1)!, /^closed protocol error: box does not open/);
  assert.ok(impostor);
});

test('relay conn: login deadline 10 s and read deadline 120 s on the clock', async () => {
  const a = setup({ answerLogin: false });
  const login = a.conn.login();
  a.relay.start();
  a.clock.advance(9_999);
  assert.equal(a.client.closed, false);
  a.clock.advance(1);
  await assert.rejects(login, (e: { code: string }) => e.code === 'CG_NETWORK');
  assert.deepEqual(a.log, ['closed login timed out']);
  assert.equal(a.clock.pendingTimers(), 0);

  const b = setup();
  const l = b.conn.login();
  b.relay.start();
  await l;
  b.clock.advance(119_000);
  b.server.write(f.encodeKeepalive()); // re-arms the deadline
  b.clock.advance(119_000);
  assert.equal(b.conn.ready, true);
  b.clock.advance(1_000);
  assert.equal(b.conn.ready, false);
  assert.deepEqual(b.log, ['closed nothing heard from the relay for 120 s']);
  assert.equal(b.clock.pendingTimers(), 0);
});

test('relay conn: junk or an oversized frame closes this connection with the reason', async () => {
  const { log, conn, server, relay } = setup();
  const login = conn.login();
  relay.start();
  await login;
  const header = new Uint8Array(5);
  header[0] = f.FrameType.RECV;
  new DataView(header.buffer).setUint32(1, f.MAX_FRAME_BODY_BYTES + 1);
  server.write(header);
  assert.equal(conn.ready, false);
  assert.match(log.at(-1)!, /^closed protocol error: frame length over the limit/);
});

test('relay conn: anything but server-key first is refused', async () => {
  const { log, conn, server } = setup();
  const login = conn.login();
  server.write(f.encodeRecv(new Uint8Array(32), Uint8Array.of(1)));
  await assert.rejects(login, (e: { code: string }) => e.code === 'CG_RELAY_REFUSED');
  assert.match(log.at(-1)!, /expected server-key, got recv/);
});

test('relay conn: any bytes from the relay, before or after login, end in frames or a closed connection, never a throw', async () => {
  const fc = (await import('fast-check')).default;
  await fc.assert(
    fc.asyncProperty(fc.boolean(), fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 6 }), async (loggedIn, chunks) => {
      const { conn, server, relay } = setup();
      const login = conn.login().then(
        () => undefined,
        (e: unknown) => assert.equal((e as { name: string }).name, 'ConegateError'),
      );
      if (loggedIn) {
        relay.start();
        await login;
      }
      for (const c of chunks) server.write(c);
      conn.close();
      await login;
    }),
    { numRuns: 300 },
  );
});

test('relay conn: a server-key frame with another key than the pinned one is refused (CG_RELAY_KEY_MISMATCH) before anything is sealed to it', async () => {
  const clock = new FakeClock();
  const [client, server] = pipe();
  const relay = new ScriptedRelay(server);
  const me = keyPair();
  const closed: string[] = [];
  const pinned = keyPair().public;
  const conn = new RelayConnection(client, { nodeSecret: me.secret, nodePublic: me.public, clock, randomBytes: rnd, expectedServerKey: pinned }, { recv: () => {}, peerGone: () => {}, closed: (r) => closed.push(r) });
  const login = conn.login();
  relay.start();
  await assert.rejects(login, (e: { code: string; message: string }) => e.code === 'CG_RELAY_KEY_MISMATCH' && /not the pinned key/.test(e.message));
  assert.equal(relay.clientKey, undefined, 'no client-info was sent to the impostor');
  assert.equal(client.closed, true);
  assert.match(closed[0]!, /server-key frame/);
});

test('relay conn: the pinned key logs in', async () => {
  const clock = new FakeClock();
  const [client, server] = pipe();
  const relay = new ScriptedRelay(server);
  const me = keyPair();
  const conn = new RelayConnection(client, { nodeSecret: me.secret, nodePublic: me.public, clock, randomBytes: rnd, expectedServerKey: relay.server.public.slice() }, { recv: () => {}, peerGone: () => {}, closed: () => {} });
  const login = conn.login();
  relay.start();
  assert.equal((await login).version, 1);
  assert.deepEqual(relay.clientKey, me.public);
});

test('relay conn: sending into 3 s of silence pings the relay; no answer within 3 s ends the connection, any byte back keeps it', async () => {
  const { relay, log, conn, clock, server } = setup();
  const login = conn.login();
  relay.start();
  await login;
  const dst = new Uint8Array(32).fill(7);
  const pings = () => relay.received.filter((m) => m.kind === 'ping').length;
  clock.advance(2_999);
  conn.send(dst, Uint8Array.of(1));
  assert.equal(pings(), 0, 'recent enough: no ping');
  clock.advance(1);
  conn.send(dst, Uint8Array.of(2));
  conn.send(dst, Uint8Array.of(3));
  assert.equal(pings(), 1, 'one ping, not one per packet');
  // The relay answers (any byte counts): the connection stays.
  clock.advance(2_000);
  server.write(f.encodeKeepalive());
  clock.advance(5_000);
  assert.equal(conn.ready, true);
  // Silent again while we send: ping, then nothing for 3 s: closed with the reason.
  conn.send(dst, Uint8Array.of(4));
  assert.equal(pings(), 2);
  clock.advance(2_999);
  assert.equal(conn.ready, true);
  clock.advance(1);
  assert.equal(conn.ready, false);
  assert.match(log.at(-1)!, /^closed the relay did not answer a ping within 3000 ms/);
  assert.equal(conn.livenessPings, 2);
});

test('relay conn: a quiet connection we do not send on is never pinged by us (the server keepalive covers it)', async () => {
  const { relay, conn, clock } = setup();
  const login = conn.login();
  relay.start();
  await login;
  clock.advance(100_000);
  assert.equal(relay.received.filter((m) => m.kind === 'ping').length, 0);
  assert.equal(conn.ready, true);
  conn.close();
});
