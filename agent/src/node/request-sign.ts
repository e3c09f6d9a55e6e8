/**
 * Request authentication, node side (docs/mesh-protocol.md "Identity"): the `authorization` header
 * `CG1 <machineKeyHex> <timeMs> <sigHex>`, Ed25519 by the machine key over protocol.ts signingString().
 * `verifyAuthorization` is the other half, used by the in-memory coordinator twin in tests; it checks
 * exactly what the coordinator checks (scheme, key, signature, skew).
 */
import { createHash } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { AUTH_SCHEME, MAX_CLOCK_SKEW_MS, signingString } from '../coord/protocol.ts';
import { keyToHex } from '../wg/keys.ts';
import type { KeyPair } from './identity.ts';

export function sha256Hex(body: Uint8Array | string): string {
  return createHash('sha256').update(body).digest('hex');
}

/** The authorization header value for one request; `timeMs` is wall-clock time (the server compares it to its own). */
export function authorization(machine: KeyPair, method: string, pathWithQuery: string, body: Uint8Array | string, timeMs: number): string {
  const text = signingString(method, pathWithQuery, timeMs, sha256Hex(body));
  const sig = ed25519.sign(new TextEncoder().encode(text), machine.privateKey);
  return `${AUTH_SCHEME} ${keyToHex(machine.publicKey)} ${timeMs} ${Buffer.from(sig).toString('hex')}`;
}

export type VerifyResult = { ok: true; machineKey: string } | { ok: false; code: 'bad-signature' | 'clock-skew' };

/** Checks a header as the coordinator does; never throws. */
export function verifyAuthorization(header: string | undefined, method: string, pathWithQuery: string, body: Uint8Array | string, nowMs: number): VerifyResult {
  const m = /^CG1 ([0-9a-f]{64}) (\d{1,16}) ([0-9a-f]{128})$/.exec(header ?? '');
  if (!m) return { ok: false, code: 'bad-signature' };
  const [, keyHex, timeText, sigHex] = m as unknown as [string, string, string, string];
  const timeMs = Number(timeText);
  if (Math.abs(nowMs - timeMs) > MAX_CLOCK_SKEW_MS) return { ok: false, code: 'clock-skew' };
  const text = signingString(method, pathWithQuery, timeMs, sha256Hex(body));
  let valid = false;
  try {
    valid = ed25519.verify(Buffer.from(sigHex, 'hex'), new TextEncoder().encode(text), Buffer.from(keyHex, 'hex'));
  } catch {
    valid = false;
  }
  return valid ? { ok: true, machineKey: keyHex } : { ok: false, code: 'bad-signature' };
}
