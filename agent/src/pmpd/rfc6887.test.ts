// RFC 6887 (PCP) sections 7-15, clause by clause, against the whole server (core on a FakeClock and
// the memory backend). Each title names the section and the requirement; where the RFC says SHOULD or
// names no result code, the title says what we chose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PcpResult, decodePcpResponse, encodePcpRequest, type PcpOption, type PcpRequest } from '../pcp/codec.ts';
import { parseIp, toMappedV6 } from '../net/ip.ts';
import { LAN, makeCore, type TestCore } from './testkit.ts';

const v6 = (s: string): Uint8Array => toMappedV6(parseIp(s)!.bytes);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replaceAll(' ', ''), 'hex'));
const NONCE = Uint8Array.from({ length: 12 }, (_, i) => 0xa0 + i);
const OTHER = { address: '192.168.1.11', port: 40002 };
/** 203.0.113.1 as PCP carries it. */
const EXT = v6('203.0.113.1');

interface Over {
  lifetimeSec?: number;
  protocol?: number;
  internalPort?: number;
  externalPort?: number;
  extAddr?: Uint8Array;
  options?: PcpOption[];
  client?: string;
  nonce?: Uint8Array;
}

function mapReq(o: Over = {}): Uint8Array {
  const req: PcpRequest = {
    opcode: 'map',
    lifetimeSec: o.lifetimeSec ?? 3600,
    clientAddress: v6(o.client ?? LAN.address),
    map: { nonce: o.nonce ?? NONCE, protocol: o.protocol ?? 17, internalPort: o.internalPort ?? 5555, externalPort: o.externalPort ?? 0, externalAddress: o.extAddr ?? new Uint8Array(16) },
    options: o.options ?? [],
  };
  return encodePcpRequest(req);
}

function peerReq(o: Over & { remotePort?: number; remote?: string } = {}): Uint8Array {
  const req: PcpRequest = {
    opcode: 'peer',
    lifetimeSec: o.lifetimeSec ?? 3600,
    clientAddress: v6(o.client ?? LAN.address),
    peer: {
      nonce: o.nonce ?? NONCE,
      protocol: o.protocol ?? 17,
      internalPort: o.internalPort ?? 5555,
      externalPort: o.externalPort ?? 0,
      externalAddress: o.extAddr ?? new Uint8Array(16),
      remotePeerPort: o.remotePort ?? 51820,
      remotePeerAddress: v6(o.remote ?? '198.51.100.7'),
    },
    options: o.options ?? [],
  };
  return encodePcpRequest(req);
}

async function started(...a: Parameters<typeof makeCore>): Promise<TestCore> {
  const t = makeCore(...a);
  await t.core.start();
  return t;
}

async function ask(t: TestCore, b: Uint8Array, src = LAN): Promise<Uint8Array> {
  const out = await t.core.handle(b, src);
  assert.ok(out, 'expected an answer');
  return out;
}

const resultOf = async (t: TestCore, b: Uint8Array, src = LAN) => (await ask(t, b, src))[3];

test('RFC 6887 7: a request over 1100 octets or not a multiple of 4 gets MALFORMED_REQUEST', async () => {
  const t = await started();
  assert.equal(await resultOf(t, new Uint8Array(1104).fill(0).map((_, i) => (i === 0 ? 2 : i === 1 ? 1 : 0))), PcpResult.MALFORMED_REQUEST);
  assert.equal(await resultOf(t, bytes('0201' + '00'.repeat(57))), PcpResult.MALFORMED_REQUEST);
  await t.core.stop();
});

test('RFC 6887 8.3: a version-2 request shorter than 24 octets is silently dropped', async () => {
  const t = await started();
  for (const len of [2, 3, 4, 8, 20, 23]) {
    const b = new Uint8Array(len);
    b[0] = 2;
    b[1] = 1;
    assert.equal(await t.core.handle(b, LAN), undefined, `${len} octets`);
  }
  await t.core.stop();
});

test('RFC 6887 8.3: a message shorter than 2 octets or with the R bit set is silently dropped', async () => {
  const t = await started();
  assert.equal(await t.core.handle(bytes('02'), LAN), undefined);
  const resp = mapReq();
  resp[1] = 0x81;
  assert.equal(await t.core.handle(resp, LAN), undefined);
  await t.core.stop();
});

