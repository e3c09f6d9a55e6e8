/**
 * The safety policy: decide() turns one mapping request into a grant, a deletion or a refusal with
 * the RFC's result code. Pure: it reads the table and nowMs, changes nothing. Defaults are the safe
 * ones (see README): only LAN subnets, no privileged ports, only the asker's own address, a quota per
 * client, lifetimes capped, and a port search that never hands out the router's own ports.
 */
import { cidrContains, parseIp, type Cidr } from '../net/ip.ts';
import { PmpResult } from '../pmp/codec.ts';
import { PcpResult } from '../pcp/codec.ts';
import type { Transport } from '../fw/backend.ts';
import { mappingId, type Mapping, type MappingTable } from './table.ts';

export interface PortRange {
  from: number;
  to: number;
}

export interface PmpPolicy {
  /** Subnets whose hosts may ask (already resolved: the LAN subnets when the config list is empty). */
  allow: Cidr[];
  internalPorts: PortRange;
  externalPorts: PortRange;
  /** Ports below 1024 are refused on either side unless this is set. */
  allowPrivilegedPorts: boolean;
  maxMappingsPerClient: number;
  /** All mappings together: a LAN host can spoof many source addresses, each with its own quota. */
  maxMappings: number;
  maxLifetimeSec: number;
  minLifetimeSec: number;
  allowThirdParty: boolean;
  /** When set, only UDP mappings whose internal port is one of meshPorts are granted. */
  meshPortOnly: boolean;
  meshPorts: number[];
  /** External ports never handed out (the router's own services: 5351, the mesh listen port...). */
  reservedExternalPorts: number[];
  requestsPerClientPerSec: number;
}

/** One request, from either protocol, in the terms the policy needs. */
export interface MappingRequest {
  via: 'pmp' | 'pcp';
  /** Source address of the request (IPv4 text). */
  client: string;
  /** Whose port is mapped: the client, or the THIRD_PARTY address. */
  internalAddress: string;
  thirdParty: boolean;
  /** IANA protocol number (NAT-PMP: 17 or 6). */
  protocolNumber: number;
  internalPort: number;
  /** 0 = no preference. */
  suggestedExternalPort: number;
  /** PCP suggested external IP (text) when not all-zero. */
  suggestedExternalAddress?: string;
  /** 0 = delete. */
  lifetimeSec: number;
  remote?: { address: string; prefixLength: number; port: number };
  /** Number of FILTER options (more than one remote peer is refused). */
  filterCount: number;
  preferFailure: boolean;
  nonce?: string;
  /** PCP PEER: lifetime 0 neither deletes nor shortens (RFC 6887 12.1). */
  peer?: boolean;
}

/** Why a request is refused, each with the result code of both protocols. */
export const REFUSALS = {
  subnetNotAllowed: { pmp: PmpResult.NOT_AUTHORIZED, pcp: PcpResult.NOT_AUTHORIZED },
  internalPortOutOfRange: { pmp: PmpResult.NOT_AUTHORIZED, pcp: PcpResult.NOT_AUTHORIZED },
  privilegedPort: { pmp: PmpResult.NOT_AUTHORIZED, pcp: PcpResult.NOT_AUTHORIZED },
  thirdParty: { pmp: PmpResult.NOT_AUTHORIZED, pcp: PcpResult.NOT_AUTHORIZED },
  meshPortOnly: { pmp: PmpResult.NOT_AUTHORIZED, pcp: PcpResult.NOT_AUTHORIZED },
  nonceMismatch: { pmp: PmpResult.NOT_AUTHORIZED, pcp: PcpResult.NOT_AUTHORIZED },
  quota: { pmp: PmpResult.OUT_OF_RESOURCES, pcp: PcpResult.USER_EX_QUOTA },
  tableFull: { pmp: PmpResult.OUT_OF_RESOURCES, pcp: PcpResult.NO_RESOURCES },
  noFreePort: { pmp: PmpResult.OUT_OF_RESOURCES, pcp: PcpResult.NO_RESOURCES },
  cannotProvideExternal: { pmp: PmpResult.OUT_OF_RESOURCES, pcp: PcpResult.CANNOT_PROVIDE_EXTERNAL },
  unsupportedProtocol: { pmp: PmpResult.UNSUPPORTED_OPCODE, pcp: PcpResult.UNSUPP_PROTOCOL },
  noExternalAddress: { pmp: PmpResult.NETWORK_FAILURE, pcp: PcpResult.NETWORK_FAILURE },
  excessiveRemotePeers: { pmp: PmpResult.NOT_AUTHORIZED, pcp: PcpResult.EXCESSIVE_REMOTE_PEERS },
  badFilter: { pmp: PmpResult.NOT_AUTHORIZED, pcp: PcpResult.MALFORMED_OPTION },
  firewallFailed: { pmp: PmpResult.NETWORK_FAILURE, pcp: PcpResult.NETWORK_FAILURE },
} as const;
export type Refusal = keyof typeof REFUSALS;

