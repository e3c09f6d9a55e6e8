import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../errors.ts';
import { classifyPacket } from '../../mesh/demux.ts';
import {
  decodeControl, decodeControlEnvelope, decodeHeader, encodeControl, encodeControlPacket, encodeData, isUdpRelayPacket,
  openControl, writeHeader, FLAG_FROM_RELAY, HEADER_LEN, type ControlMessage,
} from './codec.ts';
import { publicKeyOf, sharedBoxKey } from './seal.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fill = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v);

test('header: golden bytes for WireGuard data, VNI 0x123456, sent by the relay', () => {
  const p = encodeData('wireguard', 0x123456, Uint8Array.of(4, 0, 0, 0), FLAG_FROM_RELAY);
  assert.equal(toHex(p), 'cb117a1212345600' + '04000000');
  assert.deepEqual(decodeHeader(p), { flags: 1, protocol: 'wireguard', vni: 0x123456 });
  assert.equal(toHex(encodeData('disco', 1, new Uint8Array(0))), 'cb107a1100000100');
});

test('header: rewritten in place keeps the payload', () => {
  const p = encodeData('wireguard', 7, Uint8Array.of(9, 9));
  writeHeader(p, 'wireguard', 7, FLAG_FROM_RELAY);
  assert.equal(toHex(p), 'cb117a12000007000909');
});

test('header: refused when truncated, wrong mark, version, reserved byte or protocol', () => {
  for (const bad of ['cb107a12000001', 'cc107a1200000100', 'cb207a1200000100', 'cb107a1200000101', 'cb10000000000100']) {
    assert.throws(() => decodeHeader(hex(bad)), DecodeError, bad);
  }
  assert.equal(isUdpRelayPacket(hex('cb107a1200000100')), true);
  assert.equal(isUdpRelayPacket(hex('cb207a1200000100')), false);
});

test('demux: a relay packet is never taken for WireGuard, STUN or discovery', () => {
  const p = encodeData('wireguard', 5, new Uint8Array(200));
  assert.equal(classifyPacket(p), 'unknown');
  // A WireGuard transport packet never carries the mark.
  assert.equal(isUdpRelayPacket(Uint8Array.of(4, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8)), false);
});

const TX = hex('000102030405060708090a0b');
const golden: [ControlMessage, string][] = [
  [{ type: 'allocate', txId: TX, nodeKey: fill(32, 0xaa), peerKey: fill(32, 0xbb) }, '01' + toHex(TX) + 'aa'.repeat(32) + 'bb'.repeat(32)],
  [
    { type: 'allocated', txId: TX, status: 'ok', vni: 0xabcdef, unboundLifetimeSec: 30, relay: { address: '203.0.113.7', port: 3479 } },
    '02' + toHex(TX) + '00' + '00abcdef' + '001e' + '00000000000000000000ffffcb007107' + '0d97',
  ],
  [
    { type: 'allocated', txId: TX, status: 'full', vni: 0, unboundLifetimeSec: 0, relay: { address: '2001:db8::1', port: 1 } },
    '02' + toHex(TX) + '02' + '00000000' + '0000' + '20010db8000000000000000000000001' + '0001',
  ],
  [{ type: 'bind', vni: 5, generation: 0xfffffffe, nodeKey: fill(32, 0x11) }, '03' + '00000005' + 'fffffffe' + '11'.repeat(32)],
  [{ type: 'challenge', vni: 5, generation: 1, mac: fill(32, 0x22) }, '04' + '00000005' + '00000001' + '22'.repeat(32)],
  [{ type: 'answer', vni: 5, generation: 1, mac: fill(32, 0x22) }, '05' + '00000005' + '00000001' + '22'.repeat(32)],
  [{ type: 'bound', vni: 5, generation: 1, idleLifetimeSec: 300 }, '06' + '00000005' + '00000001' + '012c'],
  [{ type: 'refused', vni: 5, generation: 1, reason: 'bad-challenge' }, '07' + '00000005' + '00000001' + '02'],
];

test('control messages: golden bytes, and decode gives the value back', () => {
  for (const [m, bytes] of golden) {
    assert.equal(toHex(encodeControl(m)), bytes, m.type);
    assert.deepEqual(decodeControl(hex(bytes)), m, m.type);
    // Trailing bytes are ignored (forward compatibility); one byte short is truncated.
    assert.deepEqual(decodeControl(hex(bytes + 'ff')), m);
    assert.throws(() => decodeControl(hex(bytes).subarray(0, hex(bytes).length - 1)), DecodeError);
  }
  assert.throws(() => decodeControl(hex('08')), DecodeError);
  assert.throws(() => decodeControl(hex('0300ffffff' + '00000000' + '11'.repeat(32)).fill(0xff, 1, 2)), DecodeError); // VNI > 24 bits
  assert.throws(() => decodeControl(hex('07' + '00000005' + '00000001' + '09')), DecodeError);
});

test('box key: NaCl crypto_box_beforenm test vector (Alice secret, Bob public)', () => {
  const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const bobPublic = hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  assert.equal(toHex(sharedBoxKey(alice, bobPublic)!), '1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389');
  assert.equal(sharedBoxKey(alice, new Uint8Array(32)), undefined); // low order: no key
});

test('control packet: sealed by one key, opened by the other; altered bytes or a wrong key do not open', () => {
  const a = fill(32, 1);
  const b = fill(32, 2);
  const aPub = publicKeyOf(a);
  const k = sharedBoxKey(a, publicKeyOf(b))!;
  const m: ControlMessage = { type: 'bind', vni: 9, generation: 3, nodeKey: fill(32, 7) };
  const p = encodeControlPacket(m, aPub, k, fill(24, 5));
  assert.equal(toHex(p.subarray(0, HEADER_LEN)), 'cb107a1000000000');
  const env = decodeControlEnvelope(p);
  assert.deepEqual(env.senderKey, aPub);
  assert.deepEqual(openControl(env, sharedBoxKey(b, env.senderKey)!), m);
  const tampered = p.slice();
  tampered[tampered.length - 1]! ^= 1;
  assert.throws(() => openControl(decodeControlEnvelope(tampered), k), DecodeError);
  assert.throws(() => openControl(env, sharedBoxKey(fill(32, 3), env.senderKey)!), DecodeError);
  assert.throws(() => decodeControlEnvelope(encodeData('wireguard', 1, new Uint8Array(100))), DecodeError);
  assert.throws(() => decodeControlEnvelope(p.subarray(0, 60)), DecodeError);
});

test('fast-check: decoders return a value or throw DecodeError, nothing else', () => {
  const onlyDecodeError = (f: () => unknown): void => {
    try {
      f();
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
    }
  };
  const k = fill(32, 9);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      onlyDecodeError(() => decodeHeader(b));
      onlyDecodeError(() => decodeControl(b));
      onlyDecodeError(() => openControl(decodeControlEnvelope(b), k));
    }),
    { numRuns: 3000 },
  );
  // Inputs that start like a valid header reach the deeper checks.
  fc.assert(
    fc.property(fc.constantFrom(...golden.map(([, g]) => hex(g))), fc.nat(100), fc.integer({ min: 0, max: 255 }), (g, at, v) => {
      const b = g.slice();
      if (b.length) b[at % b.length] = v;
      onlyDecodeError(() => decodeControl(b));
      onlyDecodeError(() => decodeControl(b.subarray(0, at % (b.length + 1))));
    }),
    { numRuns: 3000 },
  );
});
