import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  aeadOpen,
  aeadSeal,
  chachaOpenNonce,
  chachaSealNonce,
  dh,
  dhPublic,
  hash,
  hmacBlake2s,
  kdf3,
  mac,
  writeNonce,
  xaeadOpen,
  xaeadSeal,
} from './crypto.ts';
import { blake2s } from '@noble/hashes/blake2.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const range = (start: number, n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => start + i);
const SUNSCREEN = new TextEncoder().encode(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);

test('X25519: RFC 7748 section 5.2 vectors', () => {
  assert.equal(
    toHex(
      dh(
        hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
        hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
      ),
    ),
    'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
  );
  assert.equal(
    toHex(
      dh(
        hex('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d'),
        hex('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493'),
      ),
    ),
    '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
  );
});

test('X25519: RFC 7748 section 6.1 Diffie-Hellman', () => {
  const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
  assert.equal(toHex(dhPublic(alice)), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  assert.equal(toHex(dhPublic(bob)), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
  assert.equal(toHex(dh(alice, dhPublic(bob))), shared);
  assert.equal(toHex(dh(bob, dhPublic(alice))), shared);
});

test('X25519: a low-order public key (all zero) is refused', () => {
  assert.throws(() => dh(range(1, 32), new Uint8Array(32)));
});

test('BLAKE2s: RFC 7693 appendix B ("abc")', () => {
  assert.equal(
    toHex(hash(new TextEncoder().encode('abc'))),
    '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982',
  );
  // HASH over parts equals HASH over their concatenation.
  assert.deepEqual(hash(hex('6162'), hex('63')), hash(hex('616263')));
});

test('MAC is keyed BLAKE2s-128; HMAC is RFC 2104 over BLAKE2s', () => {
  const key = range(0, 32);
  assert.deepEqual(mac(key, hex('00')), blake2s(hex('00'), { key, dkLen: 16 }));
  // HMAC by its definition, with BLAKE2s's 64-byte block.
  const data = hex('0102030405');
  const k = new Uint8Array(64);
  k.set(key);
  const ipad = k.map((x) => x ^ 0x36);
  const opad = k.map((x) => x ^ 0x5c);
  const inner = blake2s(Uint8Array.from([...ipad, ...data]));
  const expected = blake2s(Uint8Array.from([...opad, ...inner]));
  assert.deepEqual(hmacBlake2s(key, data), expected);
});

test('KDF3 follows the whitepaper: t0 = HMAC(key, in), ti = HMAC(t0, t(i-1) || i)', () => {
  const key = range(7, 32);
  const input = range(100, 40);
  const t0 = hmacBlake2s(key, input);
  const t1 = hmacBlake2s(t0, Uint8Array.of(1));
  const t2 = hmacBlake2s(t0, Uint8Array.from([...t1, 2]));
  const t3 = hmacBlake2s(t0, Uint8Array.from([...t2, 3]));
  assert.deepEqual(kdf3(key, input), [t1, t2, t3]);
});

test('ChaCha20-Poly1305: RFC 8439 section 2.8.2 vector', () => {
  const key = range(0x80, 32);
  const nonce = hex('070000004041424344454647');
  const ad = hex('50515253c0c1c2c3c4c5c6c7');
  const expected =
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b' +
    '1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
    '3ff4def08e4b7a9de576d26586cec64b6116' +
    '1ae10b594f09e26a7e902ecbd0600691';
  const sealed = chachaSealNonce(key, nonce, SUNSCREEN, ad);
  assert.equal(toHex(sealed), expected);
  assert.deepEqual(chachaOpenNonce(key, nonce, sealed, ad), SUNSCREEN);
  sealed[5] = sealed[5]! ^ 1;
  assert.equal(chachaOpenNonce(key, nonce, sealed, ad), undefined);
});

test('WireGuard nonce: 4 zero bytes then the 64-bit counter little-endian', () => {
  assert.equal(toHex(writeNonce(new Uint8Array(12), 0x0102030405)), '000000000504030201000000');
  assert.equal(toHex(writeNonce(new Uint8Array(12), 2 ** 53 - 1)), '00000000ffffffffffff1f00');
  const key = range(1, 32);
  const sealed = aeadSeal(key, 42, SUNSCREEN, hex('aa'));
  assert.deepEqual(sealed, chachaSealNonce(key, writeNonce(new Uint8Array(12), 42), SUNSCREEN, hex('aa')));
  assert.deepEqual(aeadOpen(key, 42, sealed, hex('aa')), SUNSCREEN);
  assert.equal(aeadOpen(key, 43, sealed, hex('aa')), undefined);
  assert.equal(aeadOpen(key, 42, sealed.subarray(0, 15), undefined), undefined);
  // Sealing into a caller's buffer at an offset.
  const out = new Uint8Array(8 + SUNSCREEN.length + 16);
  aeadSeal(key, 42, SUNSCREEN, hex('aa'), out, 8);
  assert.deepEqual(out.subarray(8), sealed);
});

test('XChaCha20-Poly1305: draft-irtf-cfrg-xchacha-03 appendix A.3.1 vector', () => {
  const key = range(0x80, 32);
  const nonce = range(0x40, 24);
  const ad = hex('50515253c0c1c2c3c4c5c6c7');
  const expected =
    'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39' +
    'ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9' +
    '21f9664c97637da9768812f615c68b13b52e' +
    'c0875924c1c7987947deafd8780acf49';
  const sealed = xaeadSeal(key, nonce, SUNSCREEN, ad);
  assert.equal(toHex(sealed), expected);
  assert.deepEqual(xaeadOpen(key, nonce, sealed, ad), SUNSCREEN);
  assert.equal(xaeadOpen(key, nonce, sealed, hex('00')), undefined);
});

test('KDF1/2/3: vectors computed by wireguard-go', () => {
  // From wireguard-go's device/kdf_test.go and the wireguard-rs HKDF test (which says it used wireguard-go).
  const cases: [string, string, string[]][] = [
    [
      '746573742d6b6579', // "test-key"
      '746573742d696e707574', // "test-input"
      [
        '6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633',
        'df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a',
        'fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24',
      ],
    ],
    [
      '',
      '',
      [
        '8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0',
        '58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e',
        '0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e',
      ],
    ],
    [
      'deadbeef',
      '',
      [
        '55329dc80e690fd86bd9661f0851c9b3686df2b1fda0347bc3d27958254b32c6',
        '8dfc6d33a8118ffe408b31ddac25f72aee9115a45b69ba176ad012b243834fee',
        'd69e852a2896569ea54a67969aa1800287921dac53ce6db4b4e12192f263c4c4',
      ],
    ],
  ];
  for (const [key, input, want] of cases) assert.deepEqual(kdf3(hex(key), hex(input)).map(toHex), want);
});