test('RFC 6887 7.2: responses are version 2, R=1, the request opcode, 8 reserved bits 0', async () => {
  const t = await started();
  const ok = await ask(t, mapReq());
  const err = await ask(t, mapReq({ protocol: 0 }));
  for (const r of [ok, err]) assert.deepEqual([r[0], r[1], r[2]], [2, 0x81, 0]);
  await t.core.stop();
});

test('RFC 6887 7.2: the 96 reserved bits are 0 in the response to a request that was parsed (success and error)', async () => {
  const t = await started();
  const ok = await ask(t, mapReq());
  const refused = await ask(t, mapReq({ client: '192.168.1.77' })); // ADDRESS_MISMATCH: parsed, then refused
  assert.equal(refused[3], PcpResult.ADDRESS_MISMATCH);
  for (const r of [ok, refused]) assert.equal(hex(r.subarray(12, 24)), '00'.repeat(12));
  await t.core.stop();
});

test('RFC 6887 7.2: a request that could not be parsed gets the last 96 bits of its client address field in the 96 reserved bits', async () => {
  const t = await started();
  const withClient = (b: Uint8Array) => {
    b.set(v6(LAN.address), 8);
    return b;
  };
  const cases: [string, Uint8Array, number][] = [
    ['not a multiple of 4', withClient(bytes('0201' + '00'.repeat(57))), PcpResult.MALFORMED_REQUEST],
    ['unsupported opcode', withClient(bytes('0209' + '00'.repeat(22))), PcpResult.UNSUPP_OPCODE],
    ['unsupported version', withClient(bytes('0301' + '00'.repeat(58))), PcpResult.UNSUPP_VERSION],
    ['opcode data truncated', withClient(bytes('0201' + '00'.repeat(26))), PcpResult.MALFORMED_REQUEST],
    ['option overruns the message', withClient(new Uint8Array([...mapReq(), 1, 0, 0, 16])), PcpResult.MALFORMED_OPTION],
  ];
  for (const [name, req, want] of cases) {
    const out = await ask(t, req);
    assert.equal(out[3], want, name);
    assert.equal(hex(out.subarray(12, 24)), hex(req.subarray(12, 24)), name);
    assert.equal(hex(out.subarray(12, 24)), '00000000' + '0000ffff' + 'c0a8010a', name);
  }
  await t.core.stop();
});

test('RFC 6887 7.3: an error response is a complete copy of the request with the header set, and changes no state', async () => {
  const t = await started({ policy: { externalPorts: { from: 30000, to: 30000 } } });
  await ask(t, mapReq({ internalPort: 30000, externalPort: 30000, nonce: new Uint8Array(12) }));
  const req = mapReq({ internalPort: 30001, externalPort: 30000, options: [{ kind: 'preferFailure' }] });
  const out = await ask(t, req);
  assert.equal(out[3], PcpResult.CANNOT_PROVIDE_EXTERNAL);
  assert.equal(out.length, req.length);
  assert.deepEqual(out.subarray(24), req.subarray(24));
  assert.equal(t.core.table.size, 1);
  assert.equal((await t.backend.list()).length, 1);
  await t.core.stop();
});

test('RFC 6887 7.3: an option allowed once but repeated gets MALFORMED_OPTION', async () => {
  const t = await started();
  assert.equal(await resultOf(t, mapReq({ options: [{ kind: 'preferFailure' }, { kind: 'preferFailure' }], externalPort: 5555 })), PcpResult.MALFORMED_OPTION);
  await t.core.stop();
});

test('RFC 6887 7.3: an option longer than the packet gets MALFORMED_OPTION (SHOULD, rather than MALFORMED_REQUEST)', async () => {
  const t = await started();
  assert.equal(await resultOf(t, new Uint8Array([...mapReq(), 3, 0, 0, 20])), PcpResult.MALFORMED_OPTION);
  await t.core.stop();
});

