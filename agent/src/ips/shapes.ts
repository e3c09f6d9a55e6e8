/**
 * Byte builders for the packets our traffic is made of, from the published layouts, so IPS rules can
 * be judged against real bytes and the prober can send the same shapes. These are shapes, not working
 * protocol messages: the WireGuard ones carry deterministic filler where keys and MACs would be.
 * The STUN and WireGuard codecs of their own areas can replace these builders in traffic.ts.
 */

/** Deterministic filler bytes (xorshift32), so samples are stable across runs. */
export function filler(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** RFC 8489 section 5: the magic cookie at offset 4 of every STUN message. */
export const STUN_MAGIC_COOKIE = 0x2112a442;
/** STUN message types: Binding request 0x0001, Binding success response 0x0101. */
export const STUN_BINDING_REQUEST = 0x0001;
export const STUN_BINDING_SUCCESS = 0x0101;

function stunAttr(type: number, value: Uint8Array): Uint8Array {
  // type(2) length(2) value, padded to 4 bytes (RFC 8489 section 14)
  const padded = (value.length + 3) & ~3;
  const out = new Uint8Array(4 + padded);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, type);
  dv.setUint16(2, value.length);
  out.set(value, 4);
  return out;
}

function stunMessage(type: number, txid: Uint8Array, attrs: Uint8Array[]): Uint8Array {
  // header: type(2) length(2) cookie(4) transaction id(12); FINGERPRINT last (CRC-32 ^ 0x5354554e)
  const body = attrs.reduce((n, a) => n + a.length, 0);
  const out = new Uint8Array(20 + body + 8);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, type);
  dv.setUint16(2, body + 8);
  dv.setUint32(4, STUN_MAGIC_COOKIE);
  out.set(txid.subarray(0, 12), 8);
  let at = 20;
  for (const a of attrs) {
    out.set(a, at);
    at += a.length;
  }
  dv.setUint16(at, 0x8028);
  dv.setUint16(at + 2, 4);
  dv.setUint32(at + 4, (crc32(out.subarray(0, at)) ^ 0x5354554e) >>> 0);
  return out;
}

/** A STUN Binding request with SOFTWARE and FINGERPRINT, as our agent sends it (40 bytes). */
export function stunBindingRequest(txid: Uint8Array = filler(12, 7)): Uint8Array {
  return stunMessage(STUN_BINDING_REQUEST, txid, [stunAttr(0x8022, new TextEncoder().encode('conegate'))]);
}

/** A STUN Binding success response with XOR-MAPPED-ADDRESS (IPv4) and FINGERPRINT. */
export function stunBindingResponse(txid: Uint8Array, ipv4: [number, number, number, number], port: number): Uint8Array {
  // XOR-MAPPED-ADDRESS: reserved(1) family(1)=0x01 x-port(2) x-address(4), xored with the cookie
  const v = new Uint8Array(8);
  const dv = new DataView(v.buffer);
  dv.setUint8(1, 0x01);
  dv.setUint16(2, port ^ (STUN_MAGIC_COOKIE >>> 16));
  dv.setUint32(4, ((((ipv4[0] << 24) | (ipv4[1] << 16) | (ipv4[2] << 8) | ipv4[3]) >>> 0) ^ STUN_MAGIC_COOKIE) >>> 0);
  return stunMessage(STUN_BINDING_SUCCESS, txid, [stunAttr(0x0020, v)]);
}

/** WireGuard message types and sizes (whitepaper section 5.4). */
export const WG_SIZES = { 1: 148, 2: 92, 3: 64 } as const;

/**
 * A WireGuard-shaped message: type(1) reserved(3)=0, then the type's fields. Types 1-3 have their
 * fixed sizes; type 4 is header(16) + ciphertext, at least the 16-byte tag (a keepalive is 32 bytes).
 */
export function wireguardShaped(type: 1 | 2 | 3 | 4, seed: number = type, dataLength = 16): Uint8Array {
  const len = type === 4 ? 16 + Math.max(16, dataLength) : WG_SIZES[type];
  const out = filler(len, seed * 7919);
  out[0] = type;
  out[1] = 0;
  out[2] = 0;
  out[3] = 0;
  if (type === 4) out.fill(0, 8, 16); // counter(8, little endian): the first packet of a session
  return out;
}

/** A TLS 1.3-style ClientHello record with SNI, ALPN and supported_versions (RFC 8446 section 4.1.2). */
export function tlsClientHello(serverName: string, seed = 11): Uint8Array {
  const name = new TextEncoder().encode(serverName);
  const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
  const sni = [0x00, 0x00, ...u16(name.length + 5), ...u16(name.length + 3), 0x00, ...u16(name.length), ...name];
  const alpn = [0x00, 0x10, ...u16(11), ...u16(9), 0x08, ...new TextEncoder().encode('http/1.1')];
  const versions = [0x00, 0x2b, ...u16(3), 0x02, 0x03, 0x04];
  const ext = [...sni, ...alpn, ...versions];
  const body = [
    0x03, 0x03, ...filler(32, seed), // legacy_version, random
    0x20, ...filler(32, seed + 1), // legacy_session_id
    ...u16(6), 0x13, 0x01, 0x13, 0x02, 0x13, 0x03, // cipher_suites
    0x01, 0x00, // compression
    ...u16(ext.length), ...ext,
  ];
  const hs = [0x01, (body.length >> 16) & 0xff, ...u16(body.length), ...body];
  return Uint8Array.from([0x16, 0x03, 0x01, ...u16(hs.length), ...hs]);
}

/** NAT-PMP external address request (RFC 6886 section 3.2): version(1)=0 opcode(1)=0. */
export function natPmpExternalAddressRequest(): Uint8Array {
  return Uint8Array.from([0, 0]);
}

/** PCP MAP request (RFC 6887 sections 7.1 and 11.1): 24-byte header + 36-byte MAP body, UDP. */
export function pcpMapRequest(clientV4: [number, number, number, number], internalPort: number, lifetimeSec = 7200): Uint8Array {
  const out = new Uint8Array(60);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, 2); // version
  dv.setUint8(1, 1); // R=0, opcode MAP
  dv.setUint32(4, lifetimeSec);
  out.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...clientV4], 8); // client IP as IPv4-mapped IPv6
  out.set(filler(12, 99), 24); // mapping nonce
  dv.setUint8(36, 17); // protocol UDP
  dv.setUint16(40, internalPort);
  dv.setUint16(42, internalPort); // suggested external port
  out.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0], 44); // suggested external address ::ffff:0.0.0.0
  return out;
}
