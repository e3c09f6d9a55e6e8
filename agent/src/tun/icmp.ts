/**
 * Minimal ICMP echo packets (IPv4 and IPv6) with correct checksums: what the TUN compliance suite writes
 * into a device to make the kernel answer, and what the in-memory OS side answers with in unit tests.
 */
import { DecodeError } from '../errors.ts';
import { formatIp, parseIp } from '../net/ip.ts';

export interface Echo {
  /** Source and destination as text (both IPv4 or both IPv6). */
  src: string;
  dst: string;
  id: number;
  seq: number;
  payload: Uint8Array;
  /** true for a reply (ICMP type 0 / ICMPv6 type 129). */
  reply: boolean;
}

const ICMP4_ECHO_REQUEST = 8;
const ICMP4_ECHO_REPLY = 0;
const ICMP6_ECHO_REQUEST = 128;
const ICMP6_ECHO_REPLY = 129;
const PROTO_ICMP4 = 1;
const PROTO_ICMP6 = 58;

/** Internet checksum (RFC 1071) over `parts`, which are summed as one byte string. */
function checksum(parts: Uint8Array[]): number {
  let sum = 0;
  let odd: number | undefined;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) {
      const b = p[i] as number;
      if (odd === undefined) odd = b;
      else {
        sum += (odd << 8) | b;
        odd = undefined;
      }
    }
  }
  if (odd !== undefined) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Encodes an echo request or reply as a full IP packet (IPv4: 20-byte header, IPv6: 40-byte header). */
export function encodeEcho(e: Echo): Uint8Array {
  const src = ipBytes(e.src);
  const dst = ipBytes(e.dst);
  const v6 = src.length === 16;
  const icmp = new Uint8Array(8 + e.payload.length);
  icmp[0] = v6 ? (e.reply ? ICMP6_ECHO_REPLY : ICMP6_ECHO_REQUEST) : e.reply ? ICMP4_ECHO_REPLY : ICMP4_ECHO_REQUEST;
  const iv = new DataView(icmp.buffer);
  iv.setUint16(4, e.id);
  iv.setUint16(6, e.seq);
  icmp.set(e.payload, 8);
  if (!v6) {
    iv.setUint16(2, checksum([icmp]));
    const ip = new Uint8Array(20 + icmp.length);
    const v = new DataView(ip.buffer);
    ip[0] = 0x45;
    v.setUint16(2, ip.length);
    ip[8] = 64;
    ip[9] = PROTO_ICMP4;
    ip.set(src, 12);
    ip.set(dst, 16);
    v.setUint16(10, checksum([ip.subarray(0, 20)]));
    ip.set(icmp, 20);
    return ip;
  }
  // ICMPv6 checksum covers a pseudo-header: src, dst, upper-layer length, next header (RFC 8200 §8.1).
  const pseudo = new Uint8Array(40);
  pseudo.set(src, 0);
  pseudo.set(dst, 16);
  new DataView(pseudo.buffer).setUint32(32, icmp.length);
  pseudo[39] = PROTO_ICMP6;
  iv.setUint16(2, checksum([pseudo, icmp]));
  const ip = new Uint8Array(40 + icmp.length);
  const v = new DataView(ip.buffer);
  ip[0] = 0x60;
  v.setUint16(4, icmp.length);
  ip[6] = PROTO_ICMP6;
  ip[7] = 64;
  ip.set(src, 8);
  ip.set(dst, 24);
  ip.set(icmp, 40);
  return ip;
}

/** Decodes an IP packet carrying an ICMP echo request/reply; throws DecodeError for anything else. */
export function decodeEcho(p: Uint8Array): Echo {
  const version = (p[0] ?? 0) >> 4;
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  if (version === 4) {
    if (p.length < 28) throw new DecodeError('short ipv4 icmp');
    const ihl = ((p[0] as number) & 0x0f) * 4;
    if (p[9] !== PROTO_ICMP4 || p.length < ihl + 8) throw new DecodeError('not icmp');
    const type = p[ihl];
    if (type !== ICMP4_ECHO_REQUEST && type !== ICMP4_ECHO_REPLY) throw new DecodeError('not an echo');
    const total = Math.min(v.getUint16(2), p.length);
    return {
      src: formatIp(p.subarray(12, 16)),
      dst: formatIp(p.subarray(16, 20)),
      id: v.getUint16(ihl + 4),
      seq: v.getUint16(ihl + 6),
      payload: p.slice(ihl + 8, total),
      reply: type === ICMP4_ECHO_REPLY,
    };
  }
  if (version === 6) {
    if (p.length < 48) throw new DecodeError('short ipv6 icmp');
    if (p[6] !== PROTO_ICMP6) throw new DecodeError('not icmpv6');
    const type = p[40];
    if (type !== ICMP6_ECHO_REQUEST && type !== ICMP6_ECHO_REPLY) throw new DecodeError('not an echo');
    return {
      src: formatIp(p.subarray(8, 24)),
      dst: formatIp(p.subarray(24, 40)),
      id: v.getUint16(44),
      seq: v.getUint16(46),
      payload: p.slice(48, 40 + Math.min(v.getUint16(4), p.length - 40)),
      reply: type === ICMP6_ECHO_REPLY,
    };
  }
  throw new DecodeError('not an ip packet');
}

function ipBytes(text: string): Uint8Array {
  const ip = parseIp(text);
  if (!ip) throw new DecodeError('bad address', { text });
  return ip.bytes;
}
