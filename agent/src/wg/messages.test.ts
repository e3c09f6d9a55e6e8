import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../errors.ts';
import {
  COOKIE_REPLY_LEN,
  INITIATION_LEN,
  RESPONSE_LEN,
  decodeCookieReply,
  decodeInitiation,
  decodeMessage,
  decodeResponse,
  decodeTransport,
  encodeCookieReply,
  encodeInitiation,
  encodeResponse,
  encodeTransport,
  isWireGuardPacket,
} from './messages.ts';

const fill = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v);
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('initiation: golden layout and round trip', () => {
  const m = {
    sender: 0x04030201,
    ephemeral: fill(32, 0xe1),
    encryptedStatic: fill(48, 0x5a),
    encryptedTimestamp: fill(28, 0x7e),
    mac1: fill(16, 0x11),
    mac2: fill(16, 0x22),
  };
  const b = encodeInitiation(m);
  assert.equal(b.length, INITIATION_LEN);
  assert.equal(
    toHex(b),
    '01000000' + '01020304' + 'e1'.repeat(32) + '5a'.repeat(48) + '7e'.repeat(28) + '11'.repeat(16) + '22'.repeat(16),
  );
  assert.deepEqual(decodeInitiation(b), { type: 1, ...m });
});

test('response: golden layout and round trip', () => {
  const m = { sender: 7, receiver: 0xfffffffe, ephemeral: fill(32, 0xe2), encryptedNothing: fill(16, 0x99), mac1: fill(16, 1), mac2: fill(16, 2) };
  const b = encodeResponse(m);
  assert.equal(b.length, RESPONSE_LEN);
  assert.equal(toHex(b), '02000000' + '07000000' + 'feffffff' + 'e2'.repeat(32) + '99'.repeat(16) + '01'.repeat(16) + '02'.repeat(16));
  assert.deepEqual(decodeResponse(b), { type: 2, ...m });
});

test('cookie reply: golden layout and round trip', () => {
  const m = { receiver: 0x12345678, nonce: fill(24, 0xab), encryptedCookie: fill(32, 0xcd) };
  const b = encodeCookieReply(m);
  assert.equal(b.length, COOKIE_REPLY_LEN);
  assert.equal(toHex(b), '03000000' + '78563412' + 'ab'.repeat(24) + 'cd'.repeat(32));
  assert.deepEqual(decodeCookieReply(b), { type: 3, ...m });
});

test('transport: golden header, 64-bit little-endian counter, round trip', () => {
  const ct = fill(32, 0x44);
  const b = encodeTransport({ receiver: 9, counter: 2 ** 40 + 3, ciphertext: ct });
  assert.equal(toHex(b.subarray(0, 16)), '04000000' + '09000000' + '0300000000010000');
  const d = decodeTransport(b);
  assert.equal(d.receiver, 9);
  assert.equal(d.counter, 2 ** 40 + 3);
  assert.deepEqual(new Uint8Array(d.ciphertext), ct);
  // A counter beyond 2^53 cannot be represented: it decodes as Infinity (and fails every limit).
  const huge = Uint8Array.from(b);
  huge.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 8);
  assert.equal(decodeTransport(huge).counter, Infinity);
});

test('isWireGuardPacket: type, reserved bytes and exact lengths', () => {
  const msg = (type: number, len: number, reserved = 0): Uint8Array => {
    const b = new Uint8Array(len);
    b[0] = type;
    if (len > 2) b[2] = reserved;
    return b;
  };
  const table: [Uint8Array, boolean][] = [
    [msg(1, 148), true],
    [msg(1, 147), false],
    [msg(1, 149), false],
    [msg(2, 92), true],
    [msg(2, 148), false],
    [msg(3, 64), true],
    [msg(3, 65), false],
    [msg(4, 32), true],
    [msg(4, 1452), true],
    [msg(4, 1451), true], // MTU-limited padding: not a multiple of 16
    [msg(4, 31), false],
    [msg(1, 148, 1), false],
    [msg(0, 148), false],
    [msg(5, 148), false],
    [new Uint8Array(0), false],
    [Uint8Array.of(1, 0, 0), false],
    // a STUN binding request: type 0x0001, length, magic cookie
    [Uint8Array.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, ...fill(12, 1)]), false],
  ];
  table.forEach(([b, want], i) => assert.equal(isWireGuardPacket(b), want, `row ${i}`));
});

test('decoders refuse wrong sizes, types and reserved bytes with DecodeError', () => {
  assert.throws(() => decodeInitiation(new Uint8Array(147)), DecodeError);
  assert.throws(() => decodeResponse(encodeCookieReply({ receiver: 1, nonce: fill(24, 0), encryptedCookie: fill(32, 0) })), DecodeError);
  const bad = encodeCookieReply({ receiver: 1, nonce: fill(24, 0), encryptedCookie: fill(32, 0) });
  bad[3] = 1;
  assert.throws(() => decodeCookieReply(bad), DecodeError);
  assert.throws(() => decodeTransport(fill(31, 0).fill(4, 0, 1)), DecodeError);
  assert.throws(() => decodeMessage(new Uint8Array(0)), DecodeError);
  assert.throws(() => decodeMessage(Uint8Array.of(9, 0, 0, 0)), DecodeError);
});

test('property: decodeMessage returns a message or throws DecodeError, nothing else', () => {
  const arb = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.tuple(fc.integer({ min: 0, max: 5 }), fc.constantFrom(0, 4, 31, 32, 64, 92, 148, 200)).map(([t, n]) => {
      const b = new Uint8Array(n);
      if (n) b[0] = t;
      return b;
    }),
  );
  fc.assert(
    fc.property(arb, (b) => {
      try {
        const m = decodeMessage(b);
        assert.ok(isWireGuardPacket(b), 'decoded only what the classifier accepts');
        assert.equal(m.type, b[0]);
      } catch (err) {
        assert.ok(err instanceof DecodeError, String(err));
      }
    }),
    { numRuns: 2000 },
  );
});
