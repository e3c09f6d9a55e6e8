/**
 * PCP specifics of the server: per-opcode option rules (RFC 6887 7.3, 13.1-13.3), turning a decoded
 * MAP/PEER into a MappingRequest, and building answers. Pure.
 */
import { bytesEqual, formatIp, fromMappedV6, toMappedV6, parseIPv4 } from '../net/ip.ts';
import {
  PcpResult,
  encodePcpResponse,
  pcpErrorLifetimeSec,
  type PcpMapData,
  type PcpOption,
  type PcpRequest,
  type PcpResultCode,
} from '../pcp/codec.ts';
import type { MappingRequest } from './policy.ts';
import type { Mapping } from './table.ts';

export type PcpCheck = { ok: true; request: MappingRequest } | { ok: false; result: PcpResultCode; detail: string };

const MANDATORY_BELOW = 128;

/** Option rules: which are valid for which opcode, how often (RFC 6887 7.3 and each option's section). */
export function checkPcpOptions(req: PcpRequest): { result: PcpResultCode; detail: string } | undefined {
  const count = (k: PcpOption['kind']): number => req.options.filter((o) => o.kind === k).length;
  for (const o of req.options) {
    if (o.kind === 'unknown' && o.code < MANDATORY_BELOW) return { result: PcpResult.UNSUPP_OPTION, detail: `mandatory option ${o.code} not supported` };
  }
  if (req.opcode === 'announce') return undefined;
  // 7.3: an option defined to appear once but repeated is MALFORMED_OPTION.
  if (count('thirdParty') > 1 || count('preferFailure') > 1) return { result: PcpResult.MALFORMED_OPTION, detail: 'option repeated' };
  if (req.opcode === 'peer') {
    // 12.1: "if a PCP server receives a PEER request containing the PREFER_FAILURE option it MUST
    // return a MALFORMED_REQUEST error response" (PEER implies it anyway).
    if (count('preferFailure') > 0) return { result: PcpResult.MALFORMED_REQUEST, detail: 'PREFER_FAILURE is not allowed in PEER' };
    // 13.3: FILTER is valid for MAP only; the RFC names no code for it on PEER, so the option is malformed there.
    if (count('filter') > 0) return { result: PcpResult.MALFORMED_OPTION, detail: 'FILTER is MAP-only' };
    // 12.1: protocol, internal port and remote peer port MUST NOT be zero.
    const p = req.peer;
    if (p.protocol === 0 || p.internalPort === 0 || p.remotePeerPort === 0) return { result: PcpResult.MALFORMED_REQUEST, detail: 'PEER with a zero protocol, internal port or remote peer port' };
  }
  return undefined;
}

/** IPv4 text of a 16-byte PCP address, or undefined when it is not IPv4-mapped. */
function v4Text(a: Uint8Array): string | undefined {
  const v4 = fromMappedV6(a);
  return v4 ? formatIp(v4) : undefined;
}

