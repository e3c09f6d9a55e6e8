/**
 * Byte builders for the packets our traffic is made of, so IPS rules are judged against real bytes and
 * the prober sends the same shapes. STUN messages come from the STUN codec (agent/src/stun/codec.ts)
 * and WireGuard messages from the WireGuard codec (agent/src/wg/messages.ts), with deterministic
 * filler where keys, MACs and ciphertext would be (an IPS sees only the layout and these bytes).
 */
import { bindingRequest, encodeStun, METHOD_BINDING } from '../stun/codec.ts';
import { encodeCookieReply, encodeInitiation, encodeResponse, encodeTransport } from '../wg/messages.ts';

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

/** RFC 8489 section 5: the magic cookie at offset 4 of every STUN message. */
export const STUN_MAGIC_COOKIE = 0x2112a442;

/** A STUN Binding request with SOFTWARE and FINGERPRINT, as our agent sends it (40 bytes). */
export function stunBindingRequest(txid: Uint8Array = filler(12, 7)): Uint8Array {
  return bindingRequest(txid.subarray(0, 12), { software: 'conegate', fingerprint: true });
}

/** A STUN Binding success response with XOR-MAPPED-ADDRESS (IPv4) and FINGERPRINT. */
export function stunBindingResponse(txid: Uint8Array, ipv4: [number, number, number, number], port: number): Uint8Array {
  return encodeStun({ kind: 'success', method: METHOD_BINDING, transactionId: txid.subarray(0, 12), xorMappedAddress: { family: 4, address: ipv4.join('.'), port }, fingerprint: true });
}

/**
 * A WireGuard message of the given type through the WireGuard codec: type(1) reserved(3)=0, then the
 * type's fields filled with deterministic bytes. Types 1-3 have their fixed sizes; type 4 is header(16)
 * + ciphertext of at least the 16-byte tag (a keepalive is 32 bytes), counter 0.
 */
export function wireguardShaped(type: 1 | 2 | 3 | 4, seed: number = type, dataLength = 16): Uint8Array {
  const f = (len: number, salt: number) => filler(len, seed * 7919 + salt);
  const index = (salt: number) => new DataView(f(4, salt).buffer).getUint32(0);
  switch (type) {
    case 1:
      return encodeInitiation({ sender: index(1), ephemeral: f(32, 2), encryptedStatic: f(48, 3), encryptedTimestamp: f(28, 4), mac1: f(16, 5), mac2: new Uint8Array(16) });
    case 2:
      return encodeResponse({ sender: index(1), receiver: index(6), ephemeral: f(32, 2), encryptedNothing: f(16, 3), mac1: f(16, 5), mac2: new Uint8Array(16) });
    case 3:
      return encodeCookieReply({ receiver: index(1), nonce: f(24, 2), encryptedCookie: f(32, 3) });
    case 4:
      return encodeTransport({ receiver: index(1), counter: 0, ciphertext: f(Math.max(16, dataLength), 2) });
  }
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