export type Decision =
  | { kind: 'grant'; mapping: Mapping; renewal: boolean }
  | { kind: 'delete'; mappings: Mapping[] }
  | { kind: 'refuse'; refusal: Refusal; detail: string };

const PRIVILEGED_BELOW = 1024;

function transportOf(protocolNumber: number): Transport | undefined {
  return protocolNumber === 17 ? 'udp' : protocolNumber === 6 ? 'tcp' : undefined;
}

const inRange = (p: number, r: PortRange): boolean => p >= r.from && p <= r.to;

function refuse(refusal: Refusal, detail: string): Decision {
  return { kind: 'refuse', refusal, detail };
}

/** Clamps a requested lifetime into [min, max] (RFC 6887 15: the server may shorten or lengthen it). */
export function grantLifetimeSec(requested: number, policy: PmpPolicy): number {
  return Math.min(policy.maxLifetimeSec, Math.max(policy.minLifetimeSec, requested));
}

/**
 * Decides one request against the policy and the current table, at nowMs. `externalAddress` is
 * undefined while the WAN has no address (answered NETWORK_FAILURE, RFC 6886 3.5).
 */
export function decide(req: MappingRequest, table: MappingTable, policy: PmpPolicy, externalAddress: string | undefined, nowMs: number): Decision {
  const clientIp = parseIp(req.client);
  if (!clientIp || !policy.allow.some((c) => cidrContains(c, clientIp.bytes))) return refuse('subnetNotAllowed', `${req.client} is not in an allowed subnet`);
  if (req.thirdParty && req.internalAddress !== req.client) {
    if (!policy.allowThirdParty) return refuse('thirdParty', `mapping for ${req.internalAddress} asked by ${req.client}`);
    const target = parseIp(req.internalAddress);
    if (!target || !policy.allow.some((c) => cidrContains(c, target.bytes))) return refuse('thirdParty', `third-party target ${req.internalAddress} outside the allowed subnets`);
  }
  const transport = transportOf(req.protocolNumber);
  if (!transport) return refuse('unsupportedProtocol', `protocol ${req.protocolNumber}`);

  const existing = req.internalPort === 0 ? undefined : table.get(transport, req.internalAddress, req.internalPort);
  // RFC 6887 11.3: a PCP request may only touch a PCP mapping it knows the nonce of.
  if (existing && req.via === 'pcp' && existing.nonce !== undefined && existing.nonce !== req.nonce) {
    return refuse('nonceMismatch', `mapping ${existing.id} belongs to another nonce`);
  }

  if (req.lifetimeSec === 0 && !req.peer) {
    // RFC 6886 3.4: internal port 0 with lifetime 0 deletes all of this host's mappings for the protocol.
    const gone = req.internalPort === 0 ? table.ofInternal(req.internalAddress, transport).filter((m) => req.via === 'pmp' || m.nonce === undefined || m.nonce === req.nonce) : existing ? [existing] : [];
    return { kind: 'delete', mappings: gone };
  }

  if (!inRange(req.internalPort, policy.internalPorts)) return refuse('internalPortOutOfRange', `internal port ${req.internalPort} outside ${policy.internalPorts.from}-${policy.internalPorts.to}`);
  if (!policy.allowPrivilegedPorts && req.internalPort < PRIVILEGED_BELOW) return refuse('privilegedPort', `internal port ${req.internalPort} is privileged`);
  if (policy.meshPortOnly && (transport !== 'udp' || !policy.meshPorts.includes(req.internalPort))) {
    return refuse('meshPortOnly', `only the mesh ports ${policy.meshPorts.join(',')} may be mapped`);
  }
  if (req.filterCount > 1) return refuse('excessiveRemotePeers', `${req.filterCount} FILTER options; one remote peer is supported`);
  if (req.remote) {
    const r = parseIp(req.remote.address);
    if (!r || r.family !== 4 || req.remote.prefixLength < 1 || req.remote.prefixLength > 32) return refuse('badFilter', `remote ${req.remote.address}/${req.remote.prefixLength} is not an IPv4 peer`);
  }
  if (externalAddress === undefined) return refuse('noExternalAddress', 'the WAN has no IPv4 address');
  if (req.suggestedExternalAddress !== undefined && req.suggestedExternalAddress !== externalAddress && req.preferFailure) {
    return refuse('cannotProvideExternal', `external address ${req.suggestedExternalAddress} is not ours`);
  }
  if (!existing && table.ofClient(req.client).length >= policy.maxMappingsPerClient) {
    return refuse('quota', `${req.client} already has ${policy.maxMappingsPerClient} mappings`);
  }
  if (!existing && table.size >= policy.maxMappings) return refuse('tableFull', `the table holds ${policy.maxMappings} mappings, the limit`);

  // An existing mapping is renewed in place (RFC 6886 3.3, RFC 6887 11.3): the client keeps its port,
  // and a request cannot move someone's live mapping around. PREFER_FAILURE for another port fails.
  if (existing && req.preferFailure && req.suggestedExternalPort !== 0 && req.suggestedExternalPort !== existing.externalPort) {
    return refuse('cannotProvideExternal', `mapping exists on external port ${existing.externalPort}`);
  }
  const externalPort = existing ? existing.externalPort : pickExternalPort(req, transport, table, policy);
  if (externalPort === undefined) return refuse(req.preferFailure ? 'cannotProvideExternal' : 'noFreePort', `no external ${transport} port for ${req.suggestedExternalPort}`);

  let lifetimeSec = grantLifetimeSec(req.lifetimeSec, policy);
  // RFC 6887 12.1: PEER cannot reduce a mapping's lifetime.
  if (req.peer && existing) lifetimeSec = Math.max(lifetimeSec, Math.ceil((existing.expiresAtMs - nowMs) / 1000));
  const mapping: Mapping = {
    id: mappingId(transport, req.internalAddress, req.internalPort),
    via: req.via,
    client: req.client,
    transport,
    internalAddress: req.internalAddress,
    internalPort: req.internalPort,
    externalPort,
    lifetimeSec,
    expiresAtMs: nowMs + lifetimeSec * 1000,
  };
  if (req.remote) mapping.remote = { ...req.remote };
  const nonce = req.nonce ?? existing?.nonce;
  if (nonce !== undefined) mapping.nonce = nonce;
  return { kind: 'grant', mapping, renewal: existing !== undefined };
}

