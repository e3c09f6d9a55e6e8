/**
 * X25519 (RFC 7748) on node:crypto (OpenSSL), for every key agreement in the product: WireGuard
 * handshakes, discovery boxes, relay logins. Why not the JavaScript implementation: one X25519 took
 * about 1.5 ms there and 0.05 ms here, and a handshake needs four. When nine agents on a 2-core router
 * lab started talking to each other at once, handshakes alone held each agent's event loop for about
 * 300 ms and every first ping waited behind them.
 *
 * Raw 32-byte keys in and out, as before. A private key is turned into an OpenSSL key object once and
 * kept beside the array it came from (a WeakMap: it goes with the array), checked against the array's
 * current bytes on every use, so a caller that overwrites or wipes its key never gets the old one.
 */
import { createPrivateKey, createPublicKey, diffieHellman, timingSafeEqual, type KeyObject } from 'node:crypto';

const KEY_BYTES = 32;

interface CachedPrivate {
  bytes: Buffer;
  key: KeyObject;
}
const privateKeys = new WeakMap<Uint8Array, CachedPrivate>();

const b64url = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64url');

function checkLength(what: string, b: Uint8Array): void {
  if (!(b instanceof Uint8Array) || b.length !== KEY_BYTES) throw new RangeError(`X25519 ${what} key must be 32 bytes`);
}

const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

const importDer = (d: Uint8Array): KeyObject => createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, d]), format: 'der', type: 'pkcs8' });
// A JWK import reads only `d` where `x` is not checked against it (Node 20 and 22); Node 24 checks it.
const importJwkD = (d: Uint8Array): KeyObject => createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64url(d), x: '' }, format: 'jwk' });

/**
 * The faster private-key import this runtime takes correctly, chosen once with RFC 7748's key pair: on
 * Node 20 the PKCS#8 import cost ten times the JWK one here (0.5 ms against 0.05 ms), on Node 22 and 24
 * both cost 0.05 ms.
 */
const importPrivate: (d: Uint8Array) => KeyObject = (() => {
  const d = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
  try {
    if (createPublicKey(importJwkD(d)).export({ format: 'jwk' }).x === 'hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo') return importJwkD;
  } catch {
    // this runtime checks x: PKCS#8 it is
  }
  return importDer;
})();

function privateKeyObject(privateKey: Uint8Array): KeyObject {
  checkLength('private', privateKey);
  const hit = privateKeys.get(privateKey);
  if (hit && timingSafeEqual(hit.bytes, privateKey)) return hit.key;
  const key = importPrivate(privateKey);
  privateKeys.set(privateKey, { bytes: Buffer.from(privateKey), key });
  return key;
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  checkLength('public', publicKey);
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(publicKey) }, format: 'jwk' });
}

/**
 * X25519(private, public). The private key is clamped as RFC 7748 says, whatever its bits. Throws on a
 * low-order public key (an all-zero result): callers treat that as a failed agreement.
 */
export function x25519Shared(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const priv = privateKeyObject(privateKey);
  const pub = publicKeyObject(publicKey);
  let out: Buffer;
  try {
    out = diffieHellman({ privateKey: priv, publicKey: pub });
  } catch (cause) {
    throw new Error('X25519: the public key is of low order (the shared secret would be zero)', { cause });
  }
  if (out.every((x) => x === 0)) throw new Error('X25519: the public key is of low order (the shared secret would be zero)');
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** The public key of a private key (X25519 with the base point 9). */
export function x25519Public(privateKey: Uint8Array): Uint8Array {
  const jwk = createPublicKey(privateKeyObject(privateKey)).export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x!, 'base64url'));
}
