/**
 * NAT-PMP (RFC 6886) wire codec, client side and server side. Pure: no socket, clock or logger.
 *
 * All fields are big-endian. Every message starts with the version byte (0) and an opcode byte; the
 * top bit of the opcode marks a response (RFC 6886 3.1). Requests:
 *
 *   public address   | ver=0 | op=0 |                                              (2 bytes)
 *   map              | ver=0 | op=1 UDP / 2 TCP | reserved(16) | internal port(16) |
 *                    | suggested external port(16) | requested lifetime s(32) |  (12 bytes)
 * Responses:
 *   public address   | ver=0 | op=128 | result(16) | SSSoE(32) | external IPv4(32) |           (12)
 *   map              | ver=0 | op=128+op | result(16) | SSSoE(32) | internal port(16) |
 *                    | mapped external port(16) | granted lifetime s(32) |                  (16)
 *   short error      | ver=0 | op=128+op | result(16) | SSSoE(32) |                            (8)
 * The short error form is what a server sends for "unsupported version" (op 128, RFC 6886 3.5 with
 * erratum 3618); clients must accept it for any failed request. An unsupported opcode is answered with
 * the whole request sent back (encodePmpUnsupportedOpcode), which decodes as the same short form.
 * An announcement (RFC 6886 3.2.1) is a public-address response sent unsolicited to 224.0.0.1:5350.
 */
import { DecodeError } from '../errors.ts';

/** The only NAT-PMP version. A version-2 packet on the same port is PCP (RFC 6887 9). */
export const PMP_VERSION = 0;
/** Server port on the gateway. */
export const PMP_SERVER_PORT = 5351;
/** Port clients listen on for announcements. */
export const PMP_CLIENT_PORT = 5350;
/** All-hosts group the announcements go to (RFC 6886 3.2.1). */
export const PMP_ANNOUNCE_GROUP = '224.0.0.1';

/** Opcodes. Responses carry opcode + PMP_RESPONSE_BIT. */
export const PmpOpcode = {
  /** | 0 | 0 | */
  PUBLIC_ADDRESS: 0,
  /** | 0 | 1 | reserved(16) | internal(16) | external(16) | lifetime(32) | */
  MAP_UDP: 1,
  /** | 0 | 2 | reserved(16) | internal(16) | external(16) | lifetime(32) | */
  MAP_TCP: 2,
} as const;
export const PMP_RESPONSE_BIT = 0x80;

/** Result codes (RFC 6886 3.5). */
export const PmpResult = {
  SUCCESS: 0,
  UNSUPPORTED_VERSION: 1,
  /** Not authorized / refused: box supports mapping but the user turned it off, or policy refuses it. */
  NOT_AUTHORIZED: 2,
  /** Network failure, e.g. the gateway has no public address yet. */
  NETWORK_FAILURE: 3,
  /** Out of resources: cannot create more mappings now. */
  OUT_OF_RESOURCES: 4,
  UNSUPPORTED_OPCODE: 5,
} as const;
export type PmpResultCode = number;

/** Name of a result code for logs ("UNKNOWN_n" for codes the RFC does not define). */
export function pmpResultName(code: number): string {
  for (const [name, value] of Object.entries(PmpResult)) if (value === code) return name;
  return `UNKNOWN_${code}`;
}

export type PmpProtocol = 'udp' | 'tcp';

export type PmpRequest =
  | { kind: 'publicAddress' }
  | {
      kind: 'map';
      protocol: PmpProtocol;
      internalPort: number;
      /** 0 = no preference. */
      suggestedExternalPort: number;
      /** 0 = delete (RFC 6886 3.4). */
      lifetimeSec: number;
    };

export type PmpResponse =
  | { kind: 'publicAddress'; result: PmpResultCode; epochSec: number; externalAddress: Uint8Array }
  | {
      kind: 'map';
      protocol: PmpProtocol;
      result: PmpResultCode;
      epochSec: number;
      internalPort: number;
      externalPort: number;
      lifetimeSec: number;
    }
  /** An 8-byte error answer; `opcode` is the request opcode (response bit removed). */
  | { kind: 'error'; opcode: number; result: PmpResultCode; epochSec: number };

