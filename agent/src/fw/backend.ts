/**
 * The one interface between the NAT-PMP/PCP server and a firewall. Each backend owns its own rule
 * space (an nftables table, a pf anchor, a map) and tags every rule with its owner and mapping id,
 * so list/flush only ever see and touch rules this owner made.
 */
import { ConegateError } from '../errors.ts';
import { parseIPv4 } from '../net/ip.ts';

export type Transport = 'udp' | 'tcp';

/** An inbound port mapping: traffic to externalAddress:externalPort is sent to internalAddress:internalPort. */
export interface PortMapping {
  /** Stable id, unique per owner; add() with a known id replaces that mapping. [a-z0-9-], at most 40 chars. */
  id: string;
  transport: Transport;
  /** The router's public IPv4 address the mapping listens on. */
  externalAddress: string;
  externalPort: number;
  internalAddress: string;
  internalPort: number;
  /** PCP PEER / FILTER: only this remote may use the mapping; port 0 = any port of it. */
  remote?: { address: string; prefixLength: number; port: number };
}

/** What every backend implements; one compliance suite (fw/compliance.ts) runs against each. */
export interface PortMapBackend {
  /** 'memory' | 'nftables' | 'pf'. */
  readonly name: string;
  /** Who made the rules; flush/list are limited to it. */
  readonly owner: string;
  /** Adds or replaces (same id) one mapping, atomically: on failure the previous rules stay. */
  add(mapping: PortMapping): Promise<void>;
  /** Removes one mapping by id; unknown ids are not an error. */
  remove(id: string): Promise<void>;
  /** The mappings actually installed now (read back from the firewall, not from memory). */
  list(): Promise<PortMapping[]>;
  /** Removes every rule of this owner, and nothing else. */
  flush(): Promise<void>;
}

export const MAPPING_ID = /^[a-z0-9-]{1,40}$/;

/** Canonical sort so lists compare equal regardless of insertion order. */
export function sortMappings(ms: PortMapping[]): PortMapping[] {
  return [...ms].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Refuses anything that could not have come from our own validated code path (defence against injection). */
export function checkMapping(m: PortMapping): void {
  const bad = (why: string): never => {
    throw new ConegateError('CG_INPUT_INVALID', `invalid mapping ${m.id}: ${why}`);
  };
  if (!MAPPING_ID.test(m.id)) bad('id');
  if (m.transport !== 'udp' && m.transport !== 'tcp') bad('transport');
  for (const p of [m.externalPort, m.internalPort]) if (!Number.isInteger(p) || p < 1 || p > 65535) bad('port');
  if (!parseIPv4(m.externalAddress) || !parseIPv4(m.internalAddress)) bad('address');
  if (m.remote) {
    if (!parseIPv4(m.remote.address) || !Number.isInteger(m.remote.prefixLength) || m.remote.prefixLength < 1 || m.remote.prefixLength > 32) bad('remote');
    if (!Number.isInteger(m.remote.port) || m.remote.port < 0 || m.remote.port > 65535) bad('remote port');
  }
}

