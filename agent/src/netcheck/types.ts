/** What netcheck observed (input of the classifier) and the report it prints (documented in README.md). */
import type { IpsSummary } from './ips-summary.ts';
import type { PlatformKind } from '../platform/detect.ts';
import type { StunAddress } from '../stun/codec.ts';
import type { UdpEndpoint } from '../stun/bind.ts';
import type { Family, Probe, ResolvedServer } from './plan.ts';
import type { PortmapProbeResult } from './portmap-probe.ts';

/** The outcome of one probe, reduced to what the classifier needs (a STUN outcome, or hairpin seen/not). */
export type ProbeOutcome =
  | { ok: true; mapped?: StunAddress; from?: UdpEndpoint; rttMs?: number; otherAddress?: StunAddress }
  | { ok: false; reason: string; errorCode?: number };

export interface ProbeResult {
  probe: Probe;
  outcome: ProbeOutcome;
}

export interface FamilySockets {
  family: Family;
  /** Whether a socket of this family could be opened at all. */
  bound: boolean;
  /** Local port of the mapping socket (its address is the wildcard). */
  localPort?: number;
  error?: string;
}

export interface Observations {
  servers: ResolvedServer[];
  unresolved: { label: string; error: string }[];
  sockets: FamilySockets[];
  results: ProbeResult[];
  /** Addresses configured on this host's interfaces: a mapped address among them means no NAT. */
  localAddresses: string[];
  portmap: PortmapProbeResult;
}

export type Mapping = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent' | 'dependent' | 'unknown';
export type Filtering = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent' | 'unknown';

export interface FamilyReport {
  /** A server of this family was configured and a socket could be opened. */
  tested: boolean;
  /** At least one server answered over this family. */
  works: boolean;
  /** host:port as the servers saw us (the mapping socket's first answer). */
  publicEndpoint: string | null;
  /** Every distinct public endpoint seen from the mapping socket. */
  publicEndpoints: string[];
  /** false = the mapped address is on this host (no NAT); null = unknown. */
  nat: boolean | null;
  mapping: Mapping;
  mappingVariesByDestAddress: boolean | null;
  mappingVariesByDestPort: boolean | null;
  filtering: Filtering;
  hairpinning: boolean | null;
}

export interface ServerReport {
  server: string;
  address: string;
  family: Family;
  rttMs: number | null;
  rfc5780: boolean;
  otherAddress: string | null;
}

export type VerdictLevel = 'easy' | 'hard' | 'blocked' | 'unknown';

export interface Verdict {
  level: VerdictLevel;
  summary: string;
  fixes: string[];
  /** On an appliance: how to make its own NAT friendly for the hosts behind it. */
  applianceFix: string | null;
}

export interface NetcheckReport {
  version: 1;
  udp: boolean;
  ipv4: FamilyReport;
  ipv6: FamilyReport;
  portMapping: { probed: boolean; upnp: boolean | null; natpmp: boolean | null; pcp: boolean | null; gateway: string | null; externalAddress: string | null; note: string | null };
  servers: ServerReport[];
  unresolved: { server: string; error: string }[];
  nearestServer: string | null;
  platform: { kind: PlatformKind; name: string };
  verdict: Verdict;
  probes: { id: string; ok: boolean; detail: string }[];
  /** IPS/IDS rules on this host that hit our traffic (absent with --no-ips). */
  ips?: IpsSummary;
}
