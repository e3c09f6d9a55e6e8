/**
 * The pure part of a relay login: what a client-info frame says and whether it may go on. The box must
 * open with the key the frame claims (proof of the private key); a mesh key, if given, must be this
 * region's (constant-time compare); everything else goes on to admission. No I/O here.
 */
import { timingSafeEqual } from 'node:crypto';
import { DecodeError } from '../../errors.ts';
import { parseIp, toMappedV6 } from '../../net/ip.ts';
import { decodeClientInfo, encodePeerPresent, type Frame, FrameType } from '../frames.ts';
import { openClientInfo } from '../frames-seal.ts';

export type LoginVerdict =
  | { ok: false; reason: string }
  | { ok: true; key: Uint8Array; keyHex: string; mesh: boolean; prober: boolean };

export function checkLogin(frame: Frame, serverSecret: Uint8Array, meshKey: string | undefined): LoginVerdict {
  if (frame.type !== FrameType.CLIENT_INFO) return { ok: false, reason: 'expected client-info' };
  try {
    const { clientKey, sealed } = decodeClientInfo(frame.body);
    const info = openClientInfo(sealed, serverSecret, clientKey);
    const mesh = info.meshKey !== undefined;
    if (mesh && !(meshKey && timingSafeEqual(Buffer.from(info.meshKey!, 'hex'), Buffer.from(meshKey, 'hex')))) return { ok: false, reason: 'wrong mesh key' };
    return { ok: true, key: clientKey, keyHex: Buffer.from(clientKey).toString('hex'), mesh, prober: info.prober === true };
  } catch (err) {
    if (err instanceof DecodeError) return { ok: false, reason: `login refused: ${err.reason}` };
    throw err;
  }
}

/** peer-present for a client, with the address the relay sees it at (IPv4 as ::ffff:a.b.c.d). */
export function presentFrameFor(key: Uint8Array, remoteAddress: string, remotePort: number): Uint8Array {
  const ip = parseIp(remoteAddress.replace(/^::ffff:(?=\d+\.)/, ''));
  const ip16 = ip ? (ip.family === 4 ? toMappedV6(ip.bytes) : ip.bytes) : undefined;
  return encodePeerPresent({ key, ...(ip16 ? { ip: ip16, port: remotePort, flags: 0 } : {}) });
}
