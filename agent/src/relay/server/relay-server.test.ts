import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../clock/clock.ts';
import { DISCO_MAGIC } from '../../mesh/demux.ts';
import { encodeNotePreferred, encodePing, encodeSend } from '../frames.ts';
import type { RelayMessage } from '../frames-message.ts';
import { staticAdmission } from './admission.ts';
import { connectClient, newNode, startTestRelay, waitUntil } from './testing.ts';

const recvFrom = (hex: string, payload: string) => (m: RelayMessage) =>
  m.kind === 'recv' && Buffer.from(m.srcKey).toString('hex') === hex && Buffer.from(m.data).toString() === payload;
const disco = (n: number) => Buffer.concat([DISCO_MAGIC, Buffer.from([n])]);

test('login over TLS, then packets forwarded by destination key with the payload untouched', async () => {
  const a = newNode();
  const b = newNode();
  const r = await startTestRelay({ admission: staticAdmission([a.hex, b.hex]) });
  try {
    const ca = await connectClient(r, a);
    const cb = await connectClient(r, b);
    assert.equal(Buffer.from(ca.link.serverKey).toString('hex'), Buffer.from(r.relay.serverKey).toString('hex'));
    ca.link.write(encodeSend(b.key, Buffer.from('hello b')));
    cb.link.write(encodeSend(a.key, Buffer.from('hello a')));
    await cb.waitFor(recvFrom(a.hex, 'hello b'));
    await ca.waitFor(recvFrom(b.hex, 'hello a'));
    ca.link.write(encodePing(Buffer.from('12345678')));
    const pong = await ca.waitFor((m) => m.kind === 'pong');
    assert.equal(Buffer.from((pong as { data: Uint8Array }).data).toString(), '12345678');
    assert.equal(r.relay.stats().clients, 2);
    ca.link.close();
    cb.link.close();
  } finally {
    await r.stop();
  }
});

test('the same over a WebSocket upgrade', async () => {
  const a = newNode();
  const b = newNode();
  const r = await startTestRelay({ admission: staticAdmission([a.hex, b.hex]) });
  try {
    const ca = await connectClient(r, a, { websocket: true });
    const cb = await connectClient(r, b, { websocket: true });
    ca.link.write(encodeSend(b.key, Buffer.from('over ws')));
    await cb.waitFor(recvFrom(a.hex, 'over ws'));
    ca.link.close();
    cb.link.close();
  } finally {
    await r.stop();
  }
});

test('admission fails closed: unknown key refused, admission error refused, revoked key cut at the re-check', async () => {
  const a = newNode();
  const admission = staticAdmission([a.hex]);
  let broken = false;
  const r = await startTestRelay({
    admission: { admitted: (ks, o) => (broken ? Promise.reject(new Error('coordinator down')) : admission.admitted(ks, o)) },
  });
  try {
    await assert.rejects(connectClient(r, newNode()), /not admitted/);
    broken = true;
    await assert.rejects(connectClient(r, newNode()), /admission cannot be checked/);
    broken = false;
    const ca = await connectClient(r, a);
    admission.keys.delete(a.hex);
    await r.relay.recheck();
    await ca.closed;
    assert.equal(r.relay.stats().clients, 0);
    assert.equal(r.relay.counters.loginsRefused, 2);
  } finally {
    await r.stop();
  }
});

test('a client that leaves: everyone who sent to it gets peer-gone "disconnected"', async () => {
  const [a, b] = [newNode(), newNode()];
  const r = await startTestRelay({ admission: staticAdmission([a.hex, b.hex]) });
  try {
    const ca = await connectClient(r, a);
    const cb = await connectClient(r, b);
    ca.link.write(encodeSend(b.key, Buffer.from('x')));
    await cb.waitFor(recvFrom(a.hex, 'x'));
    cb.link.close();
    const gone = await ca.waitFor((m) => m.kind === 'peer-gone');
    assert.ok(gone.kind === 'peer-gone');
    assert.deepEqual([Buffer.from(gone.key).toString('hex'), gone.reason], [b.hex, 'disconnected']);
    ca.link.close();
  } finally {
    await r.stop();
  }
});

test('discovery to an unknown key: "not-here", at most a burst of 3 then 1/s; data to it is dropped silently', async () => {
  const clock = new FakeClock();
  const a = newNode();
  const r = await startTestRelay({ admission: staticAdmission([a.hex]), clock });
  try {
    const ca = await connectClient(r, a);
    const nowhere = newNode();
    for (let i = 0; i < 10; i++) ca.link.write(encodeSend(nowhere.key, disco(i)));
    ca.link.write(encodeSend(nowhere.key, Buffer.from('wg data')));
    ca.link.write(encodePing(Buffer.alloc(8, 1)));
    await ca.waitFor((m) => m.kind === 'pong');
    assert.equal(ca.messages.filter((m) => m.kind === 'peer-gone' && m.reason === 'not-here').length, 3);
    clock.advance(1_000);
    ca.link.write(encodeSend(nowhere.key, disco(11)));
    ca.link.write(encodeSend(nowhere.key, disco(12)));
    ca.link.write(encodePing(Buffer.alloc(8, 2)));
    await ca.waitFor((m) => m.kind === 'pong' && m.data[0] === 2);
    assert.equal(ca.messages.filter((m) => m.kind === 'peer-gone').length, 4);
    assert.equal(r.relay.counters.packetsDropped, 13);
    ca.link.close();
  } finally {
    await r.stop();
  }
});

