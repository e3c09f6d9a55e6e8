import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../errors.ts';
import { parseIp, toMappedV6 } from '../net/ip.ts';
import {
  PcpResult,
  PcpProtocolNumber,
  decodePcpRequest,
  decodePcpResponse,
  encodePcpAnnouncement,
  encodePcpErrorResponse,
  encodePcpRequest,
  encodePcpResponse,
  pcpErrorLifetimeSec,
  pcpErrorResultOf,
  pcpResultName,
  type PcpOption,
  type PcpRequest,
  type PcpResponse,
} from './codec.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const v4 = (s: string): Uint8Array => toMappedV6(parseIp(s)!.bytes);
const NONCE = unhex('0102030405060708090a0b0c');
const ZERO16 = new Uint8Array(16);

// Golden vectors written from the RFC 6887 layouts (sections 7.1, 11.1, 12.1, 13.2-13.3).
const MAP_REQ: PcpRequest = {
  opcode: 'map',
  lifetimeSec: 7200,
  clientAddress: v4('192.168.1.10'),
  map: { nonce: NONCE, protocol: PcpProtocolNumber.UDP, internalPort: 5555, externalPort: 0, externalAddress: ZERO16 },
  options: [],
};
const MAP_REQ_HEX =
  '0201 0000 00001c20 00000000000000000000ffffc0a8010a' +
  '0102030405060708090a0b0c 11 000000 15b3 0000 00000000000000000000000000000000';

const PEER_REQ: PcpRequest = {
  opcode: 'peer',
  lifetimeSec: 120,
  clientAddress: v4('192.168.1.10'),
  peer: {
    nonce: NONCE,
    protocol: PcpProtocolNumber.TCP,
    internalPort: 22,
    externalPort: 2222,
    externalAddress: v4('203.0.113.1'),
    remotePeerPort: 443,
    remotePeerAddress: v4('198.51.100.9'),
  },
  options: [],
};
const PEER_REQ_HEX =
  '0202 0000 00000078 00000000000000000000ffffc0a8010a' +
  '0102030405060708090a0b0c 06 000000 0016 08ae 00000000000000000000ffffcb007101' +
  '01bb 0000 00000000000000000000ffffc6336409';

const OPTIONS: PcpOption[] = [
  { kind: 'thirdParty', internalAddress: v4('192.168.1.20') },
  { kind: 'preferFailure' },
  { kind: 'filter', prefixLength: 128, remotePeerPort: 51820, remotePeerAddress: v4('198.51.100.9') },
];
const OPTIONS_HEX =
  '01 00 0010 00000000000000000000ffffc0a80114' + '02 00 0000' + '03 00 0014 00 80 ca6c 00000000000000000000ffffc6336409';

test('pcp golden: MAP request', () => {
  assert.equal(hex(encodePcpRequest(MAP_REQ)), MAP_REQ_HEX.replace(/\s+/g, ''));
  assert.deepEqual(decodePcpRequest(unhex(MAP_REQ_HEX)), MAP_REQ);
});

test('pcp golden: PEER request', () => {
  assert.equal(hex(encodePcpRequest(PEER_REQ)), PEER_REQ_HEX.replace(/\s+/g, ''));
  assert.deepEqual(decodePcpRequest(unhex(PEER_REQ_HEX)), PEER_REQ);
});

test('pcp golden: MAP request with THIRD_PARTY, PREFER_FAILURE, FILTER', () => {
  const req = { ...MAP_REQ, options: OPTIONS };
  const wire = MAP_REQ_HEX + OPTIONS_HEX;
  assert.equal(hex(encodePcpRequest(req)), wire.replace(/\s+/g, ''));
  assert.deepEqual(decodePcpRequest(unhex(wire)), req);
});

test('pcp golden: unknown option kept raw, padded', () => {
  const req: PcpRequest = { opcode: 'announce', lifetimeSec: 0, clientAddress: ZERO16, options: [{ kind: 'unknown', code: 200, data: Uint8Array.of(1, 2, 3) }] };
  const wire = '0200 0000 00000000 00000000000000000000000000000000 c8 00 0003 01020300';
  assert.equal(hex(encodePcpRequest(req)), wire.replace(/\s+/g, ''));
  assert.deepEqual(decodePcpRequest(unhex(wire)), req);
});