const PUBLIC_ADDRESS_REQUEST_LEN = 2;
const MAP_REQUEST_LEN = 12;
const PUBLIC_ADDRESS_RESPONSE_LEN = 12;
const MAP_RESPONSE_LEN = 16;
const ERROR_RESPONSE_LEN = 8;

function protocolOf(op: number): PmpProtocol | undefined {
  return op === PmpOpcode.MAP_UDP ? 'udp' : op === PmpOpcode.MAP_TCP ? 'tcp' : undefined;
}

function opcodeOf(protocol: PmpProtocol): number {
  return protocol === 'udp' ? PmpOpcode.MAP_UDP : PmpOpcode.MAP_TCP;
}

function checkU16(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`${name} must be 0..65535, got ${v}`);
}

function checkU32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${name} must be 0..2^32-1, got ${v}`);
}

/** True if b looks like NAT-PMP (version byte 0, at least version + opcode). */
export function isPmp(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === PMP_VERSION;
}

/** Encodes a client request. Throws RangeError for out-of-range fields (a programming error). */
export function encodePmpRequest(req: PmpRequest): Uint8Array {
  if (req.kind === 'publicAddress') return Uint8Array.of(PMP_VERSION, PmpOpcode.PUBLIC_ADDRESS);
  checkU16('internalPort', req.internalPort);
  checkU16('suggestedExternalPort', req.suggestedExternalPort);
  checkU32('lifetimeSec', req.lifetimeSec);
  const b = new Uint8Array(MAP_REQUEST_LEN);
  const v = new DataView(b.buffer);
  b[0] = PMP_VERSION;
  b[1] = opcodeOf(req.protocol);
  v.setUint16(4, req.internalPort);
  v.setUint16(6, req.suggestedExternalPort);
  v.setUint32(8, req.lifetimeSec);
  return b;
}

/**
 * Decodes a request (server side). Throws DecodeError for anything that is not a version-0 request
 * with opcode 0, 1 or 2 of sufficient length; trailing bytes are ignored (RFC 6886 leaves them
 * undefined, and ignoring them keeps old servers forward compatible). The server checks version and
 * opcode itself first because those errors get an answer (see pmpd), while truncation is dropped.
 */
export function decodePmpRequest(b: Uint8Array): PmpRequest {
  if (b.length < PUBLIC_ADDRESS_REQUEST_LEN) throw new DecodeError('nat-pmp request shorter than 2 bytes', { length: b.length });
  if (b[0] !== PMP_VERSION) throw new DecodeError('not nat-pmp version 0', { version: b[0] });
  const op = b[1]!;
  if (op & PMP_RESPONSE_BIT) throw new DecodeError('nat-pmp response where a request was expected', { opcode: op });
  if (op === PmpOpcode.PUBLIC_ADDRESS) return { kind: 'publicAddress' };
  const protocol = protocolOf(op);
  if (!protocol) throw new DecodeError('unsupported nat-pmp opcode', { opcode: op });
  if (b.length < MAP_REQUEST_LEN) throw new DecodeError('nat-pmp map request truncated', { length: b.length });
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    kind: 'map',
    protocol,
    internalPort: v.getUint16(4),
    suggestedExternalPort: v.getUint16(6),
    lifetimeSec: v.getUint32(8),
  };
}

/** Encodes a response (server side), including announcements (a public-address response). */
export function encodePmpResponse(resp: PmpResponse): Uint8Array {
  checkU16('result', resp.result);
  checkU32('epochSec', resp.epochSec);
  let b: Uint8Array;
  let op: number;
  if (resp.kind === 'publicAddress') {
    if (resp.externalAddress.length !== 4) throw new RangeError('externalAddress must be 4 bytes (IPv4)');
    b = new Uint8Array(PUBLIC_ADDRESS_RESPONSE_LEN);
    b.set(resp.externalAddress, 8);
    op = PmpOpcode.PUBLIC_ADDRESS;
  } else if (resp.kind === 'map') {
    checkU16('internalPort', resp.internalPort);
    checkU16('externalPort', resp.externalPort);
    checkU32('lifetimeSec', resp.lifetimeSec);
    b = new Uint8Array(MAP_RESPONSE_LEN);
    const v = new DataView(b.buffer);
    v.setUint16(8, resp.internalPort);
    v.setUint16(10, resp.externalPort);
    v.setUint32(12, resp.lifetimeSec);
    op = opcodeOf(resp.protocol);
  } else {
    if (!Number.isInteger(resp.opcode) || resp.opcode < 0 || resp.opcode > 0x7f) throw new RangeError('opcode must be 0..127');
    b = new Uint8Array(ERROR_RESPONSE_LEN);
    op = resp.opcode;
  }
  const v = new DataView(b.buffer);
  b[0] = PMP_VERSION;
  b[1] = op | PMP_RESPONSE_BIT;
  v.setUint16(2, resp.result);
  v.setUint32(4, resp.epochSec);
  return b;
}

/**
 * The answer to a version-0 request with an opcode below 128 that we do not support (RFC 6886 3.5):
 * the entire request returned with the top bit of the opcode set and result code 5. The result code
 * and, per 3.6 ("every packet sent by the NAT gateway includes a SSSoE field"), the SSSoE take their
 * usual places at octets 2-7, so a request shorter than 8 octets is padded with zeros to carry them;
 * every octet from 8 on is the request's own.
 */
export function encodePmpUnsupportedOpcode(request: Uint8Array, epochSec: number): Uint8Array {
  checkU32('epochSec', epochSec);
  if (request.length < 2 || request[0] !== PMP_VERSION || request[1]! & PMP_RESPONSE_BIT) throw new RangeError('not a nat-pmp request');
  const out = new Uint8Array(Math.max(ERROR_RESPONSE_LEN, request.length));
  out.set(request, 0);
  const v = new DataView(out.buffer);
  out[1] = request[1]! | PMP_RESPONSE_BIT;
  v.setUint16(2, PmpResult.UNSUPPORTED_OPCODE);
  v.setUint32(4, epochSec);
  return out;
}

/** The unsolicited announcement (RFC 6886 3.2.1): a public-address response, multicast to 224.0.0.1:5350. */
export function encodePmpAnnouncement(epochSec: number, externalAddress: Uint8Array): Uint8Array {
  return encodePmpResponse({ kind: 'publicAddress', result: PmpResult.SUCCESS, epochSec, externalAddress });
}

/**
 * Decodes a response (client side). A failed request may be answered with the 8-byte form, which
 * decodes as kind 'error'; a full-size failed answer decodes as its own kind with the result set.
 */
export function decodePmpResponse(b: Uint8Array): PmpResponse {
  if (b.length < ERROR_RESPONSE_LEN) throw new DecodeError('nat-pmp response shorter than 8 bytes', { length: b.length });
  if (b[0] !== PMP_VERSION) throw new DecodeError('not nat-pmp version 0', { version: b[0] });
  const rawOp = b[1]!;
  if (!(rawOp & PMP_RESPONSE_BIT)) throw new DecodeError('nat-pmp request where a response was expected', { opcode: rawOp });
  const op = rawOp & ~PMP_RESPONSE_BIT;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const result = v.getUint16(2);
  const epochSec = v.getUint32(4);
  if (op === PmpOpcode.PUBLIC_ADDRESS && b.length >= PUBLIC_ADDRESS_RESPONSE_LEN) {
    return { kind: 'publicAddress', result, epochSec, externalAddress: b.slice(8, 12) };
  }
  const protocol = protocolOf(op);
  if (protocol && b.length >= MAP_RESPONSE_LEN) {
    return {
      kind: 'map',
      protocol,
      result,
      epochSec,
      internalPort: v.getUint16(8),
      externalPort: v.getUint16(10),
      lifetimeSec: v.getUint32(12),
    };
  }
  // A short answer is only meaningful as a failure; a "success" too short to carry its fields is broken.
  if (result === PmpResult.SUCCESS) throw new DecodeError('nat-pmp success response truncated', { opcode: op, length: b.length });
  return { kind: 'error', opcode: op, result, epochSec };
}

/** True if b is a NAT-PMP announcement/public-address response (what a client on 5350 listens for). */
export function isPmpAnnouncement(b: Uint8Array): boolean {
  return b.length >= PUBLIC_ADDRESS_RESPONSE_LEN && b[0] === PMP_VERSION && b[1] === (PmpOpcode.PUBLIC_ADDRESS | PMP_RESPONSE_BIT);
}
