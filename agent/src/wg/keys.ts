/**
 * WireGuard keys as `wg genkey` / `wg pubkey` / the UAPI handle them: 32 raw bytes, shown as base64
 * (44 characters with one '=') in configs and as 64 lowercase hex digits in the UAPI.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { DecodeError } from '../errors.ts';
import { dhPublic, KEY_LEN } from './crypto.ts';

/** Clamps a Curve25519 scalar in place (RFC 7748 section 5), as `wg genkey` does. */
export function clampPrivateKey(key: Uint8Array): Uint8Array {
  key[0] = key[0]! & 248;
  key[31] = (key[31]! & 127) | 64;
  return key;
}

/** A new clamped private key. */
export function generatePrivateKey(randomBytes: (n: number) => Uint8Array = nodeRandomBytes): Uint8Array {
  return clampPrivateKey(Uint8Array.from(randomBytes(KEY_LEN)));
}

/** The X25519 public key of a private key. */
export function publicKey(privateKey: Uint8Array): Uint8Array {
  if (privateKey.length !== KEY_LEN) throw new DecodeError('a key has 32 bytes');
  return dhPublic(privateKey);
}

export function keyToBase64(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.length).toString('base64');
}

/** Parses a base64 key; throws DecodeError unless it is exactly 32 bytes of canonical base64. */
export function keyFromBase64(text: string): Uint8Array {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(t)) throw new DecodeError('key is not 44 characters of base64');
  return new Uint8Array(Buffer.from(t, 'base64'));
}

export function keyToHex(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.length).toString('hex');
}

/** Parses a 64-digit hex key (UAPI form); throws DecodeError otherwise. */
export function keyFromHex(text: string): Uint8Array {
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new DecodeError('key is not 64 hex digits');
  return new Uint8Array(Buffer.from(text, 'hex'));
}