test('RFC 6887 7.3: an unknown mandatory option (0-127) gets UNSUPP_OPTION; an unknown optional one (128-255) is ignored and not echoed', async () => {
  const t = await started();
  assert.equal(await resultOf(t, mapReq({ options: [{ kind: 'unknown', code: 99, data: new Uint8Array(4) }] })), PcpResult.UNSUPP_OPTION);
  const ok = decodePcpResponse(await ask(t, mapReq({ options: [{ kind: 'unknown', code: 200, data: new Uint8Array(4) }] })));
  assert.equal(ok.result, PcpResult.SUCCESS);
  assert.deepEqual(ok.options, []);
  await t.core.stop();
});

test('RFC 6887 7.4: long-lifetime errors carry 30 min, short-lifetime errors (NO_RESOURCES, NETWORK_FAILURE...) 30 s', async () => {
  const t = await started({ policy: { maxMappings: 1 } });
  await ask(t, mapReq());
  assert.equal(decodePcpResponse(await ask(t, mapReq({ internalPort: 6000 }), OTHER)).lifetimeSec, 1800, 'ADDRESS_MISMATCH is long');
  const full = decodePcpResponse(await ask(t, mapReq({ internalPort: 6000, client: OTHER.address }), OTHER));
  assert.deepEqual([full.result, full.lifetimeSec], [PcpResult.NO_RESOURCES, 30]);
  await t.core.stop();
});

test('RFC 6887 8.3: a client address field that is not the packet source gets ADDRESS_MISMATCH', async () => {
  const t = await started();
  assert.equal(await resultOf(t, mapReq({ client: '192.168.1.99' })), PcpResult.ADDRESS_MISMATCH);
  await t.core.stop();
});

test('RFC 6887 8.3: an overloaded server MAY drop or answer NO_RESOURCES: the global cap (pmp.maxMappings) answers NO_RESOURCES', async () => {
  const t = await started({ policy: { maxMappings: 1 } });
  await ask(t, mapReq());
  const r = decodePcpResponse(await ask(t, mapReq({ internalPort: 6000, client: OTHER.address }), OTHER));
  assert.equal(r.result, PcpResult.NO_RESOURCES);
  await t.core.stop();
});

test('RFC 6887 8.5: every response carries the epoch; it restarts when the mappings are lost, with ANNOUNCE sent', async () => {
  const t = await started();
  await ask(t, mapReq());
  t.clock.advance(42_000);
  assert.equal(decodePcpResponse(await ask(t, mapReq())).epochSec, 42);
  assert.equal(decodePcpResponse(await ask(t, mapReq({ protocol: 0 }))).epochSec, 42, 'errors carry it too');
  t.sent.length = 0;
  await t.backend.flush();
  await t.core.checkBackend();
  t.clock.advance(0);
  assert.equal(decodePcpResponse(await ask(t, mapReq())).epochSec, 0);
  assert.ok(t.sent.some((s) => s.a.protocol === 'pcp' && decodePcpResponse(s.packet).opcode === 'announce'));
  await t.core.stop();
});

test('RFC 6887 9: an unsupported version gets UNSUPP_VERSION with version 2, the version we speak', async () => {
  const t = await started();
  const out = await ask(t, bytes('0301' + '00'.repeat(58)));
  assert.deepEqual([out[0], out[3]], [2, PcpResult.UNSUPP_VERSION]);
  await t.core.stop();
});

test('RFC 6887 11.1: a MAP success copies nonce, protocol and internal port, and assigns external port and address', async () => {
  const t = await started();
  const r = decodePcpResponse(await ask(t, mapReq({ internalPort: 6100, externalPort: 6100 })));
  assert.ok(r.opcode === 'map');
  assert.deepEqual([r.result, hex(r.map.nonce), r.map.protocol, r.map.internalPort, r.map.externalPort, hex(r.map.externalAddress)], [0, hex(NONCE), 17, 6100, 6100, hex(EXT)]);
  await t.core.stop();
});

test('RFC 6887 11.1: a MAP error copies the suggested external port and address into the assigned fields', async () => {
  const t = await started({ policy: { internalPorts: { from: 10000, to: 20000 } } });
  const r = decodePcpResponse(await ask(t, mapReq({ internalPort: 6200, externalPort: 6201, extAddr: v6('203.0.113.50') })));
  assert.ok(r.opcode === 'map');
  assert.deepEqual([r.result, r.map.externalPort, hex(r.map.externalAddress)], [PcpResult.NOT_AUTHORIZED, 6201, hex(v6('203.0.113.50'))]);
  await t.core.stop();
});

