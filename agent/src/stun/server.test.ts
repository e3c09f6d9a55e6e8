import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { realClock } from '../clock/clock.ts';
import { ConegateError } from '../errors.ts';
import { answerBinding, StunServer, type StunServerGroup } from './server.ts';
import { ATTR, bindingRequest, decodeStun, encodeStun, METHOD_BINDING } from './codec.ts';
import { StunClient } from './client.ts';
import { openDgramBind } from './dgram-bind.ts';
import { MemoryNetwork } from './memory-bind.ts';

const TID = Uint8Array.from({ length: 12 }, (_, i) => i + 1);
const FROM = { address: '192.0.2.7', port: 40001 };
const G: StunServerGroup = { primary: { address: '203.0.113.1', port: 3478 }, other: { address: '203.0.113.2', port: 3479 } };

test('answerBinding: plain request gets XOR-MAPPED, RESPONSE-ORIGIN, OTHER-ADDRESS from the same slot', () => {
  const a = answerBinding(bindingRequest(TID, { fingerprint: true }), FROM, { ip: 0, port: 0 }, G)!;
  assert.deepEqual(a.via, { ip: 0, port: 0 });
  const m = decodeStun(a.reply);
  assert.equal(m.kind, 'success');
  assert.deepEqual(m.transactionId, TID);
  assert.deepEqual(m.xorMappedAddress, { family: 4, ...FROM });
  assert.equal(m.mappedAddress, undefined, 'MAPPED-ADDRESS only serves RFC 3489 clients, which isStun drops');
  assert.deepEqual(m.responseOrigin, { family: 4, address: '203.0.113.1', port: 3478 });
  assert.deepEqual(m.otherAddress, { family: 4, address: '203.0.113.2', port: 3479 });
  assert.equal(m.fingerprint, true);
});

test('answerBinding: CHANGE-REQUEST picks the slot with the other IP and/or port (RFC 5780)', () => {
  const cases = [
    [{ changeIp: true, changePort: true }, { ip: 0, port: 0 }, { ip: 1, port: 1 }, '203.0.113.2:3479'],
    [{ changePort: true }, { ip: 0, port: 0 }, { ip: 0, port: 1 }, '203.0.113.1:3479'],
    [{ changeIp: true }, { ip: 0, port: 0 }, { ip: 1, port: 0 }, '203.0.113.2:3478'],
    [{ changeIp: true, changePort: true }, { ip: 1, port: 1 }, { ip: 0, port: 0 }, '203.0.113.1:3478'],
  ] as const;
  for (const [flags, at, via, origin] of cases) {
    const a = answerBinding(bindingRequest(TID, flags), FROM, at, G)!;
    assert.deepEqual(a.via, via);
    const m = decodeStun(a.reply);
    assert.equal(`${m.responseOrigin!.address}:${m.responseOrigin!.port}`, origin);
  }
  // OTHER-ADDRESS is relative to the socket the request reached.
  assert.deepEqual(decodeStun(answerBinding(bindingRequest(TID), FROM, { ip: 1, port: 1 }, G)!.reply).otherAddress, { family: 4, address: '203.0.113.1', port: 3478 });
});

test('answerBinding: CHANGE-REQUEST without an alternate, or an unknown required attribute, is a 420', () => {
  const single = { primary: G.primary };
  const a = answerBinding(bindingRequest(TID, { changePort: true }), FROM, { ip: 0, port: 0 }, single)!;
  const m = decodeStun(a.reply);
  assert.equal(m.kind, 'error');
  assert.deepEqual(m.errorCode, { code: 420, reason: 'Unknown Attribute' });
  assert.deepEqual(m.unknownAttributes, [ATTR.CHANGE_REQUEST]);
  const odd = encodeStun({ kind: 'request', method: METHOD_BINDING, transactionId: TID, unknown: [{ type: 0x7777, value: new Uint8Array(4) }, { type: 0x8fff, value: new Uint8Array(1) }] });
  assert.deepEqual(decodeStun(answerBinding(odd, FROM, { ip: 0, port: 0 }, G)!.reply).unknownAttributes, [0x7777]);
  // An ICE check's USERNAME / PRIORITY / MESSAGE-INTEGRITY do not stop a Binding answer.
  const ice = encodeStun({ kind: 'request', method: METHOD_BINDING, transactionId: TID, unknown: [{ type: ATTR.USERNAME, value: new Uint8Array(3) }, { type: 0x0024, value: new Uint8Array(4) }] });
  assert.equal(decodeStun(answerBinding(ice, FROM, { ip: 0, port: 0 }, G)!.reply).kind, 'success');
});

