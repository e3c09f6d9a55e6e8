// The RFC 7748 vectors run through wg/crypto.ts dh/dhPublic (crypto.test.ts), which call this module;
// here: agreement with the JavaScript implementation on any input, refusals and the key-object cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { x25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { x25519Public, x25519Shared } from './x25519.ts';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

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