test('RFC 6887 11.3: a refresh with the same nonce keeps the assigned port; another nonce gets NOT_AUTHORIZED', async () => {
  const t = await started();
  const a = decodePcpResponse(await ask(t, mapReq({ internalPort: 6300 })));
  const b = decodePcpResponse(await ask(t, mapReq({ internalPort: 6300, externalPort: 7000 })));
  assert.ok(a.opcode === 'map' && b.opcode === 'map');
  assert.equal(b.map.externalPort, a.map.externalPort);
  assert.equal(await resultOf(t, mapReq({ internalPort: 6300, nonce: new Uint8Array(12) })), PcpResult.NOT_AUTHORIZED);
  await t.core.stop();
});

test('RFC 6887 13.2: MAP with PREFER_FAILURE and an unavailable suggested port gets CANNOT_PROVIDE_EXTERNAL, no other mapping', async () => {
  const t = await started();
  await ask(t, mapReq({ internalPort: 6400, externalPort: 6400 }), LAN);
  const other = mapReq({ internalPort: 6400, externalPort: 6400, client: OTHER.address, options: [{ kind: 'preferFailure' }] });
  assert.equal(await resultOf(t, other, OTHER), PcpResult.CANNOT_PROVIDE_EXTERNAL);
  assert.equal(t.core.table.ofClient(OTHER.address).length, 0);
  await t.core.stop();
});

test('RFC 6887 12.1: a PEER request with PREFER_FAILURE MUST get MALFORMED_REQUEST', async () => {
  const t = await started();
  assert.equal(await resultOf(t, peerReq({ options: [{ kind: 'preferFailure' }] })), PcpResult.MALFORMED_REQUEST);
  assert.equal(t.core.table.size, 0);
  await t.core.stop();
});

test('RFC 6887 12.1: PEER implies PREFER_FAILURE: a suggested external port that cannot be honoured MUST get CANNOT_PROVIDE_EXTERNAL', async () => {
  const t = await started();
  await ask(t, mapReq({ internalPort: 6500, externalPort: 6500 }));
  const out = decodePcpResponse(await ask(t, peerReq({ internalPort: 6500, externalPort: 6500, client: OTHER.address }), OTHER));
  assert.equal(out.result, PcpResult.CANNOT_PROVIDE_EXTERNAL);
  assert.equal(t.core.table.ofClient(OTHER.address).length, 0);
  const other = decodePcpResponse(await ask(t, peerReq({ internalPort: 6500, extAddr: v6('203.0.113.77'), client: OTHER.address }), OTHER));
  assert.equal(other.result, PcpResult.CANNOT_PROVIDE_EXTERNAL, 'an external address that is not ours');
  const free = decodePcpResponse(await ask(t, peerReq({ internalPort: 6501, client: OTHER.address }), OTHER));
  assert.equal(free.result, PcpResult.SUCCESS, 'no suggestion: any port');
  await t.core.stop();
});

test('RFC 6887 12.1: PEER protocol, internal port and remote peer port MUST NOT be zero (we answer MALFORMED_REQUEST)', async () => {
  const t = await started();
  assert.equal(await resultOf(t, peerReq({ protocol: 0 })), PcpResult.MALFORMED_REQUEST);
  assert.equal(await resultOf(t, peerReq({ internalPort: 0 })), PcpResult.MALFORMED_REQUEST);
  assert.equal(await resultOf(t, peerReq({ remotePort: 0 })), PcpResult.MALFORMED_REQUEST);
  await t.core.stop();
});

