/**
 * Discovery messages on the wire (docs/mesh-paths.md "Discovery messages"). Shape after tailscale's
 * disco (disco/disco.go), with a send time inside the box for replay protection:
 *
 *   envelope  = "CGDSC" 0x01 (6) | sender discovery public key (32) | nonce (24) | box
 *   box       = NaCl box (box.ts) of the plaintext between the sender's and receiver's discovery keys
 *   plaintext = type (1) | version (1) = 0 | sent at, Unix ms (8, big-endian) | body
 *
 * Unknown types open fine and come back as `unknownType` (forward compatibility: a newer peer's message is
 * dropped quietly, not counted as junk); bytes after a known body are ignored. Decoders throw only
 * DecodeError. The replay window (replay.ts) runs on `sentAtMs` and the nonce after the box verifies.
 */
import { ConegateError, DecodeError } from '../errors.ts';
import { formatIp, fromMappedV6, parseIp, toMappedV6 } from '../net/ip.ts';
import type { Endpoint } from '../wg/ports.ts';
import { DISCO_MAGIC } from '../mesh/demux.ts';
import { BOX_NONCE_LEN, BOX_TAG_LEN, boxOpen, boxSeal } from './box.ts';
import type { DiscoMessage } from './types.ts';

export const DISCO_VERSION = 0;
export const DISCO_KEY_LEN = 32;
export const TX_ID_LEN = 12;
export const NODE_KEY_LEN = 32;
/** ip (16, IPv4 as ::ffff:a.b.c.d) | port (2, big-endian). */
export const ENDPOINT_LEN = 18;
/** More candidates than any node advertises; a longer list is cut here (the rest is ignored). */
export const MAX_CMM_ENDPOINTS = 64;
export const ENVELOPE_HEADER_LEN = DISCO_MAGIC.length + DISCO_KEY_LEN + BOX_NONCE_LEN;
/** type | version | sent at (8). */
export const PLAIN_HEADER_LEN = 10;
/** Bytes a sealed message adds to its body: envelope header, Poly1305 tag, plaintext header. */
export const SEAL_OVERHEAD = ENVELOPE_HEADER_LEN + BOX_TAG_LEN + PLAIN_HEADER_LEN;
/** Largest padded ping (a jumbo-frame MTU probe); more is an encoder error. */
export const MAX_PAD_TO = 9216;

export const DISCO_TYPE = {
  /** txId (12) | sender node key (32) | zero padding (any) */
  ping: 0x01,
  /** txId (12) | ip (16) | port (2): the address the ping came from */
  pong: 0x02,
  /** flags (1: bit 0 hardNat) | n x (ip (16) | port (2)) */
  'call-me-maybe': 0x03,
  /** attempt (4) | hard ip (16) | easy ip (16) | easy port (2) | sockets (2) | probes (2) | rate/s (2) | deadline ms (4) */
  birthday: 0x04,
} as const;

const PING_BODY_LEN = TX_ID_LEN + NODE_KEY_LEN;
const PONG_BODY_LEN = TX_ID_LEN + ENDPOINT_LEN;
const BIRTHDAY_BODY_LEN = 4 + 16 + ENDPOINT_LEN + 2 + 2 + 2 + 4;
const CMM_HARD_NAT = 0x01;

/** A sealed message after opening: who sent it, when (their wall clock), and what. */
export interface OpenedDisco {
  sender: Uint8Array;
  nonce: Uint8Array;
  sentAtMs: number;
  /** Undefined for a type this version does not know (ignore it). */
  message: DiscoMessage | undefined;
  unknownType?: number;
}

function invalid(what: string): ConegateError {
  return new ConegateError('CG_INPUT_INVALID', `cannot encode discovery message: ${what}`);
}

function ipBytes16(address: string): Uint8Array {
  const ip = parseIp(address);
  if (!ip) throw invalid(`${JSON.stringify(address)} is not an IP address`);
  return ip.family === 4 ? toMappedV6(ip.bytes) : ip.bytes;
}

