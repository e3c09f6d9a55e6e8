/**
 * Login sealing for the relay: a NaCl box (crypto_box: X25519, then HSalsa20 over the shared point as
 * the key, then XSalsa20-Poly1305) with a fresh random 24-byte nonce written in front of the box.
 * The client seals its ClientInfo from its node key to the server key; the server seals ServerInfo back.
 * A box that opens proves the sender holds the private half of the key it claims: that is the login.
 *
 * Pure apart from the injected randomness. Opening throws only DecodeError.
 */
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { boxKey } from '../disco/box.ts';
import { DecodeError } from '../errors.ts';
import { KEY_BYTES } from './frames.ts';

export const NONCE_BYTES = 24;
export const BOX_OVERHEAD_BYTES = 16;
/** What the relay protocol calls version 1 of the client-info document. */
export const RELAY_PROTOCOL_VERSION = 1;

export type RandomBytes = (n: number) => Uint8Array;

/** nonce[24] | XSalsa20-Poly1305(boxKey, nonce, plain). */
export function sealBox(plain: Uint8Array, mySecret: Uint8Array, theirPublic: Uint8Array, random: RandomBytes): Uint8Array {
  const nonce = random(NONCE_BYTES);
  if (nonce.length !== NONCE_BYTES) throw new RangeError('random source returned the wrong length');
  const box = xsalsa20poly1305(boxKey(mySecret, theirPublic), nonce).encrypt(plain);
  const out = new Uint8Array(NONCE_BYTES + box.length);
  out.set(nonce);
  out.set(box, NONCE_BYTES);
  return out;
}

/** The plain text of a box sealed by theirPublic's owner to us; DecodeError when it does not open. */
export function openBox(sealed: Uint8Array, mySecret: Uint8Array, theirPublic: Uint8Array): Uint8Array {
  if (sealed.length < NONCE_BYTES + BOX_OVERHEAD_BYTES) throw new DecodeError('sealed box too short');
  if (theirPublic.length !== KEY_BYTES) throw new DecodeError('public key must be 32 bytes');
  let key: Uint8Array;
  try {
    key = boxKey(mySecret, theirPublic);
  } catch {
    // A low-order point gives an all-zero shared secret: refused.
    throw new DecodeError('public key is not usable');
  }
  try {
    return xsalsa20poly1305(key, sealed.subarray(0, NONCE_BYTES)).decrypt(sealed.subarray(NONCE_BYTES));
  } catch {
    throw new DecodeError('box does not open');
  }
}

/** What a client tells the relay at login (sealed). */
export interface ClientInfo {
  version: number;
  /** 64 hex chars; present only on relay-to-relay links of one region. */
  meshKey?: string;
  canAckPings?: boolean;
  /** A latency prober: not a real client, not announced to others. */
  prober?: boolean;
}

/** What the relay answers (sealed). Token bucket values are the rate it will hold the client to. */
export interface ServerInfo {
  version: number;
  tokenBucketBytesPerSec?: number;
  tokenBucketBytesBurst?: number;
}

export function sealJson(v: unknown, mySecret: Uint8Array, theirPublic: Uint8Array, random: RandomBytes): Uint8Array {
  return sealBox(new TextEncoder().encode(JSON.stringify(v)), mySecret, theirPublic, random);
}

function parseObject(plain: Uint8Array): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain));
  } catch {
    throw new DecodeError('sealed document is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DecodeError('sealed document is not an object');
  return v as Record<string, unknown>;
}

function optional<T>(o: Record<string, unknown>, key: string, type: 'boolean' | 'string' | 'number'): T | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== type) throw new DecodeError(`${key} has the wrong type`);
  return v as T;
}

/** Opens and checks a client-info box (server side). */
export function openClientInfo(sealed: Uint8Array, serverSecret: Uint8Array, clientKey: Uint8Array): ClientInfo {
  const o = parseObject(openBox(sealed, serverSecret, clientKey));
  const version = o.version;
  if (typeof version !== 'number' || !Number.isInteger(version)) throw new DecodeError('client-info version missing');
  const meshKey = optional<string>(o, 'meshKey', 'string');
  if (meshKey !== undefined && !/^[0-9a-f]{64}$/.test(meshKey)) throw new DecodeError('client-info mesh key malformed');
  return {
    version,
    meshKey,
    canAckPings: optional<boolean>(o, 'canAckPings', 'boolean'),
    prober: optional<boolean>(o, 'prober', 'boolean'),
  };
}

/** Opens and checks a server-info box (client side). */
export function openServerInfo(sealed: Uint8Array, clientSecret: Uint8Array, serverKey: Uint8Array): ServerInfo {
  const o = parseObject(openBox(sealed, clientSecret, serverKey));
  const version = o.version;
  if (typeof version !== 'number' || !Number.isInteger(version)) throw new DecodeError('server-info version missing');
  return {
    version,
    tokenBucketBytesPerSec: optional<number>(o, 'tokenBucketBytesPerSec', 'number'),
    tokenBucketBytesBurst: optional<number>(o, 'tokenBucketBytesBurst', 'number'),
  };
}
