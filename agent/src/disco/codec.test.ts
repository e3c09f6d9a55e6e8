import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { x25519 } from '@noble/curves/ed25519.js';
import { DecodeError } from '../errors.ts';
import { classifyPacket } from '../mesh/demux.ts';
import { boxKey, boxSeal } from './box.ts';
import { decodeDiscoPlain, encodeDiscoPlain, openDisco, sealDisco, SEAL_OVERHEAD } from './codec.ts';
import type { DiscoMessage } from './types.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// The NaCl box test keys (Bernstein, "Cryptography in NaCl", section 10; also RFC 7748 section 6.1).
const ALICE_SK = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
const ALICE_PK = hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
const BOB_SK = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
const BOB_PK = hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
const NONCE = hex('69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37');
const TX = hex('0102030405060708090a0b0c');
const T = 1_700_000_000_123; // 0x0000018bcfe5687b

// Plaintexts written from the layout in docs/mesh-paths.md: type | version 0 | sent-at (8) | body.
const GOLDEN: Array<[string, DiscoMessage, string]> = [
  ['ping', { type: 'ping', txId: TX, nodeKey: 'ab'.repeat(32) }, `01 00 0000018bcfe5687b 0102030405060708090a0b0c ${'ab'.repeat(32)}`],
  ['pong v4', { type: 'pong', txId: TX, src: { address: '203.0.113.7', port: 41641 } },
    '02 00 0000018bcfe5687b 0102030405060708090a0b0c 00000000000000000000ffff cb007107 a2a9'],
  ['call-me-maybe', { type: 'call-me-maybe', hardNat: true, endpoints: [{ address: '198.51.100.2', port: 51820 }, { address: '2001:db8::1', port: 443 }] },
    '03 00 0000018bcfe5687b 01 00000000000000000000ffffc6336402 ca6c 20010db8000000000000000000000001 01bb'],
  ['birthday', { type: 'birthday', attempt: 7, hardAddress: '203.0.113.9', easy: { address: '198.51.100.2', port: 51820 }, sockets: 256, probes: 1024, ratePerSec: 200, deadlineMs: 10000 },
    '04 00 0000018bcfe5687b 00000007 00000000000000000000ffffcb007109 00000000000000000000ffffc6336402 ca6c 0100 0400 00c8 00002710'],
];

test('NaCl box key matches the NaCl paper (crypto_box_beforenm of alice and bob)', () => {
  assert.deepEqual(x25519.getPublicKey(ALICE_SK), ALICE_PK);
  const k = '1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389';
  assert.equal(toHex(boxKey(ALICE_SK, BOB_PK)), k);
  assert.equal(toHex(boxKey(BOB_SK, ALICE_PK)), k);
});

test('golden plaintexts: encode matches the documented bytes and decodes back', () => {
  for (const [name, msg, bytes] of GOLDEN) {
    const enc = encodeDiscoPlain(msg, T);
    assert.equal(toHex(enc), toHex(hex(bytes)), name);
    const dec = decodeDiscoPlain(enc);
    assert.equal(dec.sentAtMs, T);
    assert.deepEqual(dec.message, msg, name);
  }
});

test('golden sealed pong: envelope = magic | sender key | nonce | box, opens from the other side', () => {
  const pong = GOLDEN[1]![1];
  const sealed = sealDisco(boxKey(ALICE_SK, BOB_PK), ALICE_PK, NONCE, pong, T);
  assert.equal(toHex(sealed), '434744534301' + toHex(ALICE_PK) + toHex(NONCE) +
    '87747e48e1949299fe589e1f0a719a16329e645a75622f4365f942aeda137fb31d13e28751235d700c093c5e55855796daccb0d3da663fc8');
  assert.equal(classifyPacket(sealed), 'disco');
  const opened = openDisco(boxKey(BOB_SK, ALICE_PK), sealed);
  assert.deepEqual(opened.sender, ALICE_PK);
  assert.deepEqual(opened.message, pong);
  assert.equal(opened.sentAtMs, T);
});

test('an unpadded ping is 132 bytes sealed; padTo pads the sealed datagram exactly; padding is ignored', () => {
  const k = boxKey(ALICE_SK, BOB_PK);
  const ping: DiscoMessage = { type: 'ping', txId: TX, nodeKey: 'cd'.repeat(32) };
  assert.equal(sealDisco(k, ALICE_PK, NONCE, ping, T).length, SEAL_OVERHEAD + 44);
  assert.equal(SEAL_OVERHEAD + 44, 132);
  const padded = sealDisco(k, ALICE_PK, NONCE, { ...ping, padTo: 1280 }, T);
  assert.equal(padded.length, 1280);
  assert.deepEqual(openDisco(k, padded).message, ping);
});

test('forward compatibility: unknown type opens as unknown, extra bytes after a body are ignored, other versions read', () => {
  const plain = encodeDiscoPlain(GOLDEN[1]![1], T);
  const extra = Uint8Array.from([...plain, 0xde, 0xad]);
  extra[1] = 3;
  assert.deepEqual(decodeDiscoPlain(extra).message, GOLDEN[1]![1]);
  const unknown = Uint8Array.from(plain);
  unknown[0] = 0x7f;
  assert.equal(decodeDiscoPlain(unknown).message, undefined);
  assert.equal(decodeDiscoPlain(unknown).type, 0x7f);
  // A call-me-maybe with a trailing partial entry keeps the whole entries.
  const cmm = encodeDiscoPlain(GOLDEN[2]![1], T);
  assert.equal((decodeDiscoPlain(Uint8Array.from([...cmm, 1, 2, 3])).message as { endpoints: unknown[] }).endpoints.length, 2);
});