test('RFC 6887 12.1: PEER cannot delete (lifetime 0) or shorten a mapping', async () => {
  const t = await started();
  const a = decodePcpResponse(await ask(t, peerReq({ lifetimeSec: 3600 })));
  assert.equal(a.result, 0);
  t.clock.advance(100_000);
  const zero = decodePcpResponse(await ask(t, peerReq({ lifetimeSec: 0 })));
  assert.deepEqual([zero.result, zero.lifetimeSec], [0, 3500]);
  assert.equal((await t.backend.list()).length, 1);
  const shorter = decodePcpResponse(await ask(t, peerReq({ lifetimeSec: 200 })));
  assert.equal(shorter.lifetimeSec, 3500);
  await t.core.stop();
});

test('RFC 6887 13.3: FILTER is MAP-only: on PEER it is refused (no code named; we answer MALFORMED_OPTION)', async () => {
  const t = await started();
  const filter: PcpOption = { kind: 'filter', prefixLength: 128, remotePeerPort: 0, remotePeerAddress: v6('198.51.100.7') };
  assert.equal(await resultOf(t, peerReq({ options: [filter] })), PcpResult.MALFORMED_OPTION);
  await t.core.stop();
});

test('RFC 6887 13.1: a THIRD_PARTY option naming the source address itself MUST get MALFORMED_REQUEST', async () => {
  const t = await started({ policy: { allowThirdParty: true } });
  assert.equal(await resultOf(t, mapReq({ options: [{ kind: 'thirdParty', internalAddress: v6(LAN.address) }] })), PcpResult.MALFORMED_REQUEST);
  assert.equal(t.core.table.size, 0);
  await t.core.stop();
});

test('RFC 6887 13.3: FILTER prefix length 0 means no filter; an IPv4 prefix outside 97-128 is MALFORMED_OPTION', async () => {
  const t = await started();
  const none = decodePcpResponse(await ask(t, mapReq({ options: [{ kind: 'filter', prefixLength: 0, remotePeerPort: 0, remotePeerAddress: new Uint8Array(16) }] })));
  assert.equal(none.result, 0);
  assert.equal((await t.backend.list())[0]!.remote, undefined);
  assert.equal(await resultOf(t, mapReq({ internalPort: 6600, options: [{ kind: 'filter', prefixLength: 24, remotePeerPort: 0, remotePeerAddress: v6('198.51.100.0') }] })), PcpResult.MALFORMED_OPTION);
  await t.core.stop();
});

test('RFC 6887 14.1: an ANNOUNCE request gets SUCCESS with lifetime 0 and no opcode data', async () => {
  const t = await started();
  t.clock.advance(5000);
  const out = await ask(t, encodePcpRequest({ opcode: 'announce', lifetimeSec: 0, clientAddress: v6(LAN.address), options: [] }));
  assert.equal(hex(out), '02800000' + '00000000' + '00000005' + '00'.repeat(12));
  await t.core.stop();
});

test('RFC 6887 14.1.3: at start, unsolicited ANNOUNCE to 224.0.0.1:5350 and [ff02::1]:5350', async () => {
  const t = makeCore({ announceIpv6: true });
  await t.core.start();
  t.clock.advance(200_000);
  const pcp = t.sent.filter((s) => s.a.protocol === 'pcp');
  assert.deepEqual([...new Set(pcp.map((s) => `${s.a.group}:${s.a.port}`))].sort(), ['224.0.0.1:5350', 'ff02::1:5350']);
  assert.equal(pcp.length, 20);
  assert.ok(pcp.every((s) => hex(s.packet.subarray(0, 4)) === '02800000'));
  await t.core.stop();
});

test('RFC 6887 15: MAP lifetime 0 deletes; deleting a mapping that does not exist is SUCCESS; lifetimes are clamped to [min, max]', async () => {
  const t = await started();
  assert.equal(decodePcpResponse(await ask(t, mapReq({ lifetimeSec: 999_999 }))).lifetimeSec, 7200);
  const del = decodePcpResponse(await ask(t, mapReq({ lifetimeSec: 0 })));
  assert.deepEqual([del.result, del.lifetimeSec], [0, 0]);
  assert.deepEqual(await t.backend.list(), []);
  assert.equal(decodePcpResponse(await ask(t, mapReq({ lifetimeSec: 0 }))).result, 0);
  assert.equal(decodePcpResponse(await ask(t, mapReq({ lifetimeSec: 1 }))).lifetimeSec, 120);
  await t.core.stop();
});
