/**
 * The one interface between the NAT-PMP/PCP server and a firewall. Each backend owns its own rule
 * space (an nftables table, a pf anchor, a map) and tags every rule with its owner and mapping id,
 * so list/flush only ever see and touch rules this owner made.
 */

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
