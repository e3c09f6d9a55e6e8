import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { DecodeError } from '../errors.ts';
import { formatIp } from '../net/ip.ts';
import {
  ATTR, BINDING_ERROR, BINDING_REQUEST, BINDING_SUCCESS, bindingRequest, crc32, decodeStun, encodeStun, fingerprintOf,
  isStun, messageType, METHOD_BINDING, type StunMessage,
} from './codec.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// RFC 5769 (Test Vectors for STUN, April 2010), sections 2.1-2.3, as printed in the RFC. The SOFTWARE and
// USERNAME padding is 0x20 there on purpose: receivers must not insist on zero padding.
const TID = hex('b7e7a701bc34d686fa87dfae');
const SHORT_TERM_PASSWORD = 'VOkJxbRl1RmTxUk/WvJxBt';
const RFC5769_REQUEST = hex(`
  00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
  00 24 00 04 6e 00 01 ff
  80 29 00 08 93 2f f9 b1 51 26 3b 36
  00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
  00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
  80 28 00 04 e5 7a 3b cf`);
const RFC5769_IPV4 = hex(`
  01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 08 00 01 a1 47 e1 12 a6 43
  00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
  80 28 00 04 c0 7d 4c 96`);
const RFC5769_IPV6 = hex(`
  01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
  00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
  80 28 00 04 c8 fb 0b 4c`);

/** MESSAGE-INTEGRITY check of RFC 8489 section 14.5, here only to prove the vectors were typed in right. */
function integrityHolds(msg: Uint8Array, key: string): boolean {
  let off = 20;
  while (off < msg.length) {
    const type = (msg[off]! << 8) | msg[off + 1]!;
    const len = (msg[off + 2]! << 8) | msg[off + 3]!;
    if (type === ATTR.MESSAGE_INTEGRITY) {
      const prefix = Uint8Array.from(msg.subarray(0, off));
      const adjusted = off + 24 - 20;
      prefix[2] = adjusted >> 8;
      prefix[3] = adjusted & 0xff;
      const mac = createHmac('sha1', key).update(prefix).digest();
      return toHex(mac) === toHex(msg.subarray(off + 4, off + 24));
    }
    off += 4 + ((len + 3) & ~3);
  }
  return false;
}

test('RFC 5769 vectors are intact (their MESSAGE-INTEGRITY verifies)', () => {
  for (const v of [RFC5769_REQUEST, RFC5769_IPV4, RFC5769_IPV6]) assert.ok(integrityHolds(v, SHORT_TERM_PASSWORD));
});

test('RFC 5769 2.1 sample request decodes, FINGERPRINT verified, unknown attributes kept raw', () => {
  assert.ok(isStun(RFC5769_REQUEST));
  const m = decodeStun(RFC5769_REQUEST);
  assert.equal(m.kind, 'request');
  assert.equal(m.method, METHOD_BINDING);
  assert.deepEqual(m.transactionId, TID);
  assert.equal(m.software, 'STUN test client');
  assert.equal(m.fingerprint, true);
  assert.deepEqual(m.unknown?.map((a) => a.type), [0x0024, 0x8029, ATTR.USERNAME, ATTR.MESSAGE_INTEGRITY]);
  assert.equal(new TextDecoder().decode(m.unknown![2]!.value), 'evtj:h6vY');
});

test('RFC 5769 2.2 sample IPv4 response: XOR-MAPPED-ADDRESS 192.0.2.1:32853', () => {
  const m = decodeStun(RFC5769_IPV4);
  assert.equal(m.kind, 'success');
  assert.equal(m.software, 'test vector');
  assert.deepEqual(m.xorMappedAddress, { family: 4, address: '192.0.2.1', port: 32853 });
  assert.equal(m.fingerprint, true);
});

test('RFC 5769 2.3 sample IPv6 response: XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853', () => {
  const m = decodeStun(RFC5769_IPV6);
  assert.deepEqual(m.xorMappedAddress, { family: 6, address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 });
  assert.equal(m.fingerprint, true);
});

test('fingerprintOf reproduces the RFC 5769 FINGERPRINT values', () => {
  for (const [v, fp] of [[RFC5769_REQUEST, 'e57a3bcf'], [RFC5769_IPV4, 'c07d4c96'], [RFC5769_IPV6, 'c8fb0b4c']] as const) {
    assert.equal(fingerprintOf(v.subarray(0, v.length - 8)).toString(16).padStart(8, '0'), fp);
  }
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926); // the CRC-32 check value
});