test('pcp golden: MAP success response', () => {
  const resp: PcpResponse = {
    opcode: 'map',
    result: PcpResult.SUCCESS,
    lifetimeSec: 3600,
    epochSec: 77,
    map: { nonce: NONCE, protocol: 17, internalPort: 5555, externalPort: 40000, externalAddress: v4('203.0.113.1') },
    options: [],
  };
  const wire =
    '0281 00 00 00000e10 0000004d 000000000000000000000000' +
    '0102030405060708090a0b0c 11 000000 15b3 9c40 00000000000000000000ffffcb007101';
  assert.equal(hex(encodePcpResponse(resp)), wire.replace(/\s+/g, ''));
  assert.deepEqual(decodePcpResponse(unhex(wire)), resp);
});

test('pcp golden: ANNOUNCE announcement', () => {
  const b = encodePcpAnnouncement(0);
  assert.equal(hex(b), '028000000000000000000000000000000000000000000000');
  assert.deepEqual(decodePcpResponse(b), { opcode: 'announce', result: 0, lifetimeSec: 0, epochSec: 0, options: [] });
});

test('pcp error response copies the request and sets server fields (RFC 6887 8.3)', () => {
  const req = unhex(MAP_REQ_HEX);
  const out = encodePcpErrorResponse(req, PcpResult.NOT_AUTHORIZED, 42);
  assert.equal(out.length, req.length);
  assert.equal(hex(out.subarray(0, 24)), '02810002' + '00000708' + '0000002a' + '000000000000000000000000');
  assert.deepEqual(out.subarray(24), req.subarray(24));
  const decoded = decodePcpResponse(out);
  assert.equal(decoded.opcode, 'map');
  assert.equal(decoded.result, PcpResult.NOT_AUTHORIZED);
  // Short and odd-length requests still get a full, 4-aligned header.
  const odd = encodePcpErrorResponse(unhex('0301020304'), PcpResult.UNSUPP_VERSION, 1);
  assert.equal(odd.length, 24);
  assert.equal(odd[0], 2);
  assert.deepEqual(decodePcpResponse(odd), { opcode: 'other', rawOpcode: 1, result: 1, lifetimeSec: 1800, epochSec: 1, options: [] });
  assert.equal(encodePcpErrorResponse(new Uint8Array(1200).fill(2), PcpResult.MALFORMED_REQUEST, 0).length, 1100);
});

test('pcp request failures carry the result code to answer with, or none to drop', () => {
  const cases: [string, number | undefined][] = [
    ['02', undefined],
    ['0281' + '00'.repeat(22), undefined],
    ['0001' + '00'.repeat(22), PcpResult.UNSUPP_VERSION],
    ['0201' + '00'.repeat(21), undefined],
    ['0201' + '00'.repeat(18), undefined],
    ['0201' + '00'.repeat(23), PcpResult.MALFORMED_REQUEST],
    ['0201' + '00'.repeat(26), PcpResult.MALFORMED_REQUEST],
    ['0205' + '00'.repeat(22), PcpResult.UNSUPP_OPCODE],
    ['0200' + '00'.repeat(1100), PcpResult.MALFORMED_REQUEST],
    [MAP_REQ_HEX + '01000010', PcpResult.MALFORMED_OPTION],
    [MAP_REQ_HEX + '0100000c' + '00'.repeat(12), PcpResult.MALFORMED_OPTION],
    [MAP_REQ_HEX + '02000004 00000000', PcpResult.MALFORMED_OPTION],
  ];
  for (const [wire, want] of cases) {
    try {
      decodePcpRequest(unhex(wire));
      assert.fail(`decoded ${wire}`);
    } catch (err) {
      assert.ok(err instanceof DecodeError, String(err));
      assert.equal(pcpErrorResultOf(err), want, wire);
    }
  }
});

test('pcp error lifetimes: long vs short errors', () => {
  assert.equal(pcpErrorLifetimeSec(PcpResult.NOT_AUTHORIZED), 1800);
  assert.equal(pcpErrorLifetimeSec(PcpResult.NO_RESOURCES), 30);
  assert.equal(pcpResultName(PcpResult.EXCESSIVE_REMOTE_PEERS), 'EXCESSIVE_REMOTE_PEERS');
});