test('duplicate key: the connection that wrote last receives', async () => {
  const [a, b] = [newNode(), newNode()];
  const clock = new FakeClock();
  const r = await startTestRelay({ admission: staticAdmission([a.hex, b.hex]), clock });
  try {
    const a1 = await connectClient(r, a);
    clock.advance(10);
    const a2 = await connectClient(r, a);
    const cb = await connectClient(r, b);
    clock.advance(10);
    a1.link.write(encodeNotePreferred(true));
    a1.link.write(encodePing(Buffer.alloc(8, 1)));
    await a1.waitFor((m) => m.kind === 'pong');
    cb.link.write(encodeSend(a.key, Buffer.from('to a1')));
    await a1.waitFor(recvFrom(b.hex, 'to a1'));
    clock.advance(10);
    a2.link.write(encodePing(Buffer.alloc(8, 2)));
    await a2.waitFor((m) => m.kind === 'pong');
    cb.link.write(encodeSend(a.key, Buffer.from('to a2')));
    await a2.waitFor(recvFrom(b.hex, 'to a2'));
    assert.equal(a1.messages.some(recvFrom(b.hex, 'to a2')), false);
    assert.equal(a2.messages.some(recvFrom(b.hex, 'to a1')), false);
    // One of the two leaving is not the key leaving: no peer-gone for b.
    a1.link.close();
    await waitUntil(() => r.relay.stats().clients === 2 && (r.relay as any).clients.get(a.hex).length === 1, 5_000, 'a1 gone');
    assert.equal(cb.messages.some((m) => m.kind === 'peer-gone'), false);
    for (const c of [a2, cb]) c.link.close();
  } finally {
    await r.stop();
  }
});

test('keepalive frames every 60 s + jitter; health frame on a problem and when it clears', async () => {
  const clock = new FakeClock();
  const a = newNode();
  const r = await startTestRelay({ admission: staticAdmission([a.hex]), clock });
  try {
    const ca = await connectClient(r, a);
    clock.advance(65_000);
    await ca.waitFor((m) => m.kind === 'keepalive');
    r.relay.setHealth('coordinator unreachable');
    await ca.waitFor((m) => m.kind === 'health' && m.problem === 'coordinator unreachable');
    r.relay.setHealth('');
    await ca.waitFor((m) => m.kind === 'health' && m.problem === '');
    ca.link.close();
  } finally {
    await r.stop();
  }
});

test('stopping the relay tells each client to come back (restarting), then the connection ends', async () => {
  const a = newNode();
  const r = await startTestRelay({ admission: staticAdmission([a.hex]) });
  const ca = await connectClient(r, a);
  await r.stop();
  await ca.closed;
  const m = ca.messages.find((x) => x.kind === 'restarting');
  assert.deepEqual(m, { kind: 'restarting', reconnectInMs: 500, tryForMs: 30_000 });
});

test('HA: a client another relay of the region announced after its last read here has moved: packets for it go to that relay, until its connection here reads again', async () => {
  const a = newNode();
  const b = newNode();
  const clock = new FakeClock();
  const held = new Map<string, number>();
  const forwarded: string[] = [];
  const mesh = {
    forward: (_src: Uint8Array, _dst: Uint8Array, dstHex: string, data: Uint8Array) => (forwarded.push(`${dstHex.slice(0, 8)} ${Buffer.from(data).toString()}`), true),
    heldSinceMs: (hex: string) => held.get(hex),
  };
  const r = await startTestRelay({ admission: staticAdmission([a.hex, b.hex]), clock, mesh });
  try {
    const ca = await connectClient(r, a);
    const cb = await connectClient(r, b);
    cb.link.write(encodeSend(a.key, Buffer.from('local')));
    await ca.waitFor(recvFrom(b.hex, 'local'));
    clock.advance(1_000);
    // A logged in to another relay of the region after its connection here last read: it moved.
    held.set(a.hex, clock.nowMs());
    cb.link.write(encodeSend(a.key, Buffer.from('moved')));
    await waitUntil(() => forwarded.length === 1, 5_000, 'the packet forwarded to the new holder');
    assert.deepEqual(forwarded, [`${a.hex.slice(0, 8)} moved`]);
    // Its connection here reads again (the node came back to this relay): local again.
    clock.advance(1);
    ca.link.write(encodePing(Buffer.from('12345678')));
    await ca.waitFor((m) => m.kind === 'pong');
    cb.link.write(encodeSend(a.key, Buffer.from('back')));
    await ca.waitFor(recvFrom(b.hex, 'back'));
    assert.equal(forwarded.length, 1);
    assert.equal(ca.messages.some(recvFrom(b.hex, 'moved')), false, 'nothing went into the old connection');
    ca.link.close();
    cb.link.close();
  } finally {
    await r.stop();
  }
});
