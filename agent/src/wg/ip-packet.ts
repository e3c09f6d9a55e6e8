/**
 * Just enough of IPv4/IPv6 headers for routing decisions: version, addresses and the true length
 * (the decrypted payload carries up to 15 padding bytes the header lets us strip).
 */

/** Offset and length of the destination address, or undefined if this is not an IP packet. */
export function destinationOf(p: Uint8Array): { offset: number; len: 4 | 16 } | undefined {
  const v = p.length > 0 ? p[0]! >> 4 : 0;
  if (v === 4 && p.length >= 20) return { offset: 16, len: 4 };
  if (v === 6 && p.length >= 40) return { offset: 24, len: 16 };
  return undefined;
}

export function sourceOf(p: Uint8Array): { offset: number; len: 4 | 16 } | undefined {
  const v = p.length > 0 ? p[0]! >> 4 : 0;
  if (v === 4 && p.length >= 20) return { offset: 12, len: 4 };
  if (v === 6 && p.length >= 40) return { offset: 8, len: 16 };
  return undefined;
}

/**
 * The length the IP header declares, or undefined if the header is not sane for a buffer of this size
 * (too short, or declaring more bytes than arrived).
 */
export function declaredLength(p: Uint8Array): number | undefined {
  const v = p.length > 0 ? p[0]! >> 4 : 0;
  let len: number;
  if (v === 4 && p.length >= 20) len = (p[2]! << 8) | p[3]!;
  else if (v === 6 && p.length >= 40) len = 40 + ((p[4]! << 8) | p[5]!);
  else return undefined;
  if (len > p.length || len < (v === 4 ? 20 : 40)) return undefined;
  return len;
}
