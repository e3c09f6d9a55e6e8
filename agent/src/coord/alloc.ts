/**
 * Mesh address allocation, pure: the lowest free host address of a prefix, given the addresses
 * already handed out. The store calls it inside its registration transaction with every address ever
 * assigned (revoked nodes included), so an address is never reused: a stale peer map or firewall rule
 * naming a revoked node's address can never reach a new node.
 *
 * Spots never handed out (documented in docs/mesh-protocol.md, "Addresses"):
 * - IPv4: the network and broadcast addresses of the prefix (prefixes shorter than /31; RFC 3021 lets
 *   a /31 use both), 100.100.100.0/24 (kept for the mesh's own services, e.g. a resolver at
 *   100.100.100.100, the spot Tailscale uses, so a mixed network never sees it on a node) and
 *   100.115.92.0/23 (ChromeOS runs its Android container there; a node on a Chromebook would clash).
 * - IPv6: the all-zero host (Subnet-Router anycast, RFC 4291 §2.6.1) and the highest 128 interface
 *   identifiers of every /64 (reserved subnet anycast, RFC 2526 §3).
 */
import { formatIp, parseCidr, parseIp, type Cidr } from '../net/ip.ts';
import { ConegateError } from '../errors.ts';

/** The default IPv4 pool (shared address space, RFC 6598; the CGNAT range nodes rarely have locally). */
export const DEFAULT_PREFIX4 = '100.64.0.0/10';

/** IPv4 ranges skipped in any prefix that contains them. */
export const RESERVED4 = ['100.100.100.0/24', '100.115.92.0/23'] as const;

/** A range of host offsets [from, to] (inclusive) inside a prefix. */
interface OffsetRange {
  from: bigint;
  to: bigint;
}

/** Parses a pool prefix; throws CG_INPUT_INVALID for anything that is not a clean CIDR. */
export function parsePool(prefix: string): Cidr {
  const c = parseCidr(prefix);
  if (!c) throw new ConegateError('CG_INPUT_INVALID', `address pool "${prefix}" is not a CIDR prefix with zero host bits`);
  return c;
}

/**
 * The lowest free address of `prefix` (text, no prefix length), or undefined when the pool is full.
 * `used` may hold addresses of any family or prefix; those outside `prefix` are ignored.
 */
export function allocateAddress(prefix: string, used: Iterable<string>): string | undefined {
  const pool = parsePool(prefix);
  const base = toBig(pool.bytes);
  const hostBits = BigInt(pool.bytes.length * 8 - pool.prefixLen);
  const last = (1n << hostBits) - 1n;
  const taken = new Set<bigint>();
  for (const addr of used) {
    const off = offsetIn(pool, base, hostBits, addr);
    if (off !== undefined) taken.add(off);
  }
  const reserved = reservedRanges(pool, base, last);
  let off = 0n;
  while (off <= last) {
    const skip = reserved.find((r) => off >= r.from && off <= r.to);
    if (skip) off = skip.to + 1n;
    else if (taken.has(off)) off++;
    else return formatIp(fromBig(base + off, pool.bytes.length));
  }
  return undefined;
}

/** Offset of `addr` inside the pool, or undefined if it is not an address of the pool. */
function offsetIn(pool: Cidr, base: bigint, hostBits: bigint, addr: string): bigint | undefined {
  const value = pool.family === 4 ? fastV4(addr) : fastV6(addr);
  if (value === undefined) return undefined;
  const off = value - base;
  return off >= 0n && off < 1n << hostBits ? off : undefined;
}

/**
 * Registration scans every address ever assigned, so parsing is the hot part: these read the plain
 * forms the store writes with a few string operations (about 20x faster than the general parser) and
 * fall back to it for anything unusual (an embedded IPv4 tail, say).
 */
function fastV4(text: string): bigint | undefined {
  const p = text.split('.');
  if (p.length !== 4) return undefined;
  let v = 0;
  for (const part of p) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return undefined;
    v = v * 256 + Number(part);
  }
  return BigInt(v);
}

function fastV6(text: string): bigint | undefined {
  if (!text.includes(':')) return undefined;
  if (text.includes('.')) {
    const ip = parseIp(text);
    return ip?.family === 6 ? toBig(ip.bytes) : undefined;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const groups = [...head, ...new Array<string>(halves.length === 2 ? fill : 0).fill('0'), ...tail];
  let v = 0n;
  for (let i = 0; i < 8; i += 2) {
    const a = groups[i]!;
    const b = groups[i + 1]!;
    if (!/^[0-9a-fA-F]{1,4}$/.test(a) || !/^[0-9a-fA-F]{1,4}$/.test(b)) return undefined;
    v = (v << 32n) | BigInt(parseInt(a, 16) * 65536 + parseInt(b, 16));
  }
  return v;
}

/** The reserved offset ranges of this pool (in any order: the search checks them all). */
function reservedRanges(pool: Cidr, base: bigint, last: bigint): OffsetRange[] {
  const out: OffsetRange[] = [];
  if (pool.family === 4) {
    // RFC 3021: a /31 has no network or broadcast address; a /32 is one host.
    if (pool.prefixLen < 31) out.push({ from: 0n, to: 0n }, { from: last, to: last });
    for (const text of RESERVED4) {
      const r = parseCidr(text)!;
      const from = toBig(r.bytes) - base;
      const to = from + (1n << BigInt(32 - r.prefixLen)) - 1n;
      if (to >= 0n && from <= last) out.push({ from: from < 0n ? 0n : from, to: to > last ? last : to });
    }
    return out;
  }
  if (pool.prefixLen < 128) out.push({ from: 0n, to: 0n });
  // RFC 2526: the top 128 interface identifiers of a /64. Allocation is lowest-first, so only the first
  // few /64s of a pool can ever be reached (a /48 has 65,536 of them; listing all would be waste).
  const iidSpan = 1n << 64n;
  const firstSubnet = base - (base % iidSpan);
  for (let s = 0n; s < 4n; s++) {
    const top = firstSubnet + (s + 1n) * iidSpan - 128n - base;
    if (top > last) break;
    if (top + 127n >= 0n) out.push({ from: top < 0n ? 0n : top, to: top + 127n > last ? last : top + 127n });
  }
  return out;
}

/**
 * A unique local /48 (RFC 4193 §3.2): fd00::/8 plus a 40-bit random Global ID. The coordinator makes
 * one at first start and keeps it (or takes one from config); `randomBytes` is injected for tests.
 */
export function randomUlaPrefix(randomBytes: (n: number) => Uint8Array): string {
  const id = randomBytes(5);
  if (id.length !== 5) throw new ConegateError('CG_INTERNAL', 'random source returned the wrong length');
  const bytes = new Uint8Array(16);
  bytes[0] = 0xfd;
  bytes.set(id, 1);
  return `${formatIp(bytes)}/48`;
}

function toBig(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function fromBig(v: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}
