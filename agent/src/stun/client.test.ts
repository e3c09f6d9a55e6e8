import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../clock/clock.ts';
import { MemoryNetwork } from './memory-bind.ts';
import { RFC8489_RETRANSMIT, retransmitPlan, StunClient } from './client.ts';
import { decodeStun, encodeStun, isStun, METHOD_BINDING } from './codec.ts';
import type { UdpBind } from './bind.ts';

/** Deterministic transaction ids: 1, 2, 3... in the last byte. */
function counterIds(): (n: number) => Uint8Array {
  let i = 0;
  return (n) => {
    const b = new Uint8Array(n);
    b[n - 1] = ++i;
    return b;
  };
}

/** Lets queued microtasks (memory network deliveries, promise callbacks) run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

test('retransmit plan: RFC 8489 section 6.2.1 defaults (RTO 500 ms doubling, Rc 7, Rm 16)', () => {
  assert.deepEqual(retransmitPlan(RFC8489_RETRANSMIT), [
    { atMs: 0, action: 'send', attempt: 1 },
    { atMs: 500, action: 'send', attempt: 2 },
    { atMs: 1500, action: 'send', attempt: 3 },
    { atMs: 3500, action: 'send', attempt: 4 },
    { atMs: 7500, action: 'send', attempt: 5 },
    { atMs: 15500, action: 'send', attempt: 6 },
    { atMs: 31500, action: 'send', attempt: 7 },
    { atMs: 39500, action: 'give-up' },
  ]);
});

test('retransmit plan: a deadline cuts sends and moves the give-up', () => {
  assert.deepEqual(retransmitPlan({ rtoMs: 250, rc: 7, rm: 16, deadlineMs: 3000 }), [
    { atMs: 0, action: 'send', attempt: 1 },
    { atMs: 250, action: 'send', attempt: 2 },
    { atMs: 750, action: 'send', attempt: 3 },
    { atMs: 1750, action: 'send', attempt: 4 },
    { atMs: 3000, action: 'give-up' },
  ]);
  assert.deepEqual(retransmitPlan({ rtoMs: 100, rc: 1, rm: 5 }), [{ atMs: 0, action: 'send', attempt: 1 }, { atMs: 500, action: 'give-up' }]);
});

/** A hand-driven server on the memory network: records requests, answers only when told. */
function manualServer(net: MemoryNetwork, address: string, port: number): { bind: UdpBind; requests: { bytes: Uint8Array; from: { address: string; port: number } }[] } {
  const bind = net.bind(address, port);
  const requests: { bytes: Uint8Array; from: { address: string; port: number } }[] = [];
  bind.onMessage((bytes, from) => requests.push({ bytes, from }));
  return { bind, requests };
}

function successFor(req: Uint8Array, mapped: { address: string; port: number }, tidOverride?: Uint8Array): Uint8Array {
  const m = decodeStun(req);
  return encodeStun({ kind: 'success', method: METHOD_BINDING, transactionId: tidOverride ?? m.transactionId, xorMappedAddress: { family: 4, ...mapped } });
}

test('client retransmits on the plan, then times out; every send reached the server', async () => {
  const clock = new FakeClock();
  const net = new MemoryNetwork();
  const srv = manualServer(net, '203.0.113.1', 3478);
  const client = new StunClient({ bind: net.bind('192.0.2.10', 5000), clock, randomBytes: counterIds() });
  const outcome = client.binding({ address: '203.0.113.1', port: 3478 });
  clock.advance(39499);
  await settle();
  assert.equal(srv.requests.length, 7);
  assert.ok(srv.requests.every((r) => isStun(r.bytes) && decodeStun(r.bytes).fingerprint === true));
  clock.advance(1);
  assert.deepEqual(await outcome, { ok: false, reason: 'timeout', sends: 7 });
  assert.equal(clock.pendingTimers(), 0);
});