function writeEndpoint(out: Uint8Array, off: number, e: Endpoint): void {
  if (!Number.isInteger(e.port) || e.port < 0 || e.port > 0xffff) throw invalid(`port ${e.port}`);
  out.set(ipBytes16(e.address), off);
  out[off + 16] = e.port >> 8;
  out[off + 17] = e.port & 0xff;
}

function ipText16(b: Uint8Array): string {
  return formatIp(fromMappedV6(b) ?? b);
}

function readEndpoint(b: Uint8Array, off: number): Endpoint {
  return { address: ipText16(b.subarray(off, off + 16)), port: (b[off + 16]! << 8) | b[off + 17]! };
}

function uint(v: number, max: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw invalid(`${what} ${v} out of range 0..${max}`);
  return v;
}

function encodeBody(m: DiscoMessage): Uint8Array {
  switch (m.type) {
    case 'ping': {
      if (m.txId.length !== TX_ID_LEN) throw invalid('txId must be 12 bytes');
      if (!/^[0-9a-f]{64}$/.test(m.nodeKey)) throw invalid('nodeKey must be 64 lowercase hex characters');
      const padTo = uint(m.padTo ?? 0, MAX_PAD_TO, 'padTo');
      const out = new Uint8Array(Math.max(PING_BODY_LEN, padTo - SEAL_OVERHEAD));
      out.set(m.txId);
      out.set(Buffer.from(m.nodeKey, 'hex'), TX_ID_LEN);
      return out;
    }
    case 'pong': {
      if (m.txId.length !== TX_ID_LEN) throw invalid('txId must be 12 bytes');
      const out = new Uint8Array(PONG_BODY_LEN);
      out.set(m.txId);
      writeEndpoint(out, TX_ID_LEN, m.src);
      return out;
    }
    case 'call-me-maybe': {
      if (m.endpoints.length > MAX_CMM_ENDPOINTS) throw invalid(`more than ${MAX_CMM_ENDPOINTS} endpoints`);
      const out = new Uint8Array(1 + m.endpoints.length * ENDPOINT_LEN);
      out[0] = m.hardNat ? CMM_HARD_NAT : 0;
      m.endpoints.forEach((e, i) => writeEndpoint(out, 1 + i * ENDPOINT_LEN, e));
      return out;
    }
    case 'birthday': {
      const out = new Uint8Array(BIRTHDAY_BODY_LEN);
      const v = new DataView(out.buffer);
      v.setUint32(0, uint(m.attempt, 0xffffffff, 'attempt'));
      out.set(ipBytes16(m.hardAddress), 4);
      writeEndpoint(out, 20, m.easy);
      v.setUint16(38, uint(m.sockets, 0xffff, 'sockets'));
      v.setUint16(40, uint(m.probes, 0xffff, 'probes'));
      v.setUint16(42, uint(m.ratePerSec, 0xffff, 'ratePerSec'));
      v.setUint32(44, uint(m.deadlineMs, 0xffffffff, 'deadlineMs'));
      return out;
    }
  }
}

/** The plaintext inside the box: header with the send time, then the body. */
export function encodeDiscoPlain(m: DiscoMessage, sentAtMs: number): Uint8Array {
  uint(sentAtMs, Number.MAX_SAFE_INTEGER, 'sentAtMs');
  const body = encodeBody(m);
  const out = new Uint8Array(PLAIN_HEADER_LEN + body.length);
  out[0] = DISCO_TYPE[m.type];
  out[1] = DISCO_VERSION;
  const v = new DataView(out.buffer);
  v.setUint32(2, Math.floor(sentAtMs / 2 ** 32));
  v.setUint32(6, sentAtMs >>> 0);
  out.set(body, PLAIN_HEADER_LEN);
  return out;
}

function need(b: Uint8Array, len: number, what: string): void {
  if (b.length < len) throw new DecodeError(`${what} shorter than ${len} bytes`, { length: b.length });
}

