import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../errors.ts';
import {
  PmpResult,
  decodePmpRequest,
  decodePmpResponse,
  encodePmpAnnouncement,
  encodePmpRequest,
  encodePmpResponse,
  isPmpAnnouncement,
  pmpResultName,
  type PmpRequest,
  type PmpResponse,
} from './codec.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// Golden vectors written from the RFC 6886 layouts; natpmpc sends byte-identical requests
// (`natpmpc -g GW -a 5555 5555 udp 3600` => 0001 0000 15b3 15b3 00000e10).
const REQUESTS: [string, PmpRequest, string][] = [
  ['public address', { kind: 'publicAddress' }, '0000'],
  ['map udp', { kind: 'map', protocol: 'udp', internalPort: 5555, suggestedExternalPort: 5555, lifetimeSec: 3600 }, '0001 0000 15b3 15b3 00000e10'],
  ['map tcp any port', { kind: 'map', protocol: 'tcp', internalPort: 22, suggestedExternalPort: 0, lifetimeSec: 7200 }, '0002 0000 0016 0000 00001c20'],
  ['delete udp', { kind: 'map', protocol: 'udp', internalPort: 5555, suggestedExternalPort: 0, lifetimeSec: 0 }, '0001 0000 15b3 0000 00000000'],
];

const RESPONSES: [string, PmpResponse, string][] = [
  ['public address', { kind: 'publicAddress', result: 0, epochSec: 1234, externalAddress: Uint8Array.of(203, 0, 113, 7) }, '0080 0000 000004d2 cb007107'],
  ['map udp', { kind: 'map', protocol: 'udp', result: 0, epochSec: 60, internalPort: 5555, externalPort: 40000, lifetimeSec: 3600 }, '0081 0000 0000003c 15b3 9c40 00000e10'],
  ['map tcp refused', { kind: 'map', protocol: 'tcp', result: PmpResult.NOT_AUTHORIZED, epochSec: 9, internalPort: 80, externalPort: 0, lifetimeSec: 0 }, '0082 0002 00000009 0050 0000 00000000'],
  ['unsupported version', { kind: 'error', opcode: 0, result: PmpResult.UNSUPPORTED_VERSION, epochSec: 5 }, '0080 0001 00000005'],
  ['unsupported opcode', { kind: 'error', opcode: 3, result: PmpResult.UNSUPPORTED_OPCODE, epochSec: 5 }, '0083 0005 00000005'],
];

for (const [name, value, wire] of REQUESTS) {
  test(`pmp request golden: ${name}`, () => {
    assert.equal(hex(encodePmpRequest(value)), wire.replace(/\s+/g, ''));
    assert.deepEqual(decodePmpRequest(unhex(wire)), value);
  });
}

for (const [name, value, wire] of RESPONSES) {
  test(`pmp response golden: ${name}`, () => {
    assert.equal(hex(encodePmpResponse(value)), wire.replace(/\s+/g, ''));
    assert.deepEqual(decodePmpResponse(unhex(wire)), value);
  });
}

test('pmp announcement is a public-address response', () => {
  const b = encodePmpAnnouncement(0, Uint8Array.of(198, 51, 100, 1));
  assert.equal(hex(b), '0080 0000 00000000 c6336401'.replace(/ /g, ''));
  assert.ok(isPmpAnnouncement(b));
  assert.ok(!isPmpAnnouncement(unhex('0081 0000 0000003c 15b3 9c40 00000e10')));
});

test('pmp request decoding refuses what the server must not treat as a request', () => {
  const reasons = ['', '00', '0080', '0200', '0003', '0001 0000 15b3'].map((w) => {
    try {
      decodePmpRequest(unhex(w));
      return 'decoded';
    } catch (err) {
      assert.ok(err instanceof DecodeError);
      return err.reason;
    }
  });
  assert.deepEqual(reasons, [
    'nat-pmp request shorter than 2 bytes',
    'nat-pmp request shorter than 2 bytes',
    'nat-pmp response where a request was expected',
    'not nat-pmp version 0',
    'unsupported nat-pmp opcode',
    'nat-pmp map request truncated',
  ]);
});

test('pmp trailing bytes after a request are ignored', () => {
  assert.deepEqual(decodePmpRequest(unhex('0000 dead')), { kind: 'publicAddress' });
});

test('pmp short success response is refused, short failure accepted', () => {
  assert.throws(() => decodePmpResponse(unhex('0081 0000 00000001')), DecodeError);
  assert.deepEqual(decodePmpResponse(unhex('0081 0004 00000001')), { kind: 'error', opcode: 1, result: 4, epochSec: 1 });
});

test('pmp encoders refuse out-of-range fields', () => {
  assert.throws(() => encodePmpRequest({ kind: 'map', protocol: 'udp', internalPort: 70000, suggestedExternalPort: 0, lifetimeSec: 1 }), RangeError);
  assert.throws(() => encodePmpResponse({ kind: 'publicAddress', result: 0, epochSec: 0, externalAddress: new Uint8Array(16) }), RangeError);
});

test('pmp result names', () => {
  assert.equal(pmpResultName(PmpResult.OUT_OF_RESOURCES), 'OUT_OF_RESOURCES');
  assert.equal(pmpResultName(99), 'UNKNOWN_99');
});

const arbRequest: fc.Arbitrary<PmpRequest> = fc.oneof(
  fc.constant<PmpRequest>({ kind: 'publicAddress' }),
  fc.record({
    kind: fc.constant('map' as const),
    protocol: fc.constantFrom('udp' as const, 'tcp' as const),
    internalPort: fc.integer({ min: 0, max: 65535 }),
    suggestedExternalPort: fc.integer({ min: 0, max: 65535 }),
    lifetimeSec: fc.integer({ min: 0, max: 0xffffffff }),
  }),
);

/** Any thrown value that is not our DecodeError fails the property. */
function decodesOrDecodeError(decode: (b: Uint8Array) => unknown): (b: Uint8Array) => void {
  return (b) => {
    try {
      decode(b);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
    }
  };
}

const arbPacket = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  // Mutations of valid packets find the boundary cases random bytes rarely reach.
  fc.tuple(arbRequest, fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 255 }), fc.nat(16)).map(([r, i, x, cut]) => {
    const b = encodePmpRequest(r);
    const m = new Uint8Array(b.length + 4);
    m.set(b);
    if (i < m.length) m[i] = x;
    return m.subarray(0, cut);
  }),
);

test('property: decodePmpRequest returns a value or throws DecodeError', () => {
  fc.assert(fc.property(arbPacket, decodesOrDecodeError(decodePmpRequest)), { numRuns: 5000 });
});

test('property: decodePmpResponse returns a value or throws DecodeError', () => {
  fc.assert(fc.property(arbPacket, decodesOrDecodeError(decodePmpResponse)), { numRuns: 5000 });
});

test('property: pmp request encode/decode round trip', () => {
  fc.assert(fc.property(arbRequest, (r) => assert.deepEqual(decodePmpRequest(encodePmpRequest(r)), { ...r })));
});