test('client ignores a wrong transaction id and a wrong source, accepts the real answer', async () => {
  const clock = new FakeClock();
  const net = new MemoryNetwork();
  const srv = manualServer(net, '203.0.113.1', 3478);
  const spoofer = net.bind('203.0.113.66', 3478);
  const wrongPort = net.bind('203.0.113.1', 3479);
  const bind = net.bind('192.0.2.10', 5000);
  const client = new StunClient({ bind, clock, randomBytes: counterIds() });
  const outcome = client.binding({ address: '203.0.113.1', port: 3478 }, { retransmit: { rtoMs: 100, rc: 3, rm: 4 } });
  clock.advance(0);
  await settle();
  const req = srv.requests[0]!.bytes;
  await srv.bind.send(successFor(req, { address: '198.51.100.1', port: 1 }, new Uint8Array(12).fill(9)), '192.0.2.10', 5000);
  await spoofer.send(successFor(req, { address: '198.51.100.2', port: 2 }), '192.0.2.10', 5000);
  await wrongPort.send(successFor(req, { address: '198.51.100.3', port: 3 }), '192.0.2.10', 5000);
  await srv.bind.send(new Uint8Array([1, 2, 3]), '192.0.2.10', 5000);
  const corrupt = successFor(req, { address: '198.51.100.4', port: 4 });
  corrupt[22] = 0xff; // attribute length now runs past the message
  await srv.bind.send(corrupt, '192.0.2.10', 5000);
  await settle();
  assert.deepEqual(client.stats, { sent: 1, answered: 0, ignoredNotStun: 1, ignoredMalformed: 1, ignoredUnknownTransaction: 1, ignoredWrongSource: 2 });
  clock.advance(30);
  await srv.bind.send(successFor(req, { address: '192.0.2.99', port: 6000 }), '192.0.2.10', 5000);
  const o = await outcome;
  assert.equal(o.ok, true);
  assert.ok(o.ok);
  assert.deepEqual(o.mapped, { family: 4, address: '192.0.2.99', port: 6000 });
  assert.equal(o.rttMs, 30);
  assert.equal(client.stats.answered, 1);
  assert.equal(clock.pendingTimers(), 0);
});

test('a CHANGE-REQUEST answer is accepted only from the expected alternate', async () => {
  const clock = new FakeClock();
  const net = new MemoryNetwork();
  const srv = manualServer(net, '203.0.113.1', 3478);
  const alt = net.bind('203.0.113.2', 3479);
  const client = new StunClient({ bind: net.bind('192.0.2.10', 5000), clock, randomBytes: counterIds() });
  const outcome = client.binding({ address: '203.0.113.1', port: 3478 }, { changeIp: true, changePort: true, expectFrom: { address: '203.0.113.2', port: 3479 } });
  clock.advance(0);
  await settle();
  const req = decodeStun(srv.requests[0]!.bytes);
  assert.deepEqual(req.changeRequest, { changeIp: true, changePort: true });
  await srv.bind.send(successFor(srv.requests[0]!.bytes, { address: '192.0.2.10', port: 5000 }), '192.0.2.10', 5000);
  await settle();
  assert.equal(client.stats.ignoredWrongSource, 1);
  await alt.send(successFor(srv.requests[0]!.bytes, { address: '192.0.2.10', port: 5000 }), '192.0.2.10', 5000);
  const o = await outcome;
  assert.ok(o.ok);
  assert.deepEqual(o.from, { address: '203.0.113.2', port: 3479 });
});

test('error responses, abort and close end transactions without leaving timers', async () => {
  const clock = new FakeClock();
  const net = new MemoryNetwork();
  const srv = manualServer(net, '203.0.113.1', 3478);
  const client = new StunClient({ bind: net.bind('192.0.2.10', 5000), clock, randomBytes: counterIds() });
  const first = client.binding({ address: '203.0.113.1', port: 3478 });
  clock.advance(0);
  await settle();
  const tid = decodeStun(srv.requests[0]!.bytes).transactionId;
  await srv.bind.send(encodeStun({ kind: 'error', method: 1, transactionId: tid, errorCode: { code: 420, reason: 'Unknown Attribute' } }), '192.0.2.10', 5000);
  assert.deepEqual(await first, { ok: false, reason: 'error-response', error: { code: 420, reason: 'Unknown Attribute' }, sends: 1 });

  const ac = new AbortController();
  const second = client.binding({ address: '203.0.113.1', port: 3478 }, { signal: ac.signal });
  ac.abort();
  assert.equal((await second).ok, false);
  const third = client.binding({ address: '203.0.113.1', port: 3478 });
  client.close();
  assert.deepEqual(await third, { ok: false, reason: 'aborted', sends: 0 });
  assert.equal(clock.pendingTimers(), 0);
});