test('golden: Binding request, plain and with CHANGE-REQUEST + FINGERPRINT', () => {
  assert.equal(toHex(bindingRequest(TID)), '000100002112a442b7e7a701bc34d686fa87dfae');
  assert.equal(
    toHex(bindingRequest(TID, { changeIp: true, changePort: true, fingerprint: true })),
    '000100102112a442b7e7a701bc34d686fa87dfae' + '000300040000' + '0006' + '80280004' + fingerprintHex('000100102112a442b7e7a701bc34d686fa87dfae0003000400000006'),
  );
  assert.equal(toHex(bindingRequest(TID, { changePort: true })).slice(40), '0003000400000002');
});

function fingerprintHex(prefixHex: string): string {
  return fingerprintOf(hex(prefixHex)).toString(16).padStart(8, '0');
}

test('golden: Binding success with XOR-MAPPED, MAPPED, RESPONSE-ORIGIN, OTHER-ADDRESS', () => {
  const m: StunMessage = {
    kind: 'success', method: METHOD_BINDING, transactionId: TID,
    mappedAddress: { family: 4, address: '192.0.2.1', port: 32853 },
    xorMappedAddress: { family: 4, address: '192.0.2.1', port: 32853 },
    responseOrigin: { family: 4, address: '203.0.113.1', port: 3478 },
    otherAddress: { family: 4, address: '203.0.113.2', port: 3479 },
  };
  const b = encodeStun(m);
  assert.equal(
    toHex(b),
    '010100302112a442b7e7a701bc34d686fa87dfae' +
      '000100080001805 5c0000201'.replace(/ /g, '') +
      '002000080001a147e112a643' + // byte for byte the RFC 5769 2.2 attribute
      '802b000800010d96cb007101' +
      '802c000800010d97cb007102',
  );
  assert.deepEqual(decodeStun(b), m);
});

test('golden: IPv6 XOR-MAPPED-ADDRESS matches RFC 5769 2.3 byte for byte', () => {
  const b = encodeStun({ kind: 'success', method: METHOD_BINDING, transactionId: TID, xorMappedAddress: { family: 6, address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 } });
  assert.equal(toHex(b.subarray(20)), '002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9');
});

test('golden: error 420 with UNKNOWN-ATTRIBUTES and reason', () => {
  const b = encodeStun({ kind: 'error', method: METHOD_BINDING, transactionId: TID, errorCode: { code: 420, reason: 'Unknown' }, unknownAttributes: [0x0003] });
  assert.equal(toHex(b), '011100182112a442b7e7a701bc34d686fa87dfae' + '0009000b00000414556e6b6e6f776e00' + '000a00020003' + '0000');
  assert.deepEqual(decodeStun(b).errorCode, { code: 420, reason: 'Unknown' });
  assert.deepEqual(decodeStun(b).unknownAttributes, [3]);
});

test('message type interleaves method and class bits (RFC 8489 figure 3)', () => {
  assert.equal(messageType(METHOD_BINDING, 'request'), BINDING_REQUEST);
  assert.equal(messageType(METHOD_BINDING, 'success'), BINDING_SUCCESS);
  assert.equal(messageType(METHOD_BINDING, 'error'), BINDING_ERROR);
  assert.equal(messageType(0x003, 'request'), 0x0003); // TURN Allocate
  assert.equal(messageType(0xfff, 'error'), 0x3fff);
  const m = decodeStun(encodeStun({ kind: 'indication', method: 0xabc, transactionId: TID }));
  assert.deepEqual([m.kind, m.method], ['indication', 0xabc]);
});

test('a corrupted FINGERPRINT is a DecodeError', () => {
  const good = bindingRequest(TID, { fingerprint: true });
  const bad = Uint8Array.from(good);
  bad[bad.length - 1] = bad[bad.length - 1]! ^ 1;
  assert.throws(() => decodeStun(bad), (e: unknown) => e instanceof DecodeError && e.reason === 'FINGERPRINT mismatch');
});