function usable(port: number, transport: Transport, table: MappingTable, policy: PmpPolicy, internalAddress: string): boolean {
  if (!inRange(port, policy.externalPorts) || policy.reservedExternalPorts.includes(port)) return false;
  if (!policy.allowPrivilegedPorts && port < PRIVILEGED_BELOW) return false;
  if (table.holder(transport, port) !== undefined) return false;
  // RFC 6886 3.3: the companion port (same number, other transport) stays reserved for the host that
  // holds it, so another internal address cannot take it.
  const companion = table.holder(transport === 'udp' ? 'tcp' : 'udp', port);
  return companion === undefined || companion.internalAddress === internalAddress;
}

/**
 * The suggested port if it is free and allowed; with PREFER_FAILURE nothing else (RFC 6887 13.2).
 * Otherwise the internal port (apps like symmetric ports), then a scan of the range from there.
 * The scan is a map lookup per port, so even a full 64k range is a few milliseconds.
 */
function pickExternalPort(req: MappingRequest, transport: Transport, table: MappingTable, policy: PmpPolicy): number | undefined {
  const ok = (port: number) => usable(port, transport, table, policy, req.internalAddress);
  if (req.suggestedExternalPort !== 0 && ok(req.suggestedExternalPort)) return req.suggestedExternalPort;
  if (req.preferFailure && req.suggestedExternalPort !== 0) return undefined;
  const { from, to } = policy.externalPorts;
  const span = to - from + 1;
  const start = inRange(req.internalPort, policy.externalPorts) ? req.internalPort : from;
  for (let i = 0; i < span; i++) {
    const port = from + ((start - from + i) % span);
    if (ok(port)) return port;
  }
  return undefined;
}