function decodeBody(type: number, b: Uint8Array): DiscoMessage | undefined {
  switch (type) {
    case DISCO_TYPE.ping:
      need(b, PING_BODY_LEN, 'ping');
      return { type: 'ping', txId: b.slice(0, TX_ID_LEN), nodeKey: Buffer.from(b.subarray(TX_ID_LEN, PING_BODY_LEN)).toString('hex') };
    case DISCO_TYPE.pong:
      need(b, PONG_BODY_LEN, 'pong');
      return { type: 'pong', txId: b.slice(0, TX_ID_LEN), src: readEndpoint(b, TX_ID_LEN) };
    case DISCO_TYPE['call-me-maybe']: {
      need(b, 1, 'call-me-maybe');
      const n = Math.min(MAX_CMM_ENDPOINTS, Math.floor((b.length - 1) / ENDPOINT_LEN));
      const endpoints: Endpoint[] = [];
      for (let i = 0; i < n; i++) endpoints.push(readEndpoint(b, 1 + i * ENDPOINT_LEN));
      return { type: 'call-me-maybe', hardNat: (b[0]! & CMM_HARD_NAT) !== 0, endpoints };
    }
    case DISCO_TYPE.birthday: {
      need(b, BIRTHDAY_BODY_LEN, 'birthday');
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      return {
        type: 'birthday', attempt: v.getUint32(0), hardAddress: ipText16(b.subarray(4, 20)), easy: readEndpoint(b, 20),
        sockets: v.getUint16(38), probes: v.getUint16(40), ratePerSec: v.getUint16(42), deadlineMs: v.getUint32(44),
      };
    }
    default:
      return undefined;
  }
}

/** Decodes the plaintext of a box. Versions other than 0 are read as 0 (a newer sender only appends). */
export function decodeDiscoPlain(b: Uint8Array): { sentAtMs: number; message: DiscoMessage | undefined; type: number } {
  need(b, PLAIN_HEADER_LEN, 'discovery plaintext');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const sentAtMs = v.getUint32(2) * 2 ** 32 + v.getUint32(6);
  if (sentAtMs > Number.MAX_SAFE_INTEGER) throw new DecodeError('send time out of range');
  return { sentAtMs, type: b[0]!, message: decodeBody(b[0]!, b.subarray(PLAIN_HEADER_LEN)) };
}

/** The complete datagram: envelope + box. `boxKey` is box.ts boxKey(our private, their public). */
export function sealDisco(key: Uint8Array, senderPublic: Uint8Array, nonce: Uint8Array, m: DiscoMessage, sentAtMs: number): Uint8Array {
  if (senderPublic.length !== DISCO_KEY_LEN || nonce.length !== BOX_NONCE_LEN) throw invalid('sender key 32 and nonce 24 bytes');
  const sealed = boxSeal(key, nonce, encodeDiscoPlain(m, sentAtMs));
  const out = new Uint8Array(ENVELOPE_HEADER_LEN + sealed.length);
  out.set(DISCO_MAGIC);
  out.set(senderPublic, DISCO_MAGIC.length);
  out.set(nonce, DISCO_MAGIC.length + DISCO_KEY_LEN);
  out.set(sealed, ENVELOPE_HEADER_LEN);
  return out;
}

/** The sender key of a datagram, so the caller can pick the box key before opening it. */
export function discoSender(b: Uint8Array): Uint8Array {
  need(b, ENVELOPE_HEADER_LEN + BOX_TAG_LEN + PLAIN_HEADER_LEN, 'discovery envelope');
  for (let i = 0; i < DISCO_MAGIC.length; i++) if (b[i] !== DISCO_MAGIC[i]) throw new DecodeError('no discovery magic');
  return b.slice(DISCO_MAGIC.length, DISCO_MAGIC.length + DISCO_KEY_LEN);
}

/** Opens a datagram with the box key for its sender (no replay check here: see replay.ts). */
export function openDisco(key: Uint8Array, b: Uint8Array): OpenedDisco {
  const sender = discoSender(b);
  const nonce = b.slice(DISCO_MAGIC.length + DISCO_KEY_LEN, ENVELOPE_HEADER_LEN);
  const plain = boxOpen(key, nonce, b.subarray(ENVELOPE_HEADER_LEN));
  if (!plain) throw new DecodeError('box does not open (wrong key or altered)');
  const { sentAtMs, message, type } = decodeDiscoPlain(plain);
  return message ? { sender, nonce, sentAtMs, message } : { sender, nonce, sentAtMs, message: undefined, unknownType: type };
}
