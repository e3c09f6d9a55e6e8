/**
 * PCP (RFC 6887) wire codec, client side and server side. Pure: no socket, clock or logger.
 * Big-endian throughout; every message is a multiple of 4 bytes and at most 1100 bytes (RFC 6887 7).
 *
 * Request header (24):  | ver=2 | R=0,opcode(7) | reserved(16) | requested lifetime s(32) |
 *                       | client IP (128, IPv4 as ::ffff:a.b.c.d) |
 * Response header (24): | ver=2 | R=1,opcode(7) | reserved(8) | result(8) | lifetime s(32) |
 *                       | epoch time s(32) | reserved(96) |
 * Then opcode data, then options.
 * MAP data (36):  | nonce(96) | protocol(8) | reserved(24) | internal port(16) | external port(16) |
 *                 | external IP(128) |         (suggested in a request, assigned in a response)
 * PEER data (56): MAP data + | remote peer port(16) | reserved(16) | remote peer IP(128) |
 * ANNOUNCE: no data.
 * Option: | code(8) | reserved(8) | length(16) | data, padded with zeros to 4 bytes |
 *   THIRD_PARTY (1): | internal IP(128) |
 *   PREFER_FAILURE (2): no data
 *   FILTER (3): | reserved(8) | prefix length(8) | remote peer port(16) | remote peer IP(128) |
 */
import { DecodeError } from '../errors.ts';

export const PCP_VERSION = 2;
/** Same server port as NAT-PMP; announcements go to 224.0.0.1:5350 and [ff02::1]:5350 (RFC 6887 8.5). */
export const PCP_SERVER_PORT = 5351;
export const PCP_CLIENT_PORT = 5350;
export const PCP_ANNOUNCE_GROUPS = ['224.0.0.1', 'ff02::1'] as const;
export const PCP_MAX_MESSAGE = 1100;
export const PCP_HEADER_LEN = 24;
export const PCP_MAP_DATA_LEN = 36;
export const PCP_PEER_DATA_LEN = 56;
export const PCP_NONCE_LEN = 12;
const R_BIT = 0x80;

/** Opcodes (RFC 6887 19.2). */
export const PcpOpcode = {
  /** header only */
  ANNOUNCE: 0,
  /** header + MAP data (36) */
  MAP: 1,
  /** header + PEER data (56) */
  PEER: 2,
} as const;

/** Result codes (RFC 6887 7.4). */
export const PcpResult = {
  SUCCESS: 0,
  UNSUPP_VERSION: 1,
  NOT_AUTHORIZED: 2,
  MALFORMED_REQUEST: 3,
  UNSUPP_OPCODE: 4,
  UNSUPP_OPTION: 5,
  MALFORMED_OPTION: 6,
  NETWORK_FAILURE: 7,
  NO_RESOURCES: 8,
  UNSUPP_PROTOCOL: 9,
  USER_EX_QUOTA: 10,
  CANNOT_PROVIDE_EXTERNAL: 11,
  ADDRESS_MISMATCH: 12,
  EXCESSIVE_REMOTE_PEERS: 13,
} as const;
export type PcpResultCode = number;

export function pcpResultName(code: number): string {
  for (const [name, value] of Object.entries(PcpResult)) if (value === code) return name;
  return `UNKNOWN_${code}`;
}

/**
 * Lifetime to put in an error response (RFC 6887 7.2/15): long-lifetime errors (the same request will
 * keep failing) 30 minutes, short-lifetime errors (transient) 30 seconds.
 */
export function pcpErrorLifetimeSec(result: PcpResultCode): number {
  const short: number[] = [PcpResult.NETWORK_FAILURE, PcpResult.NO_RESOURCES, PcpResult.USER_EX_QUOTA, PcpResult.CANNOT_PROVIDE_EXTERNAL];
  return short.includes(result) ? 30 : 1800;
}

/** Option codes (RFC 6887 19.3). 0-127 are mandatory to process, 128-255 optional. */
export const PcpOptionCode = {
  /** | internal IP(128) | */
  THIRD_PARTY: 1,
  /** no data */
  PREFER_FAILURE: 2,
  /** | reserved(8) | prefix length(8) | remote peer port(16) | remote peer IP(128) | */
  FILTER: 3,
} as const;

/** IANA protocol numbers PCP carries; 0 means "all protocols" (RFC 6887 11.1). */
export const PcpProtocolNumber = { ALL: 0, TCP: 6, UDP: 17 } as const;