test('tampering, a wrong key and truncation are DecodeErrors', () => {
  const k = boxKey(ALICE_SK, BOB_PK);
  const sealed = sealDisco(k, ALICE_PK, NONCE, GOLDEN[0]![1], T);
  const flipped = Uint8Array.from(sealed);
  flipped[100]! ^= 1;
  assert.throws(() => openDisco(k, flipped), DecodeError);
  assert.throws(() => openDisco(boxKey(ALICE_SK, ALICE_PK), sealed), DecodeError);
  for (const n of [0, 5, 62, 77, 87]) assert.throws(() => openDisco(k, sealed.subarray(0, n)), DecodeError, `length ${n}`);
  for (const t of [1, 2, 4]) assert.throws(() => decodeDiscoPlain(Uint8Array.of(t, 0, 0, 0, 0, 0, 0, 0, 0, 1, 9)), DecodeError);
});

test('encoders refuse what cannot be sent (never a silent wrong packet)', () => {
  assert.throws(() => encodeDiscoPlain({ type: 'ping', txId: new Uint8Array(11), nodeKey: 'ab'.repeat(32) }, T));
  assert.throws(() => encodeDiscoPlain({ type: 'ping', txId: TX, nodeKey: 'AB'.repeat(32) }, T));
  assert.throws(() => encodeDiscoPlain({ type: 'pong', txId: TX, src: { address: 'example.com', port: 1 } }, T));
  assert.throws(() => encodeDiscoPlain({ type: 'pong', txId: TX, src: { address: '192.0.2.1', port: 70000 } }, T));
  assert.throws(() => encodeDiscoPlain({ type: 'call-me-maybe', hardNat: false, endpoints: Array(65).fill({ address: '192.0.2.1', port: 1 }) }, T));
});

const endpointArb = fc.oneof(
  fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 65535 })).map(([address, port]) => ({ address, port })),
  fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 65535 })).map(([b, port]) => {
    b[0] = 0x20; // a global-unicast v6 (never v4-mapped, which would read back as IPv4)
    return { address: formatV6(b), port };
  }),
);

function formatV6(b: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return groups.join(':');
}

const messageArb: fc.Arbitrary<DiscoMessage> = fc.oneof(
  fc.record({ type: fc.constant('ping' as const), txId: fc.uint8Array({ minLength: 12, maxLength: 12 }), nodeKey: fc.uint8Array({ minLength: 32, maxLength: 32 }).map(toHex) }),
  fc.record({ type: fc.constant('pong' as const), txId: fc.uint8Array({ minLength: 12, maxLength: 12 }), src: endpointArb }),
  fc.record({ type: fc.constant('call-me-maybe' as const), hardNat: fc.boolean(), endpoints: fc.array(endpointArb, { maxLength: 64 }) }),
  fc.record({
    type: fc.constant('birthday' as const), attempt: fc.nat({ max: 0xffffffff }), hardAddress: fc.ipV4(), easy: endpointArb,
    sockets: fc.nat({ max: 0xffff }), probes: fc.nat({ max: 0xffff }), ratePerSec: fc.nat({ max: 0xffff }), deadlineMs: fc.nat({ max: 0xffffffff }),
  }),
);

/** The decoder prints IPv6 in RFC 5952 form; compare through one more round trip. */
const canonical = (m: DiscoMessage) => decodeDiscoPlain(encodeDiscoPlain(m, 0)).message;

test('property: every message round-trips through seal and open', () => {
  const k = boxKey(ALICE_SK, BOB_PK);
  fc.assert(
    fc.property(messageArb, fc.nat({ max: 2 ** 50 }), fc.uint8Array({ minLength: 24, maxLength: 24 }), (m, t, nonce) => {
      const opened = openDisco(k, sealDisco(k, ALICE_PK, nonce, m, t));
      assert.equal(opened.sentAtMs, t);
      assert.deepEqual(opened.message, canonical(m));
      assert.deepEqual(canonical(opened.message!), opened.message);
    }),
    { numRuns: 300 },
  );
});

test('property: decoders return or throw DecodeError, nothing else, on any bytes', () => {
  const k = boxKey(ALICE_SK, BOB_PK);
  const isOurs = (e: unknown) => e instanceof DecodeError;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      try { decodeDiscoPlain(b); } catch (e) { if (!isOurs(e)) throw e; }
      try { openDisco(k, b); } catch (e) { if (!isOurs(e)) throw e; }
    }),
    { numRuns: 2000 },
  );
  // Valid boxes around random plaintexts reach the body parsers.
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 10, maxLength: 200 }), fc.integer({ min: 0, max: 8 }), (plain, type) => {
      plain[0] = type;
      const sealed = sealDisco(k, ALICE_PK, NONCE, { type: 'pong', txId: TX, src: { address: '::', port: 0 } }, 0);
      const box = Uint8Array.from([...sealed.subarray(0, 62), ...boxSealRaw(k, plain)]);
      try { openDisco(k, box); } catch (e) { if (!isOurs(e)) throw e; }
    }),
    { numRuns: 1000 },
  );
});

function boxSealRaw(k: Uint8Array, plain: Uint8Array): Uint8Array {
  return boxSeal(k, NONCE, plain);
}
