/**
 * The endpoints this node reports to the coordinator (docs/mesh-protocol.md POST /v1/endpoints):
 * its interface addresses with the mesh port ('local'), the upstream port mapping's external endpoint
 * ('portmap') and what STUN saw ('stun'). Pure: the interface list is passed in. Loopback, link-local
 * and the mesh's own tunnel addresses are left out: no peer can reach us there.
 */
import type { Endpoint } from '../coord/protocol.ts';
import { LIMITS } from '../coord/protocol.ts';

export interface IfAddr {
  address: string;
  family: 'IPv4' | 'IPv6' | 4 | 6;
  internal: boolean;
}

export function formatAddrPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export interface EndpointSources {
  interfaces: Record<string, IfAddr[] | undefined>;
  port: number;
  /** Interface names to skip (the mesh TUN). */
  exclude?: string[];
  /** Keep loopback addresses (tests on one host). */
  includeLoopback?: boolean;
  portmap?: string | undefined;
  stun?: string[];
}

export function gatherEndpoints(src: EndpointSources): Endpoint[] {
  const out: Endpoint[] = [];
  const seen = new Set<string>();
  const add = (addr: string, type: Endpoint['type']) => {
    if (seen.has(addr)) return;
    seen.add(addr);
    out.push({ addr, type });
  };
  // Order matters to peers that take the first usable endpoint: what the internet sees first.
  if (src.portmap) add(src.portmap, 'portmap');
  for (const s of src.stun ?? []) add(s, 'stun');
  for (const [name, list] of Object.entries(src.interfaces)) {
    if (src.exclude?.includes(name)) continue;
    for (const a of list ?? []) {
      if (a.internal && !src.includeLoopback) continue;
      if (/^fe80:/i.test(a.address) || /^169\.254\./.test(a.address)) continue;
      add(formatAddrPort(a.address, src.port), 'local');
    }
  }
  return out.slice(0, LIMITS.maxEndpoints);
}
