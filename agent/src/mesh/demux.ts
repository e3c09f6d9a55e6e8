/**
 * One UDP socket per mesh node carries WireGuard, STUN and the mesh's discovery messages; this pure
 * function tells them apart from the first bytes so the socket edge can route each datagram.
 *
 * Why the three can never be confused (byte 0 decides, then the rest confirms):
 * - WireGuard: byte 0 is the type 1..4 (0x01-0x04), bytes 1..3 are zero, and the length is exact per
 *   type (148 / 92 / 64) or at least 32 for transport data (wg/messages.ts isWireGuardPacket).
 * - STUN (RFC 8489 section 5): the top two bits of byte 0 are zero (0x00-0x3F) and bytes 4..7 are the
 *   magic cookie 0x2112A442; WireGuard's bytes 4..7 are a random receiver/sender index, so a
 *   WireGuard packet is taken for STUN only if its index equals the cookie AND its length field matches
 *   the datagram: isWireGuardPacket is checked first, so such a packet still goes to WireGuard.
 * - Discovery: starts with the 6 bytes "CGDSC" 0x01. Byte 0 is 'C' = 0x43: its top bits are 01, so it
 *   is never STUN, and it is not 1..4, so it is never WireGuard.
 * Anything else is 'unknown' and is dropped and counted by the edge, never thrown.
 */
import { isStun } from '../stun/codec.ts';
import { isWireGuardPacket } from '../wg/messages.ts';

/** "CGDSC" + version 1: the prefix of every discovery message (layout: magic[6] | sender key[32] | box). */
export const DISCO_MAGIC = Uint8Array.from([0x43, 0x47, 0x44, 0x53, 0x43, 0x01]);

export type PacketKind = 'wg' | 'stun' | 'disco' | 'unknown';

export function isDisco(b: Uint8Array): boolean {
  if (b.length < DISCO_MAGIC.length) return false;
  for (let i = 0; i < DISCO_MAGIC.length; i++) if (b[i] !== DISCO_MAGIC[i]) return false;
  return true;
}

/** Which protocol a datagram on the shared mesh socket belongs to. */
export function classifyPacket(b: Uint8Array): PacketKind {
  if (isWireGuardPacket(b)) return 'wg';
  if (isStun(b)) return 'stun';
  if (isDisco(b)) return 'disco';
  return 'unknown';
}
