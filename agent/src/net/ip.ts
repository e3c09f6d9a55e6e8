/**
 * IP addresses and prefixes as bytes, without sockets. Used by config validation, ACLs, the PF and
 * nftables generators and the protocol codecs (PCP and STUN carry addresses as 16 / 4 bytes).
 */

export type IpFamily = 4 | 6;

export interface Cidr {
  family: IpFamily;
  /** Network address bytes (4 or 16), host bits cleared. */
  bytes: Uint8Array;
  prefixLen: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Parses dotted-quad IPv4; undefined if not one (no leading zeros, no short forms). */
export function parseIPv4(text: string): Uint8Array | undefined {
  if (!IPV4.test(text)) return undefined;
  return Uint8Array.from(text.split('.').map(Number));
}

/** Parses IPv6 text (with ::, and an embedded IPv4 tail); undefined if not one. Zone ids are refused. */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (i === pieces.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return bytes;
}

/** Parses an IPv4 or IPv6 address. */
export function parseIp(text: string): { family: IpFamily; bytes: Uint8Array } | undefined {
  const v4 = parseIPv4(text);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIPv6(text);
  return v6 ? { family: 6, bytes: v6 } : undefined;
}

export function isIp(text: string): boolean {
  return parseIp(text) !== undefined;
}

/** Formats 4 or 16 bytes as text (IPv6 in RFC 5952 form: lowercase, longest zero run as ::). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), the form PCP and dual-stack sockets use. */
export function toMappedV6(v4: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(v4, 12);
  return out;
}

/** The IPv4 inside an IPv4-mapped IPv6 address, or undefined. */
export function fromMappedV6(v6: Uint8Array): Uint8Array | undefined {
  if (v6.length !== 16) return undefined;
  for (let i = 0; i < 10; i++) if (v6[i] !== 0) return undefined;
  if (v6[10] !== 0xff || v6[11] !== 0xff) return undefined;
  return v6.slice(12);
}

/** Parses "a.b.c.d/n" or "v6/n"; a bare address is a host prefix. Host bits must be zero unless loose. */
export function parseCidr(text: string, options: { loose?: boolean } = {}): Cidr | undefined {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const ip = parseIp(addrText);
  if (!ip) return undefined;
  const max = ip.family === 4 ? 32 : 128;
  let prefixLen = max;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText)) return undefined;
    prefixLen = Number(lenText);
    if (prefixLen > max) return undefined;
  }
  const bytes = maskBytes(ip.bytes, prefixLen);
  if (!options.loose && !bytesEqual(bytes, ip.bytes)) return undefined;
  return { family: ip.family, bytes, prefixLen };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.bytes)}/${c.prefixLen}`;
}

/** True if addr (bytes; IPv4-mapped IPv6 is treated as IPv4) lies inside cidr. */
export function cidrContains(cidr: Cidr, addr: Uint8Array): boolean {
  const a = addr.length === 16 && cidr.family === 4 ? fromMappedV6(addr) : addr;
  if (!a || a.length !== cidr.bytes.length) return false;
  return bytesEqual(maskBytes(a, cidr.prefixLen), cidr.bytes);
}

function maskBytes(bytes: Uint8Array, prefixLen: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefixLen - i * 8));
    out[i] = out[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Parses "host:port" or "[v6]:port" (host may be a name); undefined if malformed or port out of 1..65535. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:\s]+):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  if (text.startsWith('[') && !parseIPv6(m[1]!)) return undefined;
  return { host: m[1]!, port };
}