test('answerBinding: RESPONSE-PORT is refused with 420 (no reflection to another port of the source)', () => {
  const req = encodeStun({ kind: 'request', method: METHOD_BINDING, transactionId: TID, responsePort: 53, changeRequest: { changeIp: true, changePort: true } });
  const a = answerBinding(req, FROM, { ip: 0, port: 0 }, G)!;
  assert.deepEqual(a.to, FROM);
  assert.deepEqual(a.via, { ip: 0, port: 0 });
  const m = decodeStun(a.reply);
  assert.equal(m.kind, 'error');
  assert.deepEqual(m.unknownAttributes, [ATTR.RESPONSE_PORT]);
});

test('answerBinding: drops junk, responses, indications and other methods; IPv6 works', () => {
  const at = { ip: 0, port: 0 } as const;
  assert.equal(answerBinding(new Uint8Array([1, 2, 3]), FROM, at, G), undefined);
  assert.equal(answerBinding(encodeStun({ kind: 'success', method: 1, transactionId: TID }), FROM, at, G), undefined);
  assert.equal(answerBinding(encodeStun({ kind: 'indication', method: 1, transactionId: TID }), FROM, at, G), undefined);
  assert.equal(answerBinding(encodeStun({ kind: 'request', method: 3, transactionId: TID }), FROM, at, G), undefined);
  const v6 = { primary: { address: '2001:db8::1', port: 3478 } };
  const m = decodeStun(answerBinding(bindingRequest(TID), { address: '2001:db8::99', port: 5 }, at, v6)!.reply);
  assert.deepEqual(m.xorMappedAddress, { family: 6, address: '2001:db8::99', port: 5 });
});

test('server groups are validated: same family, distinct IP and port', () => {
  const bad: StunServerGroup[] = [
    { primary: { address: 'localhost', port: 1 } },
    { primary: { address: '203.0.113.1', port: 1 }, other: { address: '2001:db8::1', port: 2 } },
    { primary: { address: '203.0.113.1', port: 1 }, other: { address: '203.0.113.2', port: 1 } },
    { primary: { address: '203.0.113.1', port: 1 }, other: { address: '203.0.113.1', port: 2 } },
  ];
  for (const g of bad) assert.throws(() => new StunServer([g], { openBind: async () => { throw new Error('unused'); } }), (e: unknown) => e instanceof ConegateError && e.code === 'CG_USAGE');
});

test('StunServer + StunClient over the memory network: four sockets, change requests answered from the alternate', async () => {
  const net = new MemoryNetwork();
  const server = new StunServer([G], { openBind: async (a, p) => net.bind(a, p) });
  await server.start();
  assert.equal(server.endpoints.length, 4);
  const client = new StunClient({ bind: net.bind('192.0.2.7', 40001), clock: realClock, randomBytes: (n) => randomBytes(n) });
  const o = await client.binding(G.primary, { changeIp: true, changePort: true, expectFrom: G.other!, retransmit: { rtoMs: 50, rc: 3, rm: 4 } });
  assert.ok(o.ok);
  assert.deepEqual(o.mapped, { family: 4, ...FROM });
  assert.deepEqual(server.stats, { answered: 1, changed: 1, errors: 0, dropped: 0, limited: 0 });
  client.close();
  await server.stop();
  await server.stop();
});

test('StunServer over real loopback sockets (127.0.0.1 + 127.0.0.2, and ::1), ports chosen by the OS', async () => {
  const server = new StunServer([{ primary: { address: '127.0.0.1', port: 0 }, other: { address: '127.0.0.2', port: 0 } }, { primary: { address: '::1', port: 0 } }], { openBind: openDgramBind });
  await server.start();
  try {
    const [g4, g6] = server.resolved;
    const bind = await openDgramBind('127.0.0.1');
    const client = new StunClient({ bind, clock: realClock, randomBytes: (n) => randomBytes(n) });
    const rt = { rtoMs: 100, rc: 4, rm: 8 };
    const plain = await client.binding(g4!.primary, { retransmit: rt });
    assert.ok(plain.ok);
    assert.deepEqual(plain.mapped, { family: 4, ...bind.local });
    assert.deepEqual(plain.otherAddress, { family: 4, ...g4!.other! });
    const changed = await client.binding(g4!.primary, { changeIp: true, changePort: true, expectFrom: g4!.other!, retransmit: rt });
    assert.ok(changed.ok);
    assert.deepEqual(changed.from, g4!.other);
    client.close();
    await bind.close();
    const bind6 = await openDgramBind('::1');
    const c6 = new StunClient({ bind: bind6, clock: realClock, randomBytes: (n) => randomBytes(n) });
    const o6 = await c6.binding(g6!.primary, { retransmit: rt });
    assert.ok(o6.ok);
    assert.deepEqual(o6.mapped, { family: 6, address: '::1', port: bind6.local.port });
    c6.close();
    await bind6.close();
  } finally {
    await server.stop();
  }
});
