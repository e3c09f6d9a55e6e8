import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { DecodeError } from '../errors.ts';
import { openBox, openClientInfo, openServerInfo, sealBox, sealJson } from './frames-seal.ts';
import { boxKey } from '../disco/box.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const rnd = (n: number): Uint8Array => Uint8Array.from(randomBytes(n));

// The crypto_box test vectors of NaCl (tests/box.c, box2.c; also in libsodium's test/default/box.c):
// Alice's secret key, Bob's public key, the shared "firstkey" and the 131-byte message's box.
const ALICE_SK = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
const BOB_SK = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
const BOB_PK = hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
const ALICE_PK = hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
const NONCE = hex('69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37');
const MESSAGE = hex(`be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db66cce
  314adb310e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f937763848645e0705`);
const BOX = hex(`f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c
  97271d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab932164548e526ae90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74e355a5`);

test('NaCl crypto_box vectors: beforenm, seal and open', () => {
  assert.equal(toHex(boxKey(ALICE_SK, BOB_PK)), '1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389');
  const sealed = sealBox(MESSAGE, ALICE_SK, BOB_PK, () => NONCE);
  assert.equal(toHex(sealed), toHex(NONCE) + toHex(BOX));
  assert.deepEqual(openBox(sealed, BOB_SK, ALICE_PK), MESSAGE);
});

test('a box opens only for the key it was sealed from', () => {
  const client = x25519.utils.randomSecretKey();
  const server = x25519.utils.randomSecretKey();
  const impostor = x25519.utils.randomSecretKey();
  const info = { version: 1, canAckPings: true };
  const sealed = sealJson(info, client, x25519.getPublicKey(server), rnd);
  assert.deepEqual(openClientInfo(sealed, server, x25519.getPublicKey(client)), { ...info, meshKey: undefined, prober: undefined });
  // Someone claiming the client's key but sealing with another secret: refused.
  const forged = sealJson(info, impostor, x25519.getPublicKey(server), rnd);
  assert.throws(() => openClientInfo(forged, server, x25519.getPublicKey(client)), DecodeError);
  // The server's answer opens on the client with the server key.
  const back = sealJson({ version: 1, tokenBucketBytesPerSec: 1000 }, server, x25519.getPublicKey(client), rnd);
  assert.equal(openServerInfo(back, client, x25519.getPublicKey(server)).tokenBucketBytesPerSec, 1000);
});

test('client-info documents that open but are malformed are refused', () => {
  const client = x25519.utils.randomSecretKey();
  const server = x25519.utils.randomSecretKey();
  const seal = (v: unknown): Uint8Array => sealJson(v, client, x25519.getPublicKey(server), rnd);
  for (const doc of [[], 'x', null, {}, { version: '1' }, { version: 1, meshKey: 'short' }, { version: 1, prober: 'yes' }]) {
    assert.throws(() => openClientInfo(seal(doc), server, x25519.getPublicKey(client)), DecodeError, JSON.stringify(doc));
  }
  const notJson = sealBox(hex('ff00'), client, x25519.getPublicKey(server), rnd);
  assert.throws(() => openClientInfo(notJson, server, x25519.getPublicKey(client)), DecodeError);
});

test('property: opening any bytes with any key throws DecodeError or returns, nothing else', () => {
  const server = x25519.utils.randomSecretKey();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (sealed, key) => {
      try {
        openClientInfo(sealed, server, key);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
      }
    }),
    { numRuns: 1000 },
  );
  // Low-order points (all zero) give an all-zero shared secret: refused as a DecodeError.
  assert.throws(() => openBox(new Uint8Array(60), server, new Uint8Array(32)), DecodeError);
});