export type PcpOption =
  | { kind: 'thirdParty'; internalAddress: Uint8Array }
  | { kind: 'preferFailure' }
  | { kind: 'filter'; prefixLength: number; remotePeerPort: number; remotePeerAddress: Uint8Array }
  /** Any other option, kept raw: the server answers UNSUPP_OPTION for a mandatory one (code < 128). */
  | { kind: 'unknown'; code: number; data: Uint8Array };

/** MAP opcode data; in a request the port/address are suggestions, in a response the assignment. */
export interface PcpMapData {
  nonce: Uint8Array;
  protocol: number;
  internalPort: number;
  externalPort: number;
  /** 16 bytes; IPv4 as ::ffff:a.b.c.d; all zeros = no preference. */
  externalAddress: Uint8Array;
}

export interface PcpPeerData extends PcpMapData {
  remotePeerPort: number;
  /** 16 bytes. */
  remotePeerAddress: Uint8Array;
}

interface RequestCommon {
  lifetimeSec: number;
  /** 16 bytes: the client's own address as it believes it to be (IPv4-mapped for IPv4). */
  clientAddress: Uint8Array;
  options: PcpOption[];
}

export type PcpRequest =
  | (RequestCommon & { opcode: 'announce' })
  | (RequestCommon & { opcode: 'map'; map: PcpMapData })
  | (RequestCommon & { opcode: 'peer'; peer: PcpPeerData });

interface ResponseCommon {
  result: PcpResultCode;
  lifetimeSec: number;
  epochSec: number;
  options: PcpOption[];
}

export type PcpResponse =
  | (ResponseCommon & { opcode: 'announce' })
  | (ResponseCommon & { opcode: 'map'; map: PcpMapData })
  | (ResponseCommon & { opcode: 'peer'; peer: PcpPeerData })
  /** An error answer too short to carry its opcode data (e.g. UNSUPP_VERSION), or an opcode we do not know. */
  | (ResponseCommon & { opcode: 'other'; rawOpcode: number });

/**
 * The result code a server should answer with when decodePcpRequest fails, or undefined when the
 * packet must be silently dropped (shorter than 2 bytes, or a response: RFC 6887 8.3).
 */
export function pcpErrorResultOf(err: DecodeError): PcpResultCode | undefined {
  const r = err.context.pcpResult;
  return typeof r === 'number' ? r : undefined;
}

function fail(reason: string, pcpResult: number | undefined, context: Record<string, unknown> = {}): never {
  throw new DecodeError(reason, pcpResult === undefined ? context : { ...context, pcpResult });
}

const OPCODE_NAMES = ['announce', 'map', 'peer'] as const;

