/**
 * The small UDP socket interface STUN, netcheck and (later) the mesh share. A bind is one local
 * address and port; several handlers may listen on it (the STUN client, the netcheck hairpin probe,
 * the mesh demux), each seeing every datagram. Implementations: node:dgram (dgram-bind.ts) and an
 * in-memory network (memory-bind.ts) for tests; one compliance suite runs against both.
 */
import { formatIp, fromMappedV6, parseIp } from '../net/ip.ts';

export interface UdpEndpoint {
  address: string;
  port: number;
}

export type UdpHandler = (bytes: Uint8Array, from: UdpEndpoint) => void;

export interface UdpBind {
  /** The bound address and port (port resolved when 0 was asked for). */
  readonly local: UdpEndpoint;
  /** Sends one datagram; rejects with ConegateError CG_NETWORK when the OS refuses (no route, closed). */
  send(bytes: Uint8Array, address: string, port: number): Promise<void>;
  /** Adds a handler for every datagram received; returns its remover. */
  onMessage(handler: UdpHandler): () => void;
  /** Closes the socket; idempotent. Handlers are dropped. */
  close(): Promise<void>;
}

/** Canonical text for an IP: IPv4-mapped IPv6 becomes IPv4, IPv6 gets RFC 5952 form. */
export function canonicalIp(text: string): string {
  const ip = parseIp(text);
  if (!ip) return text;
  if (ip.family === 6) {
    const v4 = fromMappedV6(ip.bytes);
    if (v4) return formatIp(v4);
  }
  return formatIp(ip.bytes);
}

export function sameEndpoint(a: UdpEndpoint, b: UdpEndpoint): boolean {
  return a.port === b.port && canonicalIp(a.address) === canonicalIp(b.address);
}

export function familyOf(address: string): 4 | 6 | undefined {
  return parseIp(address)?.family;
}
