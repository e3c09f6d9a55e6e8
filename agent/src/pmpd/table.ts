/**
 * The mapping table: what the server has granted, with expiry on monotonic time. Pure data
 * structure: every method that depends on time takes nowMs; nothing here arms timers or touches
 * the firewall (the server applies the same changes to the backend).
 */
import type { Transport } from '../fw/backend.ts';

export interface Mapping {
  /** Backend id; derived from the key so the same mapping always has the same id. */
  id: string;
  /** Which protocol created it (for logs and `pmp list`). */
  via: 'pmp' | 'pcp';
  /** Address of the client that asked (quota and rate limits count per asker). */
  client: string;
  transport: Transport;
  internalAddress: string;
  internalPort: number;
  externalPort: number;
  remote?: { address: string; prefixLength: number; port: number };
  /** PCP mapping nonce (hex); a PCP request with another nonce may not touch it (RFC 6887 11.3). */
  nonce?: string;
  lifetimeSec: number;
  expiresAtMs: number;
}

/** The identity of a mapping: one per internal endpoint and transport (RFC 6886 3.3, RFC 6887 11.3). */
export function mappingKey(transport: Transport, internalAddress: string, internalPort: number): string {
  return `${transport}/${internalAddress}/${internalPort}`;
}

/** A backend id from a key: short, [a-z0-9-] only, as both nftables comments and pf labels accept. */
export function mappingId(transport: Transport, internalAddress: string, internalPort: number): string {
  return `${transport}-${internalAddress.replaceAll('.', '-').replaceAll(':', '-').toLowerCase()}-${internalPort}`;
}

export class MappingTable {
  private readonly byKey = new Map<string, Mapping>();
  private readonly byExternal = new Map<string, Mapping>();

  get size(): number {
    return this.byKey.size;
  }

  get(transport: Transport, internalAddress: string, internalPort: number): Mapping | undefined {
    return this.byKey.get(mappingKey(transport, internalAddress, internalPort));
  }

  /** The mapping holding an external port, if any. */
  holder(transport: Transport, externalPort: number): Mapping | undefined {
    return this.byExternal.get(`${transport}/${externalPort}`);
  }

  /** Mappings a client asked for (optionally one transport). */
  ofClient(client: string, transport?: Transport): Mapping[] {
    return this.all().filter((m) => m.client === client && (transport === undefined || m.transport === transport));
  }

  /** Mappings whose internal address is this host (what NAT-PMP "delete all" removes, RFC 6886 3.4). */
  ofInternal(internalAddress: string, transport?: Transport): Mapping[] {
    return this.all().filter((m) => m.internalAddress === internalAddress && (transport === undefined || m.transport === transport));
  }

  /** Inserts or replaces the mapping with the same key. */
  put(m: Mapping): void {
    this.remove(m.transport, m.internalAddress, m.internalPort);
    this.byKey.set(mappingKey(m.transport, m.internalAddress, m.internalPort), m);
    this.byExternal.set(`${m.transport}/${m.externalPort}`, m);
  }

  remove(transport: Transport, internalAddress: string, internalPort: number): Mapping | undefined {
    const key = mappingKey(transport, internalAddress, internalPort);
    const old = this.byKey.get(key);
    if (!old) return undefined;
    this.byKey.delete(key);
    this.byExternal.delete(`${old.transport}/${old.externalPort}`);
    return old;
  }

  /** Removes and returns every mapping whose lifetime has run out at nowMs. */
  expire(nowMs: number): Mapping[] {
    const gone = this.all().filter((m) => m.expiresAtMs <= nowMs);
    for (const m of gone) this.remove(m.transport, m.internalAddress, m.internalPort);
    return gone;
  }

  /** The earliest expiry, for arming one timer. */
  nextExpiryMs(): number | undefined {
    let best: number | undefined;
    for (const m of this.byKey.values()) if (best === undefined || m.expiresAtMs < best) best = m.expiresAtMs;
    return best;
  }

  all(): Mapping[] {
    return [...this.byKey.values()];
  }

  clear(): void {
    this.byKey.clear();
    this.byExternal.clear();
  }
}
