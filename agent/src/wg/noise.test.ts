import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hash } from './crypto.ts';
import { MacChecker, MacSender } from './cookie.ts';
import { clampPrivateKey, publicKey } from './keys.ts';
import { decodeInitiation, decodeResponse, decodeTransport, encodeInitiation, encodeResponse } from './messages.ts';
import {
  CONSTRUCTION,
  IDENTIFIER,
  INITIAL_CHAIN_KEY,
  INITIAL_HASH,
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  deriveSessionKeys,
  newPeerHandshake,
  type Identity,
} from './noise.ts';
import { Session } from './session.ts';
import { tai64n } from './tai64n.ts';
import * as k from './fixtures/wireguard-go-keys.ts';

const fixture = (name: string): Uint8Array => k.parseHexFixture(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const zero16 = new Uint8Array(16);
const identity = (seed: number): Identity => {
  const privateKey = clampPrivateKey(new Uint8Array(32).fill(seed));
  return { privateKey, publicKey: publicKey(privateKey) };
};
const eph = (seed: number): Uint8Array => clampPrivateKey(new Uint8Array(32).fill(seed));
const me = { privateKey: k.OUR_PRIVATE, publicKey: publicKey(k.OUR_PRIVATE) };
const goPublic = publicKey(k.GO_PRIVATE);

test('construction and identifier strings give the initial chain key and hash', () => {
  assert.equal(new TextDecoder().decode(CONSTRUCTION), 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s');
  assert.equal(new TextDecoder().decode(IDENTIFIER), 'WireGuard v1 zx2c4 Jason@zx2c4.com');
  assert.deepEqual(INITIAL_CHAIN_KEY, hash(CONSTRUCTION));
  assert.deepEqual(INITIAL_HASH, hash(INITIAL_CHAIN_KEY, IDENTIFIER));
  assert.equal(toHex(INITIAL_CHAIN_KEY), '60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36');
  assert.equal(toHex(INITIAL_HASH), '2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3');
});

test('wireguard-go initiates (recorded): we consume its initiation, and its first transport opens with our keys', () => {
  const init = fixture('wireguard-go-initiation.hex');
  assert.equal(init.length, 148);
  assert.ok(new MacChecker(me.publicKey, () => new Uint8Array(32)).checkMac1(init), 'mac1 from wireguard-go verifies');
  const hs = newPeerHandshake(me, goPublic, k.PRESHARED);
  const r = consumeInitiation(me, decodeInitiation(init), (pub) => (toHex(pub) === toHex(goPublic) ? hs : undefined), 0);
  assert.ok(r.ok);
  assert.deepEqual(r.consumed.remoteStatic, goPublic);
  assert.equal(r.consumed.timestamp[0]! >> 6, 1, 'TAI64N label: top bits 01');
  const body = createResponse(hs, k.OUR_INDEX_RESPONSE, k.OUR_EPHEMERAL_RESPONSE)!;
  const keys = deriveSessionKeys(hs, false)!;
  assert.equal(keys.remoteIndex, decodeInitiation(init).sender);
  // wireguard-go sent the ping only after accepting our response: its transport opens with our keys.
  const t = fixture('wireguard-go-transport-echo-request.hex');
  assert.equal(decodeTransport(t).receiver, k.OUR_INDEX_RESPONSE);
  assert.equal(body.receiver, keys.remoteIndex);
  const plain = new Session(keys, 0).open(t);
  assert.ok(plain instanceof Uint8Array);
  assert.equal(plain[0], 0x45);
  assert.equal(plain[9], 1, 'ICMP');
  assert.equal(plain[20], 8, 'echo request');
  assert.deepEqual([...plain.subarray(12, 20)], [10, 77, 0, 1, 10, 77, 0, 2]);
});

test('we initiate (recorded): fixed initiation bytes, wireguard-go response consumed, echo reply opens', () => {
  const hs = newPeerHandshake(me, goPublic, k.PRESHARED);
  const body = createInitiation(me, hs, k.OUR_INDEX_INITIATION, k.OUR_EPHEMERAL_INITIATION, tai64n(k.OUR_INITIATION_WALL_MS))!;
  const init = encodeInitiation({ ...body, mac1: zero16, mac2: zero16 });
  new MacSender(goPublic).addMacs(init, 0);
  // Golden bytes: this exact initiation is what wireguard-go answered when the fixtures were recorded.
  assert.equal(
    toHex(init),
    '0100000088776655fa89b74353e0628005c2cf56360f11cc899f56bdea7688df44bb2dde04e0c74ddfa31b57d0b161bede7c3197b5a9' +
      'a6d494abac7a62037fbf8af481a66b0317748e1e866f7429d0ff699080daa7d81e8611bb95c273689074b0632cfbb24be62cf171ca' +
      '58a60535d21f4618b86f8b1af1f3828cccf973c71a6d2740a800000000000000000000000000000000',
  );
  const resp = fixture('wireguard-go-response.hex');
  assert.equal(resp.length, 92);
  assert.ok(new MacChecker(me.publicKey, () => new Uint8Array(32)).checkMac1(resp));
  assert.ok(consumeResponse(me, hs, decodeResponse(resp)));
  const keys = deriveSessionKeys(hs, true)!;
  assert.equal(keys.localIndex, k.OUR_INDEX_INITIATION);
  const plain = new Session(keys, 0).open(fixture('wireguard-go-transport-echo-reply.hex'));
  assert.ok(plain instanceof Uint8Array);
  assert.equal(plain[20], 0, 'echo reply');
  assert.deepEqual([...plain.subarray(12, 20)], [10, 77, 0, 1, 10, 77, 0, 2]);
});

test('full handshake with fixed keys, ephemerals, indices and timestamp: golden bytes and matching keys', () => {
  const I = identity(1);
  const R = identity(2);
  const hi = newPeerHandshake(I, R.publicKey);
  const hr = newPeerHandshake(R, I.publicKey);
  const b1 = createInitiation(I, hi, 0x01020304, eph(3), tai64n(Date.UTC(2026, 0, 1)))!;
  const m1 = encodeInitiation({ ...b1, mac1: zero16, mac2: zero16 });
  new MacSender(R.publicKey).addMacs(m1, 0);
  assert.equal(
    toHex(m1),
    '01000000040302015dfedd3b6bd47f6fa28ee15d969d5bb0ea53774d488bdaf9df1c6e0124b3ef220a26599fb2188bb723276fc173af67' +
      '616c817fc32fd04d686d87ec152fac10eed2bda3bb3b6f1eded6977684082284d817fb46b3a59d23e3bd273ed665b15311a0615353' +
      '2abbc129c37c072d989af723279a5570f7a3fe4c9aff994c00000000000000000000000000000000',
  );
  assert.ok(new MacChecker(R.publicKey, () => new Uint8Array(32)).checkMac1(m1));
  const r = consumeInitiation(R, decodeInitiation(m1), (pub) => (toHex(pub) === toHex(I.publicKey) ? hr : undefined), 0);
  assert.ok(r.ok);
  assert.deepEqual(r.consumed.timestamp, tai64n(Date.UTC(2026, 0, 1)));
  const b2 = createResponse(hr, 0x0a0b0c0d, eph(4))!;
  const m2 = encodeResponse({ ...b2, mac1: zero16, mac2: zero16 });
  new MacSender(I.publicKey).addMacs(m2, 0);
  assert.equal(
    toHex(m2),
    '020000000d0c0b0a04030201ac01b2209e86354fb853237b5de0f4fab13c7fcbf433a61c019369617fecf10b167897ae365980e36b0f' +
      '49d075569b2b901a353c171d2afd021f49217db480a900000000000000000000000000000000',
  );
  assert.ok(consumeResponse(I, hi, decodeResponse(m2)));
  const ki = deriveSessionKeys(hi, true)!;
  const kr = deriveSessionKeys(hr, false)!;
  assert.equal(toHex(ki.sendKey), 'b30c71d520eb54edcf0ad32b6c2e5bdff747e6e2bf8a126ae52eb1c7140b4398');
  assert.equal(toHex(ki.receiveKey), 'bc8d9cb5d3c1654d26eef4fab1426ff05fff238c2ddac280941197772e21c21c');
  assert.deepEqual(ki.sendKey, kr.receiveKey);
  assert.deepEqual(ki.receiveKey, kr.sendKey);
  assert.deepEqual([ki.localIndex, ki.remoteIndex, kr.localIndex, kr.remoteIndex], [0x01020304, 0x0a0b0c0d, 0x0a0b0c0d, 0x01020304]);
  // Keys can be derived once only: the handshake state is zeroed.
  assert.equal(deriveSessionKeys(hi, true), undefined);
  assert.equal(hi.stage, 'zeroed');
});

test('a preshared key on one side only makes the initiator refuse the response', () => {
  const I = identity(5);
  const R = identity(6);
  const hi = newPeerHandshake(I, R.publicKey, new Uint8Array(32).fill(9));
  const hr = newPeerHandshake(R, I.publicKey);
  const b1 = createInitiation(I, hi, 1, eph(7), tai64n(1))!;
  assert.ok(consumeInitiation(R, b1, () => hr, 0).ok, 'the psk is only mixed in at message 2');
  const b2 = createResponse(hr, 2, eph(8))!;
  assert.equal(consumeResponse(I, hi, b2), false);
  assert.equal(hi.stage, 'initiationCreated', 'a failed response leaves the handshake waiting');
});

test('initiation replay protection: same or older timestamp, or a flood, is refused', () => {
  const I = identity(10);
  const R = identity(11);
  const hi = newPeerHandshake(I, R.publicKey);
  const hr = newPeerHandshake(R, I.publicKey);
  const at = (wallMs: number, n: number) => createInitiation(I, hi, n, eph(12 + n), tai64n(wallMs))!;
  const first = at(10_000, 1);
  assert.ok(consumeInitiation(R, first, () => hr, 1_000).ok);
  assert.deepEqual(consumeInitiation(R, first, () => hr, 2_000), { ok: false, reason: 'replayedHandshake' });
  assert.deepEqual(consumeInitiation(R, at(9_000, 2), () => hr, 3_000), { ok: false, reason: 'replayedHandshake' });
  assert.ok(consumeInitiation(R, at(11_000, 3), () => hr, 3_000).ok);
  // Newer timestamp but only 10 ms after the last accepted one: a flood (wireguard-go: 50 per second).
  assert.deepEqual(consumeInitiation(R, at(12_000, 4), () => hr, 3_010), { ok: false, reason: 'replayedHandshake' });
  assert.ok(consumeInitiation(R, at(12_000, 5), () => hr, 3_100).ok);
  // Timestamps are whitened to 2^24 ns: two within 16 ms are equal, hence a replay.
  assert.deepEqual(tai64n(20_000_001), tai64n(20_000_010));
});

test('unknown static key, tampered fields and low-order keys fail cleanly', () => {
  const I = identity(20);
  const R = identity(21);
  const hi = newPeerHandshake(I, R.publicKey);
  const b1 = createInitiation(I, hi, 1, eph(22), tai64n(1))!;
  assert.deepEqual(consumeInitiation(R, b1, () => undefined, 0), { ok: false, reason: 'handshakeFailed' });
  const hr = newPeerHandshake(R, I.publicKey);
  for (const field of ['ephemeral', 'encryptedStatic', 'encryptedTimestamp'] as const) {
    const bad = { ...b1, [field]: Uint8Array.from(b1[field]) };
    bad[field][3] = bad[field][3]! ^ 0x40;
    assert.equal(consumeInitiation(R, bad, () => hr, 0).ok, false, field);
  }
  assert.equal(consumeInitiation(R, { ...b1, ephemeral: new Uint8Array(32) }, () => hr, 0).ok, false);
  const lowOrder = newPeerHandshake(I, new Uint8Array(32));
  assert.equal(lowOrder.staticStatic, undefined);
  assert.equal(createInitiation(I, lowOrder, 1, eph(23), tai64n(1)), undefined);
});
