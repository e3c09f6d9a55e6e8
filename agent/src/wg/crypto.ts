/**
 * The WireGuard primitives (whitepaper 5.4): DH = X25519, HASH = BLAKE2s-256, MAC = keyed BLAKE2s-128,
 * HMAC = HMAC-BLAKE2s, KDF1/2/3 = HKDF over HMAC-BLAKE2s, AEAD = ChaCha20-Poly1305 with a 64-bit
 * little-endian counter nonce, XAEAD = XChaCha20-Poly1305 (cookies only).
 * Bulk AEAD runs in node:crypto (about 3x faster than a JS implementation on 1420-byte packets).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { x25519Public, x25519Shared } from './x25519.ts';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';

export const KEY_LEN = 32;
export const HASH_LEN = 32;
export const MAC_LEN = 16;
export const TAG_LEN = 16;

/** X25519(priv, pub). Throws on an all-zero result (a low-order public key), which the caller treats as failure. */
export function dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return x25519Shared(privateKey, publicKey);
}

export function dhPublic(privateKey: Uint8Array): Uint8Array {
  return x25519Public(privateKey);
}

/** BLAKE2s-256 over the concatenation of the parts. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  const h = blake2s.create({ dkLen: 32 });
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Keyed BLAKE2s with a 16-byte output (mac1, mac2, cookies). */
export function mac(key: Uint8Array, data: Uint8Array): Uint8Array {
  return blake2s(data, { key, dkLen: MAC_LEN });
}

export function hmacBlake2s(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmac(blake2s, key, data);
}

const ONE = Uint8Array.of(1);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * KDFn(key, input) of the whitepaper: t0 = HMAC(key, input), t1 = HMAC(t0, 0x1),
 * ti = HMAC(t0, t(i-1) || i). Returns n 32-byte outputs.
 */
export function kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[] {
  const t0 = hmacBlake2s(key, input);
  const out: Uint8Array[] = [];
  let prev = hmacBlake2s(t0, ONE);
  out.push(prev);
  for (let i = 2; i <= n; i++) {
    prev = hmacBlake2s(t0, concat(prev, Uint8Array.of(i)));
    out.push(prev);
  }
  return out;
}

export function kdf1(key: Uint8Array, input: Uint8Array): Uint8Array {
  return kdf(1, key, input)[0]!;
}
export function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const [a, b] = kdf(2, key, input);
  return [a!, b!];
}
export function kdf3(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const [a, b, c] = kdf(3, key, input);
  return [a!, b!, c!];
}

/** The 96-bit ChaCha20-Poly1305 nonce: 4 zero bytes then the 64-bit counter little-endian. */
export function writeNonce(nonce: Uint8Array, counter: number): Uint8Array {
  nonce[0] = nonce[1] = nonce[2] = nonce[3] = 0;
  const lo = counter >>> 0;
  const hi = Math.floor(counter / 0x1_0000_0000) >>> 0;
  nonce[4] = lo & 0xff;
  nonce[5] = (lo >>> 8) & 0xff;
  nonce[6] = (lo >>> 16) & 0xff;
  nonce[7] = lo >>> 24;
  nonce[8] = hi & 0xff;
  nonce[9] = (hi >>> 8) & 0xff;
  nonce[10] = (hi >>> 16) & 0xff;
  nonce[11] = hi >>> 24;
  return nonce;
}

const scratchNonce = new Uint8Array(12);

/** RFC 8439 AEAD_CHACHA20_POLY1305 with an explicit 12-byte nonce; returns ciphertext || tag. */
export function chachaSealNonce(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad?: Uint8Array): Uint8Array {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LEN });
  if (ad && ad.length) c.setAAD(ad, { plaintextLength: plaintext.length });
  const body = c.update(plaintext);
  c.final();
  const out = new Uint8Array(plaintext.length + TAG_LEN);
  out.set(body);
  out.set(c.getAuthTag(), plaintext.length);
  return out;
}

/** Opens ciphertext || tag with an explicit 12-byte nonce; undefined if authentication fails. */
export function chachaOpenNonce(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad?: Uint8Array): Uint8Array | undefined {
  if (sealed.length < TAG_LEN) return undefined;
  const n = sealed.length - TAG_LEN;
  try {
    const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LEN });
    d.setAuthTag(sealed.subarray(n));
    if (ad && ad.length) d.setAAD(ad, { plaintextLength: n });
    const body = d.update(sealed.subarray(0, n));
    d.final();
    return new Uint8Array(body.buffer, body.byteOffset, body.length);
  } catch {
    return undefined;
  }
}

/**
 * ChaCha20-Poly1305 seal of plaintext with a counter nonce and additional data. When `out` is given,
 * ciphertext || tag is written at out[outOffset..] (it must have room) and out is returned.
 */
export function aeadSeal(
  key: Uint8Array,
  counter: number,
  plaintext: Uint8Array,
  ad: Uint8Array | undefined,
  out?: Uint8Array,
  outOffset = 0,
): Uint8Array {
  const c = createCipheriv('chacha20-poly1305', key, writeNonce(scratchNonce, counter), { authTagLength: TAG_LEN });
  if (ad && ad.length) c.setAAD(ad, { plaintextLength: plaintext.length });
  const body = c.update(plaintext);
  c.final();
  const tag = c.getAuthTag();
  const dst = out ?? new Uint8Array(plaintext.length + TAG_LEN);
  dst.set(body, outOffset);
  dst.set(tag, outOffset + plaintext.length);
  return dst;
}

/** ChaCha20-Poly1305 open of ciphertext || tag; undefined if authentication fails. */
export function aeadOpen(
  key: Uint8Array,
  counter: number,
  sealed: Uint8Array,
  ad: Uint8Array | undefined,
): Uint8Array | undefined {
  return chachaOpenNonce(key, writeNonce(scratchNonce, counter), sealed, ad);
}

/** XChaCha20-Poly1305 seal (24-byte nonce), used for cookie replies. */
export function xaeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  return xchacha20poly1305(key, nonce, ad).encrypt(plaintext);
}

/** XChaCha20-Poly1305 open; undefined if authentication fails. */
export function xaeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | undefined {
  try {
    return xchacha20poly1305(key, nonce, ad).decrypt(sealed);
  } catch {
    return undefined;
  }
}

/** Constant-time equality for MACs and keys. */
export function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export function isZero(a: Uint8Array): boolean {
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]!;
  return d === 0;
}
