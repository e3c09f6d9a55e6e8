/**
 * Wire format of `ips probe` / `ips responder` (pure). The prober sends packets shaped like our real
 * traffic (STUN Binding request, WireGuard handshake initiation, a TLS ClientHello over TCP) with a
 * 4-byte nonce where the real protocol carries a random identifier, so the shape an IPS keys on is
 * untouched. The responder answers each with a neutral ack (never shaped like anything an IPS would
 * match) naming the kind and nonce, plus a reply of the same kind (STUN success, WireGuard-shaped
 * response) so the prober also learns whether that kind passes towards it.
 *
 * Neutral messages: magic "CGIPS1"(6) type(1) kind(1) nonce(4) = 12 bytes.
 *   type 0 = control (prober -> responder: "is a conegate responder here?"), 1 = ack.
 * Why they cannot be confused with the shaped packets: STUN has 0x2112A442 at offset 4 ("PS1" + type
 * byte are not), WireGuard-shaped has bytes 1..3 zero ("GIP" are not), and 'C' (0x43) is no
 * WireGuard type and has a STUN top-bit pattern of 01 (STUN requires 00).
 */
import { DecodeError } from '../../errors.ts';
import { STUN_MAGIC_COOKIE, stunBindingRequest, stunBindingResponse, tlsClientHello, wireguardShaped } from '../shapes.ts';

export const PROBE_MAGIC = new TextEncoder().encode('CGIPS1');
/** Neutral message types: control 0 (prober asks), ack 1 (responder confirms what arrived). */
export const MSG_CONTROL = 0;
export const MSG_ACK = 1;

export type ProbeKind = 'control' | 'stun' | 'wireguard' | 'relay';
export const PROBE_KINDS: readonly ProbeKind[] = ['control', 'stun', 'wireguard', 'relay'];
const KIND_CODE: Record<ProbeKind, number> = { control: 0, stun: 1, wireguard: 2, relay: 3 };

export interface NeutralMessage {
  type: typeof MSG_CONTROL | typeof MSG_ACK;
  kind: ProbeKind;
  nonce: number;
}

/** Encodes a neutral control/ack message (12 bytes). */
export function encodeNeutral(m: NeutralMessage): Uint8Array {
  const out = new Uint8Array(12);
  out.set(PROBE_MAGIC, 0);
  out[6] = m.type;
  out[7] = KIND_CODE[m.kind];
  new DataView(out.buffer).setUint32(8, m.nonce >>> 0);
  return out;
}

export function isNeutral(b: Uint8Array): boolean {
  return b.length >= 12 && PROBE_MAGIC.every((x, i) => b[i] === x);
}

export function decodeNeutral(b: Uint8Array): NeutralMessage {
  if (b.length < 12) throw new DecodeError('probe message shorter than 12 bytes');
  if (!isNeutral(b)) throw new DecodeError('probe message without CGIPS1 magic');
  const type = b[6]!;
  if (type !== MSG_CONTROL && type !== MSG_ACK) throw new DecodeError(`unknown probe message type ${type}`);
  const kind = PROBE_KINDS.find((k) => KIND_CODE[k] === b[7]);
  if (!kind) throw new DecodeError(`unknown probe kind ${b[7]}`);
  return { type, kind, nonce: new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(8) };
}

function nonceBytes(nonce: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, nonce >>> 0);
  return b;
}

/** STUN Binding request whose transaction id starts with the nonce. */
export function stunProbe(nonce: number): Uint8Array {
  const txid = new Uint8Array(12);
  txid.set(nonceBytes(nonce), 0);
  return stunBindingRequest(txid);
}

/** WireGuard handshake initiation shape (148 bytes, type 1) whose sender index is the nonce. */
export function wireguardProbe(nonce: number): Uint8Array {
  const b = wireguardShaped(1, nonce);
  b.set(nonceBytes(nonce), 4);
  return b;
}

/** WireGuard handshake response shape (92 bytes, type 2) whose receiver index (offset 8) is the nonce. */
export function wireguardReply(nonce: number): Uint8Array {
  const b = wireguardShaped(2, nonce + 1);
  b.set(nonceBytes(nonce), 8);
  return b;
}

/** TLS ClientHello for the relay probe; the nonce is the first 4 bytes of the client random (offset 11). */
export function relayProbe(nonce: number): Uint8Array {
  const b = tlsClientHello('relay.example.com', nonce);
  b.set(nonceBytes(nonce), 11);
  return b;
}

/** What a packet arriving at the responder is, and its nonce. */
export function classifyArrival(b: Uint8Array): { kind: ProbeKind; nonce: number } | undefined {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (isNeutral(b)) {
    try {
      const m = decodeNeutral(b);
      return m.type === MSG_CONTROL ? { kind: 'control', nonce: m.nonce } : undefined;
    } catch {
      return undefined;
    }
  }
  if (b.length >= 20 && (b[0]! & 0xc0) === 0 && dv.getUint32(4) === STUN_MAGIC_COOKIE) return { kind: 'stun', nonce: dv.getUint32(8) };
  if (b.length >= 16 && b[0]! >= 1 && b[0]! <= 4 && b[1] === 0 && b[2] === 0 && b[3] === 0) return { kind: 'wireguard', nonce: dv.getUint32(4) };
  if (b.length >= 15 && b[0] === 0x16 && b[1] === 0x03 && b[5] === 0x01) return { kind: 'relay', nonce: dv.getUint32(11) };
  return undefined;
}

/** The responder's same-kind reply (the neutral ack is sent separately). */
export function shapedReply(kind: ProbeKind, nonce: number, from: { ipv4?: [number, number, number, number]; port: number }): Uint8Array | undefined {
  if (kind === 'stun') {
    const txid = new Uint8Array(12);
    txid.set(nonceBytes(nonce), 0);
    return stunBindingResponse(txid, from.ipv4 ?? [0, 0, 0, 0], from.port);
  }
  if (kind === 'wireguard') return wireguardReply(nonce);
  return undefined;
}

/** What a packet arriving back at the prober is: a neutral ack, or a shaped reply (kind + nonce). */
export function classifyReply(b: Uint8Array): { ack: boolean; kind: ProbeKind; nonce: number } | undefined {
  if (isNeutral(b)) {
    try {
      const m = decodeNeutral(b);
      return m.type === MSG_ACK ? { ack: true, kind: m.kind, nonce: m.nonce } : undefined;
    } catch {
      return undefined;
    }
  }
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length >= 20 && dv.getUint16(0) === 0x0101 && dv.getUint32(4) === STUN_MAGIC_COOKIE) return { ack: false, kind: 'stun', nonce: dv.getUint32(8) };
  if (b.length === 92 && b[0] === 2 && b[1] === 0 && b[2] === 0 && b[3] === 0) return { ack: false, kind: 'wireguard', nonce: dv.getUint32(8) };
  return undefined;
}
