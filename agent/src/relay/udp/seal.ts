/**
 * NaCl `crypto_box` (X25519 + XSalsa20-Poly1305) between two discovery keys, for the UDP relay's
 * control messages. Box key = HSalsa20 of the X25519 shared secret under a zero nonce (crypto_box_beforenm),
 * so a relay derives it once per client key and caches it; the seal itself is secretbox with a 24-byte
 * nonce, tag first. Opening the box is the proof that the sender holds the private half of the key it names.
 */
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { boxKey } from '../../disco/box.ts';
import { x25519Public } from '../../wg/x25519.ts';

export const NONCE_LEN = 24;
export const TAG_LEN = 16;
export const KEY_LEN = 32;

/** The shared box key of (our private, their public); undefined for a low-order public key. */
export function sharedBoxKey(ourPrivate: Uint8Array, theirPublic: Uint8Array): Uint8Array | undefined {
  try {
    return boxKey(ourPrivate, theirPublic);
  } catch {
    return undefined;
  }
}

export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return x25519Public(privateKey);
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