/** MAP/PEER → the policy's request; source is the packet's source address (IPv4 text). */
export function pcpMappingRequest(req: PcpRequest & { opcode: 'map' | 'peer' }, source: string, nonceHex: string): PcpCheck {
  const src = parseIPv4(source);
  // RFC 6887 8.1: the client address must be the packet's source (no NAT between client and server).
  if (!src || !bytesEqual(req.clientAddress, toMappedV6(src))) return { ok: false, result: PcpResult.ADDRESS_MISMATCH, detail: `client field ${formatIp(req.clientAddress)} is not the source ${source}` };
  const data: PcpMapData = req.opcode === 'map' ? req.map : req.peer;
  const thirdParty = req.options.find((o) => o.kind === 'thirdParty');
  let internalAddress = source;
  if (thirdParty) {
    const t = v4Text(thirdParty.internalAddress);
    if (!t) return { ok: false, result: PcpResult.MALFORMED_OPTION, detail: 'THIRD_PARTY address is not IPv4' };
    // 13.1: a THIRD_PARTY option naming the packet's own source MUST get MALFORMED_REQUEST.
    if (t === source) return { ok: false, result: PcpResult.MALFORMED_REQUEST, detail: 'THIRD_PARTY names the source address itself' };
    internalAddress = t;
  }
  const filters = req.options.filter((o) => o.kind === 'filter');
  let remote: MappingRequest['remote'];
  if (req.opcode === 'peer') {
    const r = v4Text(req.peer.remotePeerAddress);
    if (!r) return { ok: false, result: PcpResult.MALFORMED_REQUEST, detail: 'remote peer is not IPv4' };
    remote = { address: r, prefixLength: 32, port: req.peer.remotePeerPort };
  } else if (filters.length === 1 && filters[0]!.prefixLength !== 0) {
    // RFC 6887 13.3: prefix lengths count over the 128-bit form, so IPv4 filters are 96 + n.
    const f = filters[0]!;
    const r = v4Text(f.remotePeerAddress);
    if (!r || f.prefixLength < 97) return { ok: false, result: PcpResult.MALFORMED_OPTION, detail: 'FILTER is not an IPv4 prefix' };
    remote = { address: r, prefixLength: f.prefixLength - 96, port: f.remotePeerPort };
  }
  const suggested = data.externalAddress.every((x) => x === 0) ? undefined : v4Text(data.externalAddress);
  // 12.1: PEER implies PREFER_FAILURE: a non-zero suggested external port or address that cannot be
  // honoured MUST get CANNOT_PROVIDE_EXTERNAL rather than another port.
  const impliedPreferFailure = req.opcode === 'peer' && (data.externalPort !== 0 || suggested !== undefined);
  const request: MappingRequest = {
    via: 'pcp',
    client: source,
    internalAddress,
    thirdParty: thirdParty !== undefined,
    protocolNumber: data.protocol,
    internalPort: data.internalPort,
    suggestedExternalPort: data.externalPort,
    lifetimeSec: req.lifetimeSec,
    filterCount: filters.filter((f) => f.prefixLength !== 0).length,
    preferFailure: impliedPreferFailure || req.options.some((o) => o.kind === 'preferFailure'),
    nonce: nonceHex,
  };
  if (req.opcode === 'peer') request.peer = true;
  if (suggested !== undefined) request.suggestedExternalAddress = suggested;
  if (remote) request.remote = remote;
  return { ok: true, request };
}

/** Success answer for MAP/PEER: the request's data with the assignment, processed options echoed (RFC 6887 11.2). */
export function pcpGrantResponse(req: PcpRequest & { opcode: 'map' | 'peer' }, m: Pick<Mapping, 'externalPort' | 'lifetimeSec'>, externalAddress: string, epochSec: number): Uint8Array {
  const ext = toMappedV6(parseIPv4(externalAddress) ?? new Uint8Array(4));
  const options = req.options.filter((o) => o.kind !== 'unknown');
  const common = { result: PcpResult.SUCCESS, lifetimeSec: m.lifetimeSec, epochSec, options };
  if (req.opcode === 'map') return encodePcpResponse({ ...common, opcode: 'map', map: { ...req.map, externalPort: m.externalPort, externalAddress: ext } });
  return encodePcpResponse({ ...common, opcode: 'peer', peer: { ...req.peer, externalPort: m.externalPort, externalAddress: ext } });
}

/** Answer to a delete (lifetime 0): success, lifetime 0, the request's data echoed. */
export function pcpDeleteResponse(req: PcpRequest & { opcode: 'map' | 'peer' }, epochSec: number): Uint8Array {
  const common = { result: PcpResult.SUCCESS, lifetimeSec: 0, epochSec, options: req.options.filter((o) => o.kind !== 'unknown') };
  return req.opcode === 'map' ? encodePcpResponse({ ...common, opcode: 'map', map: req.map }) : encodePcpResponse({ ...common, opcode: 'peer', peer: req.peer });
}

export { pcpErrorLifetimeSec };