function checkInt(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${name} must be 0..${max}, got ${v}`);
}

function checkAddr(name: string, a: Uint8Array, len = 16): void {
  if (a.length !== len) throw new RangeError(`${name} must be ${len} bytes, got ${a.length}`);
}

/** True if b looks like PCP (version byte 2, at least version + opcode). */
export function isPcp(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === PCP_VERSION;
}

// ---- options ----

function encodeOptions(options: PcpOption[]): Uint8Array[] {
  return options.map((o) => {
    let code: number;
    let data: Uint8Array;
    if (o.kind === 'thirdParty') {
      checkAddr('internalAddress', o.internalAddress);
      code = PcpOptionCode.THIRD_PARTY;
      data = o.internalAddress;
    } else if (o.kind === 'preferFailure') {
      code = PcpOptionCode.PREFER_FAILURE;
      data = new Uint8Array(0);
    } else if (o.kind === 'filter') {
      checkInt('prefixLength', o.prefixLength, 128);
      checkInt('remotePeerPort', o.remotePeerPort, 0xffff);
      checkAddr('remotePeerAddress', o.remotePeerAddress);
      code = PcpOptionCode.FILTER;
      data = new Uint8Array(20);
      data[1] = o.prefixLength;
      new DataView(data.buffer).setUint16(2, o.remotePeerPort);
      data.set(o.remotePeerAddress, 4);
    } else {
      checkInt('option code', o.code, 0xff);
      if (o.data.length > PCP_MAX_MESSAGE) throw new RangeError('option data too long');
      code = o.code;
      data = o.data;
    }
    const padded = (data.length + 3) & ~3;
    const out = new Uint8Array(4 + padded);
    out[0] = code;
    new DataView(out.buffer).setUint16(2, data.length);
    out.set(data, 4);
    return out;
  });
}

/** Parses the options area; a wrong length for a known option or an overrun is MALFORMED_OPTION. */
function decodeOptions(b: Uint8Array, start: number, malformedResult: number | undefined): PcpOption[] {
  const out: PcpOption[] = [];
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let off = start;
  while (off < b.length) {
    if (b.length - off < 4) fail('pcp option header truncated', malformedResult, { offset: off });
    const code = b[off]!;
    const len = v.getUint16(off + 2);
    const dataStart = off + 4;
    if (dataStart + len > b.length) fail('pcp option overruns the message', malformedResult, { code, len });
    const data = b.subarray(dataStart, dataStart + len);
    if (code === PcpOptionCode.THIRD_PARTY) {
      if (len !== 16) fail('pcp THIRD_PARTY option length is not 16', malformedResult, { len });
      out.push({ kind: 'thirdParty', internalAddress: data.slice() });
    } else if (code === PcpOptionCode.PREFER_FAILURE) {
      if (len !== 0) fail('pcp PREFER_FAILURE option length is not 0', malformedResult, { len });
      out.push({ kind: 'preferFailure' });
    } else if (code === PcpOptionCode.FILTER) {
      if (len !== 20) fail('pcp FILTER option length is not 20', malformedResult, { len });
      out.push({ kind: 'filter', prefixLength: data[1]!, remotePeerPort: v.getUint16(dataStart + 2), remotePeerAddress: data.slice(4, 20) });
    } else {
      out.push({ kind: 'unknown', code, data: data.slice() });
    }
    off = dataStart + ((len + 3) & ~3);
  }
  return out;
}

// ---- opcode data ----

function encodeMapData(m: PcpMapData, out: Uint8Array, at: number): void {
  checkAddr('nonce', m.nonce, PCP_NONCE_LEN);
  checkInt('protocol', m.protocol, 0xff);
  checkInt('internalPort', m.internalPort, 0xffff);
  checkInt('externalPort', m.externalPort, 0xffff);
  checkAddr('externalAddress', m.externalAddress);
  const v = new DataView(out.buffer);
  out.set(m.nonce, at);
  out[at + 12] = m.protocol;
  v.setUint16(at + 16, m.internalPort);
  v.setUint16(at + 18, m.externalPort);
  out.set(m.externalAddress, at + 20);
}

function encodePeerData(p: PcpPeerData, out: Uint8Array, at: number): void {
  encodeMapData(p, out, at);
  checkInt('remotePeerPort', p.remotePeerPort, 0xffff);
  checkAddr('remotePeerAddress', p.remotePeerAddress);
  new DataView(out.buffer).setUint16(at + 36, p.remotePeerPort);
  out.set(p.remotePeerAddress, at + 40);
}

function decodeMapData(b: Uint8Array, at: number): PcpMapData {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    nonce: b.slice(at, at + 12),
    protocol: b[at + 12]!,
    internalPort: v.getUint16(at + 16),
    externalPort: v.getUint16(at + 18),
    externalAddress: b.slice(at + 20, at + 36),
  };
}

function decodePeerData(b: Uint8Array, at: number): PcpPeerData {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { ...decodeMapData(b, at), remotePeerPort: v.getUint16(at + 36), remotePeerAddress: b.slice(at + 40, at + 56) };
}

function dataLenOf(opcode: 'announce' | 'map' | 'peer'): number {
  return opcode === 'map' ? PCP_MAP_DATA_LEN : opcode === 'peer' ? PCP_PEER_DATA_LEN : 0;
}

function opcodeNumber(opcode: 'announce' | 'map' | 'peer'): number {
  return opcode === 'map' ? PcpOpcode.MAP : opcode === 'peer' ? PcpOpcode.PEER : PcpOpcode.ANNOUNCE;
}

function assemble(header: Uint8Array, opcode: 'announce' | 'map' | 'peer', msg: { map?: PcpMapData; peer?: PcpPeerData }, options: PcpOption[]): Uint8Array {
  const opts = encodeOptions(options);
  const dataLen = dataLenOf(opcode);
  const total = PCP_HEADER_LEN + dataLen + opts.reduce((n, o) => n + o.length, 0);
  if (total > PCP_MAX_MESSAGE) throw new RangeError(`pcp message would be ${total} bytes, over ${PCP_MAX_MESSAGE}`);
  const out = new Uint8Array(total);
  out.set(header, 0);
  if (opcode === 'map') encodeMapData(msg.map!, out, PCP_HEADER_LEN);
  if (opcode === 'peer') encodePeerData(msg.peer!, out, PCP_HEADER_LEN);
  let off = PCP_HEADER_LEN + dataLen;
  for (const o of opts) {
    out.set(o, off);
    off += o.length;
  }
  return out;
}

// ---- requests ----

/** Encodes a client request. Throws RangeError for out-of-range fields (a programming error). */
export function encodePcpRequest(req: PcpRequest): Uint8Array {
  checkInt('lifetimeSec', req.lifetimeSec, 0xffffffff);
  checkAddr('clientAddress', req.clientAddress);
  const h = new Uint8Array(PCP_HEADER_LEN);
  h[0] = PCP_VERSION;
  h[1] = opcodeNumber(req.opcode);
  new DataView(h.buffer).setUint32(4, req.lifetimeSec);
  h.set(req.clientAddress, 8);
  return assemble(h, req.opcode, req as { map?: PcpMapData; peer?: PcpPeerData }, req.options);
}

/**
 * Decodes a request (server side), checking in RFC 6887 8.3 order. On failure the DecodeError carries
 * the result code to answer with (pcpErrorResultOf), or none when the packet must be dropped.
 * Per-opcode option rules (which option is valid where, repeats) are policy, checked by the server.
 */
export function decodePcpRequest(b: Uint8Array): PcpRequest {
  // 8.3: shorter than 2 octets or R bit set: silently dropped.
  if (b.length < 2) fail('pcp request shorter than 2 bytes', undefined, { length: b.length });
  if (b[1]! & R_BIT) fail('pcp response where a request was expected', undefined);
  if (b[0] !== PCP_VERSION) fail('unsupported pcp version', PcpResult.UNSUPP_VERSION, { version: b[0] });
  // 8.3: a supported version shorter than the 24-octet header is silently dropped (no answer).
  if (b.length < PCP_HEADER_LEN) fail('pcp request shorter than the header', undefined, { length: b.length });
  // 7, 8.3: longer than 1100 or not a multiple of 4: MALFORMED_REQUEST.
  if (b.length > PCP_MAX_MESSAGE || b.length % 4 !== 0) fail('pcp request length invalid', PcpResult.MALFORMED_REQUEST, { length: b.length });
  const opNum = b[1]! & 0x7f;
  const opcode = OPCODE_NAMES[opNum];
  if (opcode === undefined) fail('unsupported pcp opcode', PcpResult.UNSUPP_OPCODE, { opcode: opNum });
  const dataLen = dataLenOf(opcode);
  if (b.length < PCP_HEADER_LEN + dataLen) fail('pcp opcode data truncated', PcpResult.MALFORMED_REQUEST, { opcode, length: b.length });
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const common = {
    lifetimeSec: v.getUint32(4),
    clientAddress: b.slice(8, 24),
    options: decodeOptions(b, PCP_HEADER_LEN + dataLen, PcpResult.MALFORMED_OPTION),
  };
  if (opcode === 'map') return { ...common, opcode, map: decodeMapData(b, PCP_HEADER_LEN) };
  if (opcode === 'peer') return { ...common, opcode, peer: decodePeerData(b, PCP_HEADER_LEN) };
  return { ...common, opcode };
}

// ---- responses ----

function responseHeader(opNum: number, result: number, lifetimeSec: number, epochSec: number): Uint8Array {
  checkInt('result', result, 0xff);
  checkInt('lifetimeSec', lifetimeSec, 0xffffffff);
  checkInt('epochSec', epochSec, 0xffffffff);
  const h = new Uint8Array(PCP_HEADER_LEN);
  const v = new DataView(h.buffer);
  h[0] = PCP_VERSION;
  h[1] = R_BIT | opNum;
  h[3] = result;
  v.setUint32(4, lifetimeSec);
  v.setUint32(8, epochSec);
  return h;
}

/** Encodes a response (server side); an ANNOUNCE response with result SUCCESS is the unsolicited announcement. */
export function encodePcpResponse(resp: PcpResponse): Uint8Array {
  if (resp.opcode === 'other') {
    checkInt('rawOpcode', resp.rawOpcode, 0x7f);
    return assemble(responseHeader(resp.rawOpcode, resp.result, resp.lifetimeSec, resp.epochSec), 'announce', {}, resp.options);
  }
  const h = responseHeader(opcodeNumber(resp.opcode), resp.result, resp.lifetimeSec, resp.epochSec);
  return assemble(h, resp.opcode, resp as { map?: PcpMapData; peer?: PcpPeerData }, resp.options);
}

/** The unsolicited ANNOUNCE (RFC 6887 14.1.3), multicast to 224.0.0.1:5350 and [ff02::1]:5350. */
export function encodePcpAnnouncement(epochSec: number): Uint8Array {
  return encodePcpResponse({ opcode: 'announce', result: PcpResult.SUCCESS, lifetimeSec: 0, epochSec, options: [] });
}

/** Offset of the response header's 96 reserved bits, which overlay the last 96 bits of the request's client address. */
const RESERVED96_AT = 12;

/**
 * Builds an error answer from the raw request bytes (RFC 6887 7.3, 8.3): the request (first 1100
 * bytes) is copied so the client can match nonce and data, zero-padded to a multiple of 4 and at
 * least a header, then the header's server fields are set. `version` is PCP_VERSION even when the
 * request had another one: UNSUPP_VERSION tells the client which version to use (RFC 6887 9).
 * RFC 6887 7.2: the 96 reserved bits are 0 for a request that was parsed, and for one that could not
 * be parsed (`parsed: false`) keep the last 96 bits of the request's client address, which the copy
 * already put there.
 */
export function encodePcpErrorResponse(request: Uint8Array, result: PcpResultCode, epochSec: number, opts: { lifetimeSec?: number; parsed?: boolean } = {}): Uint8Array {
  const copyLen = Math.min(request.length, PCP_MAX_MESSAGE);
  const len = Math.max(PCP_HEADER_LEN, (copyLen + 3) & ~3);
  const out = new Uint8Array(len);
  out.set(request.subarray(0, copyLen), 0);
  const opNum = request.length >= 2 ? request[1]! & 0x7f : 0;
  const header = responseHeader(opNum, result, opts.lifetimeSec ?? pcpErrorLifetimeSec(result), epochSec);
  out.set(opts.parsed === false ? header.subarray(0, RESERVED96_AT) : header, 0);
  return out;
}

/** Decodes a response (client side). Options in a response are parsed leniently only in that unknown ones are kept raw. */
export function decodePcpResponse(b: Uint8Array): PcpResponse {
  if (b.length < PCP_HEADER_LEN) throw new DecodeError('pcp response shorter than the header', { length: b.length });
  if (b[0] !== PCP_VERSION) throw new DecodeError('not a pcp version 2 response', { version: b[0] });
  if (!(b[1]! & R_BIT)) throw new DecodeError('pcp request where a response was expected');
  if (b.length > PCP_MAX_MESSAGE || b.length % 4 !== 0) throw new DecodeError('pcp response length invalid', { length: b.length });
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const opNum = b[1]! & 0x7f;
  const result = b[3]!;
  const lifetimeSec = v.getUint32(4);
  const epochSec = v.getUint32(8);
  const opcode = OPCODE_NAMES[opNum];
  const dataLen = opcode === undefined ? 0 : dataLenOf(opcode);
  if (opcode === undefined || b.length < PCP_HEADER_LEN + dataLen) {
    if (opcode !== undefined && result === PcpResult.SUCCESS) throw new DecodeError('pcp success response truncated', { opcode, length: b.length });
    return { opcode: 'other', rawOpcode: opNum, result, lifetimeSec, epochSec, options: [] };
  }
  const common = { result, lifetimeSec, epochSec, options: responseOptions(b, PCP_HEADER_LEN + dataLen, result) };
  if (opcode === 'map') return { ...common, opcode, map: decodeMapData(b, PCP_HEADER_LEN) };
  if (opcode === 'peer') return { ...common, opcode, peer: decodePeerData(b, PCP_HEADER_LEN) };
  return { ...common, opcode };
}

/**
 * Options of a response. An error answer is a copy of the request (RFC 6887 8.3), so a
 * MALFORMED_OPTION answer carries the client's own broken options: keep the result, drop the options.
 */
function responseOptions(b: Uint8Array, start: number, result: number): PcpOption[] {
  if (result === PcpResult.SUCCESS) return decodeOptions(b, start, undefined);
  try {
    return decodeOptions(b, start, undefined);
  } catch (err) {
    if (err instanceof DecodeError) return [];
    throw err;
  }
}
