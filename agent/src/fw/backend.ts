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

/** One change of a batch: add (or replace, same id) a mapping, or remove one by id. */
export type PortMapChange = { op: 'add'; mapping: PortMapping } | { op: 'remove'; id: string };

/** What every backend implements; one compliance suite (fw/compliance.ts) runs against each. */
export interface PortMapBackend {
  /** 'memory' | 'nftables' | 'pf'. */
  readonly name: string;
  /** Who made the rules; flush/list are limited to it. */
  readonly owner: string;
  /**
   * Applies changes in order as ONE transaction: either every change lands or none does (the
   * previous rules stay). Removing an unknown id is not an error; a clash of external ports in the
   * result refuses the whole batch.
   */
  apply(changes: PortMapChange[]): Promise<void>;
  /** apply() of one add. */
  add(mapping: PortMapping): Promise<void>;
  /** apply() of one remove. */
  remove(id: string): Promise<void>;
  /** The mappings actually installed now (read back from the firewall, not from memory). */
  list(): Promise<PortMapping[]>;
  /** Removes every rule of this owner, and nothing else. */
  flush(): Promise<void>;
  /** Releases what the backend holds open (a long-lived nft process); the rules stay. Idempotent. */
  close?(): Promise<void>;
}

/**
 * The mapping set after a batch, computed before anything is sent to the firewall: every change is
 * checked (injection defence) and a clash of external endpoints refuses the whole batch, so a
 * backend only ever submits a result it knows to be consistent.
 */
export function planChanges(current: readonly PortMapping[], changes: readonly PortMapChange[]): { next: PortMapping[]; removed: PortMapping[]; added: PortMapping[] } {
  const byId = new Map(current.map((m) => [m.id, m]));
  for (const c of changes) {
    if (c.op === 'add') {
      checkMapping(c.mapping);
      byId.set(c.mapping.id, structuredClone(c.mapping));
    } else byId.delete(c.id);
  }
  const seen = new Map<string, string>();
  for (const m of byId.values()) {
    const key = `${m.transport}/${m.externalAddress}/${m.externalPort}`;
    const other = seen.get(key);
    if (other !== undefined) throw new ConegateError('CG_FIREWALL_REJECTED', `external ${m.transport}/${m.externalPort} mapped by both ${other} and ${m.id}`);
    seen.set(key, m.id);
  }
  const before = new Map(current.map((m) => [m.id, m]));
  const changed = (a: PortMapping | undefined, b: PortMapping): boolean => !a || !sameMapping(a, b);
  const removed = current.filter((m) => changed(byId.get(m.id), m));
  const added = [...byId.values()].filter((m) => changed(before.get(m.id), m));
  return { next: sortMappings([...byId.values()]), removed, added };
}

/** True if both describe the same rule. */
export function sameMapping(a: PortMapping, b: PortMapping): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(m: PortMapping): unknown[] {
  return [m.id, m.transport, m.externalAddress, m.externalPort, m.internalAddress, m.internalPort, m.remote?.address, m.remote?.prefixLength, m.remote?.port];
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