test('pcp short success response is refused, short error accepted', () => {
  assert.throws(() => decodePcpResponse(unhex('0281 0000' + '00'.repeat(20))), DecodeError);
  assert.equal(decodePcpResponse(unhex('0281 0008' + '00'.repeat(20))).opcode, 'other');
});

const arbAddr = fc.oneof(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 4, maxLength: 4 }).map(toMappedV6));
const arbOption: fc.Arbitrary<PcpOption> = fc.oneof(
  arbAddr.map((a) => ({ kind: 'thirdParty' as const, internalAddress: a })),
  fc.constant({ kind: 'preferFailure' as const }),
  fc.tuple(fc.integer({ min: 0, max: 128 }), fc.integer({ min: 0, max: 65535 }), arbAddr).map(([p, port, a]) => ({
    kind: 'filter' as const,
    prefixLength: p,
    remotePeerPort: port,
    remotePeerAddress: a,
  })),
  fc.tuple(fc.integer({ min: 4, max: 255 }), fc.uint8Array({ maxLength: 20 })).map(([code, data]) => ({ kind: 'unknown' as const, code, data })),
);
const arbMap = fc.record({
  nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
  protocol: fc.integer({ min: 0, max: 255 }),
  internalPort: fc.integer({ min: 0, max: 65535 }),
  externalPort: fc.integer({ min: 0, max: 65535 }),
  externalAddress: arbAddr,
});
const arbRequest: fc.Arbitrary<PcpRequest> = fc
  .tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 0xffffffff }), arbAddr, arbMap, fc.integer({ min: 0, max: 65535 }), arbAddr, fc.array(arbOption, { maxLength: 4 }))
  .map(([op, lifetimeSec, clientAddress, map, rport, raddr, options]) => {
    const common = { lifetimeSec, clientAddress, options };
    if (op === 0) return { ...common, opcode: 'announce' as const };
    if (op === 1) return { ...common, opcode: 'map' as const, map: { ...map } };
    return { ...common, opcode: 'peer' as const, peer: { ...map, remotePeerPort: rport, remotePeerAddress: raddr } };
  });

const arbPacket = fc.oneof(
  fc.uint8Array({ maxLength: 1200 }),
  fc.tuple(arbRequest, fc.array(fc.tuple(fc.nat(200), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(200), fc.boolean()).map(([r, muts, cut, asResponse]) => {
    const b = asResponse ? encodePcpErrorResponse(encodePcpRequest(r), 0, 1) : encodePcpRequest(r);
    for (const [i, x] of muts) if (i < b.length) b[i] = x;
    return cut < b.length ? b.subarray(0, cut) : b;
  }),
);

function decodesOrDecodeError(decode: (b: Uint8Array) => unknown): (b: Uint8Array) => void {
  return (b) => {
    try {
      decode(b);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
    }
  };
}

test('property: decodePcpRequest returns a value or throws DecodeError', () => {
  fc.assert(fc.property(arbPacket, decodesOrDecodeError(decodePcpRequest)), { numRuns: 5000 });
});

test('property: decodePcpResponse returns a value or throws DecodeError', () => {
  fc.assert(fc.property(arbPacket, decodesOrDecodeError(decodePcpResponse)), { numRuns: 5000 });
});

test('property: pcp request encode/decode round trip', () => {
  fc.assert(
    fc.property(arbRequest, (r) => {
      assert.equal(hex(encodePcpRequest(decodePcpRequest(encodePcpRequest(r)))), hex(encodePcpRequest(r)));
    }),
  );
});

test('property: error responses to any packet decode as responses', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 2, maxLength: 1200 }), fc.integer({ min: 1, max: 13 }), (b, result) => {
      const resp = decodePcpResponse(encodePcpErrorResponse(b, result, 3));
      assert.equal(resp.result, result);
      assert.equal(resp.epochSec, 3);
    }),
    { numRuns: 2000 },
  );
});

test('pcp error response to a request with a broken option still decodes', () => {
  const out = encodePcpErrorResponse(unhex(MAP_REQ_HEX + '01000010'), PcpResult.MALFORMED_OPTION, 0);
  const resp = decodePcpResponse(out);
  assert.equal(resp.result, PcpResult.MALFORMED_OPTION);
  assert.deepEqual(resp.options, []);
});
