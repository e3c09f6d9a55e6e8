/**
 * NaCl `crypto_box` (X25519 + XSalsa20-Poly1305) between two discovery keys, for the UDP relay's
 * control messages. Box key = HSalsa20 of the X25519 shared secret under a zero nonce (crypto_box_beforenm),
 * so a relay derives it once per client key and caches it; the seal itself is secretbox with a 24-byte
 * nonce, tag first. Opening the box is the proof that the sender holds the private half of the key it names.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { hsalsa, xsalsa20poly1305 } from '@noble/ciphers/salsa.js';

export const NONCE_LEN = 24;
export const TAG_LEN = 16;
export const KEY_LEN = 32;

// The Salsa20 constant "expand 32-byte k", little-endian words.
const SIGMA = Uint32Array.of(0x61707865, 0x3320646e, 0x79622d32, 0x6b206574);

function toWords(b: Uint8Array): Uint32Array {
  const w = new Uint32Array(b.length >>> 2);
  for (let i = 0; i < w.length; i++) w[i] = b[i * 4]! | (b[i * 4 + 1]! << 8) | (b[i * 4 + 2]! << 16) | (b[i * 4 + 3]! << 24);
  return w;
}

function fromWords(w: Uint32Array): Uint8Array {
  const b = new Uint8Array(w.length * 4);
  for (let i = 0; i < w.length; i++) {
    const v = w[i]!;
    b[i * 4] = v & 0xff;
    b[i * 4 + 1] = (v >>> 8) & 0xff;
    b[i * 4 + 2] = (v >>> 16) & 0xff;
    b[i * 4 + 3] = (v >>> 24) & 0xff;
  }
  return b;
}

/** The shared box key of (our private, their public); undefined for a low-order public key. */
export function sharedBoxKey(ourPrivate: Uint8Array, theirPublic: Uint8Array): Uint8Array | undefined {
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(ourPrivate, theirPublic);
  } catch {
    return undefined;
  }
  if (shared.every((x) => x === 0)) return undefined;
  const out = new Uint32Array(8);
  hsalsa(SIGMA, toWords(shared), new Uint32Array(4), out);
  return fromWords(out);
}

export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return x25519.getPublicKey(privateKey);
}

/** tag(16) | ciphertext. */
export function seal(boxKey: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array {
  return xsalsa20poly1305(boxKey, nonce).encrypt(plaintext);
}

/** The plaintext, or undefined when the tag does not verify. */
export function open(boxKey: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (sealed.length < TAG_LEN || nonce.length !== NONCE_LEN) return undefined;
  try {
    return xsalsa20poly1305(boxKey, nonce).decrypt(sealed);
  } catch {
    return undefined;
  }
}
