/**
 * NaCl `crypto_box` between two X25519 keys (the construction tailscale's disco and DERP use): X25519 from
 * wg/x25519.ts, HSalsa20 and XSalsa20-Poly1305 from @noble/ciphers; the box key is HSalsa20(X25519(ours, theirs), 16 zero bytes) with the Salsa20 sigma
 * constant ("crypto_box_beforenm"), then XSalsa20-Poly1305 ("secretbox") with a 24-byte random nonce.
 * The 16-byte Poly1305 tag comes first in the ciphertext, as in NaCl.
 */
import { x25519Shared } from '../wg/x25519.ts';
import { hsalsa, xsalsa20poly1305 } from '@noble/ciphers/salsa.js';

export const BOX_KEY_LEN = 32;
export const BOX_NONCE_LEN = 24;
export const BOX_TAG_LEN = 16;

/** "expand 32-byte k" as little-endian words: the Salsa20 sigma constant. */
const SIGMA = Uint32Array.of(0x61707865, 0x3320646e, 0x79622d32, 0x6b206574);

function wordsLE(b: Uint8Array): Uint32Array {
  const out = new Uint32Array(b.length / 4);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, true);
  return out;
}

function bytesLE(w: Uint32Array): Uint8Array {
  const out = new Uint8Array(w.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < w.length; i++) view.setUint32(i * 4, w[i]!, true);
  return out;
}

/**
 * The shared box key of our private key and their public key (the same from both sides). Throws when
 * their key is of low order (an all-zero shared secret): the caller treats that as a message to drop.
 */
export function boxKey(ourPrivate: Uint8Array, theirPublic: Uint8Array): Uint8Array {
  const shared = x25519Shared(ourPrivate, theirPublic);
  const out = new Uint32Array(8);
  hsalsa(SIGMA, wordsLE(shared), new Uint32Array(4), out);
  return bytesLE(out);
}

/** Tag (16) | ciphertext, like NaCl's crypto_box_easy. */
export function boxSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array {
  return xsalsa20poly1305(key, nonce).encrypt(plaintext);
}

/** The plaintext, or undefined when the tag does not verify (wrong key, altered bytes). */
export function boxOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (sealed.length < BOX_TAG_LEN) return undefined;
  try {
    return xsalsa20poly1305(key, nonce).decrypt(sealed);
  } catch {
    return undefined;
  }
}