test('malformed headers and attributes are DecodeErrors with a reason', () => {
  const good = encodeStun({ kind: 'success', method: 1, transactionId: TID, xorMappedAddress: { family: 4, address: '192.0.2.1', port: 1 } });
  const mutate = (f: (b: Uint8Array) => void): Uint8Array => {
    const b = Uint8Array.from(good);
    f(b);
    return b;
  };
  const cases: [string, Uint8Array][] = [
    ['shorter than a STUN header', good.subarray(0, 19)],
    ['top two bits of a STUN message must be zero', mutate((b) => (b[0] = 0x41))],
    ['no STUN magic cookie', mutate((b) => (b[4] = 0))],
    ['STUN length not a multiple of 4', mutate((b) => (b[3] = 13))],
    ['STUN length does not match the datagram', good.subarray(0, good.length - 4)],
    ['attribute runs past the message', mutate((b) => (b[23] = 12))],
    ['XOR-MAPPED-ADDRESS has unknown address family', mutate((b) => (b[25] = 3))],
    ['XOR-MAPPED-ADDRESS has the wrong length for its family', mutate((b) => (b[25] = 2))],
  ];
  for (const [reason, b] of cases) {
    assert.equal(isStun(b) && reason.startsWith('STUN length'), false);
    assert.throws(() => decodeStun(b), (e: unknown) => e instanceof DecodeError && e.reason === reason, reason);
  }
});

test('isStun: the first-bytes proof against WireGuard and random data', () => {
  assert.ok(isStun(bindingRequest(TID)));
  const wgInit = new Uint8Array(148);
  wgInit[0] = 1;
  assert.equal(isStun(wgInit), false);
  assert.equal(isStun(new Uint8Array(0)), false);
  const noCookie = bindingRequest(TID);
  noCookie[7] = 0x43;
  assert.equal(isStun(noCookie), false);
});

test('encoder rejects caller bugs with RangeError', () => {
  assert.throws(() => bindingRequest(new Uint8Array(11)), RangeError);
  assert.throws(() => encodeStun({ kind: 'success', method: 1, transactionId: TID, xorMappedAddress: { family: 4, address: '::1', port: 1 } }), RangeError);
  assert.throws(() => encodeStun({ kind: 'success', method: 1, transactionId: TID, mappedAddress: { family: 4, address: '192.0.2.1', port: 70000 } }), RangeError);
});

test('property: encode then decode is the identity for Binding messages', () => {
  const addr4 = fc.record({ family: fc.constant(4 as const), address: fc.ipV4(), port: fc.integer({ min: 0, max: 65535 }) }).map((r) => ({ ...r }));
  const addr6 = fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 65535 })).map(([b, port]) => ({
    family: 6 as const, address: formatIp(b), port,
  }));
  const addr = fc.oneof(addr4, addr6);
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 12, maxLength: 12 }), addr, addr, fc.boolean(), fc.string({ maxLength: 40 }), (tid, a, b, fp, sw) => {
      const m: StunMessage = { kind: 'success', method: 1, transactionId: tid, xorMappedAddress: a, otherAddress: b, software: sw, ...(fp ? { fingerprint: true } : {}) };
      const again = decodeStun(encodeStun(m));
      assert.deepEqual(again, m);
    }),
    { numRuns: 500 },
  );
});

test('property: decodeStun returns a message or throws DecodeError, nothing else', () => {
  const seeds = [RFC5769_REQUEST, RFC5769_IPV4, RFC5769_IPV6, bindingRequest(TID, { changeIp: true, fingerprint: true })];
  const mutated = fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat()).map(([seed, flips, cut]) => {
    const b = Uint8Array.from(seed);
    for (const [i, v] of flips) b[i % b.length] = v;
    return cut % 3 === 0 ? b.subarray(0, cut % (b.length + 1)) : b;
  });
  const framed = fc.uint8Array({ maxLength: 80 }).map((body) => {
    const len = body.length & ~3;
    const b = new Uint8Array(20 + len);
    b.set([0x01, 0x01, len >> 8, len & 0xff, 0x21, 0x12, 0xa4, 0x42]);
    b.set(body.subarray(0, len), 20);
    return b;
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 120 }), mutated, framed), (b) => {
      try {
        decodeStun(b);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
      }
    }),
    { numRuns: 5000 },
  );
});
