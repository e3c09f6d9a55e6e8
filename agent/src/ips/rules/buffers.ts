/**
 * Inspection buffers besides the raw payload that we can build exactly for our own packets.
 * Only tls.sni for now (our relay and coordinator connections open with a ClientHello whose SNI is
 * known); every other buffer is 'unknown' to the matcher.
 */

/** The buffer's bytes, `null` when the packet has no such buffer (the rule cannot match), `undefined` when we cannot tell. */
export function inspectionBuffer(name: string, payload: Uint8Array, appProto?: string): Uint8Array | null | undefined {
  if (name === 'pkt_data') return payload;
  if (name === 'tls.sni' || name === 'tls_sni') return clientHelloSni(payload);
  const owner = bufferProtocol(name);
  // A buffer of another app-layer protocol does not exist on a packet whose protocol we know.
  if (owner !== undefined && appProto !== undefined && owner !== appProto) return null;
  return undefined;
}

/** The app-layer protocol a buffer belongs to: "dns.query" -> dns, "http_uri" -> http, "ja3.hash" -> tls. */
export function bufferProtocol(name: string): string | undefined {
  if (/^http(2)?[._]/.test(name)) return 'http';
  if (/^(ja3|ja3s|tls)[._]/.test(name)) return 'tls';
  const m = /^(dns|ssh|smb|krb5|sip|quic|mqtt|snmp|dnp3|dcerpc|rfb|ike|smtp|ftp|ldap|pgsql|modbus|enip|cip)[._]/.exec(name);
  return m ? m[1] : undefined;
}

/**
 * Server name from a TLS ClientHello in one record (RFC 8446 section 4.1.2, RFC 6066 section 3).
 * `null` for a packet that is not a ClientHello, or one without SNI.
 */
export function clientHelloSni(b: Uint8Array): Uint8Array | null | undefined {
  if (b.length < 9 || b[0] !== 0x16 || b[1] !== 0x03 || b[5] !== 0x01) return null;
  const u16 = (at: number) => (at + 2 <= b.length ? (b[at]! << 8) | b[at + 1]! : -1);
  let p = 9 + 2 + 32; // record(5) + handshake header(4) + legacy_version(2) + random(32)
  if (p >= b.length) return undefined;
  p += 1 + b[p]!; // session id
  const suites = u16(p);
  if (suites < 0) return undefined;
  p += 2 + suites;
  if (p >= b.length) return undefined;
  p += 1 + b[p]!; // compression methods
  const extLen = u16(p);
  if (extLen < 0) return null;
  p += 2;
  const end = Math.min(b.length, p + extLen);
  while (p + 4 <= end) {
    const type = u16(p);
    const len = u16(p + 2);
    p += 4;
    if (type === 0x0000) {
      // server_name_list(2) name_type(1)=0 host_name length(2) host_name
      if (p + 5 > end || b[p + 2] !== 0) return undefined;
      const nameLen = u16(p + 3);
      if (nameLen < 0 || p + 5 + nameLen > end) return undefined;
      return b.subarray(p + 5, p + 5 + nameLen);
    }
    p += len;
  }
  return p <= end ? null : undefined;
}
