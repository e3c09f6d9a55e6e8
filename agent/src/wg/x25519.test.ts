import { test } from 'node:test';
import assert from 'node:assert/strict';
import { x25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { x25519Public, x25519Shared } from './x25519.ts';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('RFC 7748 section 5.2 test vectors (unclamped scalars are clamped)', () => {
  assert.equal(
    toHex(x25519Shared(hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'), hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'))),
    'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
  );
  assert.equal(
    toHex(x25519Shared(hex('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d'), hex('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493'))),
    '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
  );
});

test('RFC 7748 section 6.1: both key pairs and their shared secret', () => {
  const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
  assert.equal(toHex(x25519Public(alice)), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  assert.equal(toHex(x25519Public(bob)), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
  assert.equal(toHex(x25519Shared(alice, x25519Public(bob))), shared);
  assert.equal(toHex(x25519Shared(bob, x25519Public(alice))), shared);
});

test('agrees with the JavaScript implementation on any 32-byte keys', () => {
  const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
  fc.assert(
    fc.property(key, key, (a, b) => {
      assert.equal(toHex(x25519Public(a)), toHex(x25519.getPublicKey(a)));
      const B = x25519.getPublicKey(b);
      assert.equal(toHex(x25519Shared(a, B)), toHex(x25519.getSharedSecret(a, B)));
    }),
    { numRuns: 200 },
  );
});

test('agrees with the JavaScript implementation on any 32 bytes as a public key (top bit, non-canonical, low order)', () => {
  const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
  const outcome = (f: () => Uint8Array) => {
    try {
      return toHex(f());
    } catch {
      return 'refused';
    }
  };
  fc.assert(
    fc.property(key, key, (a, pub) => {
      assert.equal(outcome(() => x25519Shared(a, pub)), outcome(() => x25519.getSharedSecret(a, pub)));
    }),
    { numRuns: 300 },
  );
  // u = 2^255 - 19 + 1 (non-canonical 1) and u with the top bit set: masked and reduced by both.
  const priv = x25519.utils.randomSecretKey();
  for (const u of ['eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1ccc']) {
    assert.equal(outcome(() => x25519Shared(priv, hex(u))), outcome(() => x25519.getSharedSecret(priv, hex(u))));
  }
});

test('a low-order public key is refused, as the JavaScript implementation refuses it', () => {
  const priv = x25519.utils.randomSecretKey();
  for (const low of [new Uint8Array(32), Uint8Array.of(1, ...new Uint8Array(31)), hex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800')]) {
    assert.throws(() => x25519Shared(priv, low), /low order/);
    assert.throws(() => x25519.getSharedSecret(priv, low));
  }
});

test('wrong key lengths are refused', () => {
  assert.throws(() => x25519Shared(new Uint8Array(31), new Uint8Array(32)), /32 bytes/);
  assert.throws(() => x25519Shared(new Uint8Array(32).fill(1), new Uint8Array(33)), /32 bytes/);
  assert.throws(() => x25519Public(new Uint8Array(0)), /32 bytes/);
});

test('a private key array changed in place is used with its new bytes (the cached key object is not reused)', () => {
  const priv = x25519.utils.randomSecretKey();
  const peer = x25519.getPublicKey(x25519.utils.randomSecretKey());
  const before = toHex(x25519Shared(priv, peer));
  priv.set(x25519.utils.randomSecretKey());
  assert.notEqual(toHex(x25519Shared(priv, peer)), before);
  assert.equal(toHex(x25519Shared(priv, peer)), toHex(x25519.getSharedSecret(priv, peer)));
  assert.equal(toHex(x25519Public(priv)), toHex(x25519.getPublicKey(priv)));
});
