/**
 * From the network map to the WireGuard device's peers, as plain data: what each peer should be
 * (public key, allowed IPs, endpoint) and the steps that take the device from what it has to that.
 * Allowed IPs are the peer's mesh addresses, plus the routes it serves when this node accepts routes
 * (except those over this node's own addresses).
 * The endpoint is the first usable one the map lists (hole punching and relays come later); "usable"
 * means an address family this node can send from.
 */
import type { Endpoint as MapEndpoint, Peer } from '../coord/protocol.ts';
import { parseHostPort, parseIp } from '../net/ip.ts';
import type { Endpoint } from '../wg/ports.ts';
import { acceptedRoutes } from './accept-routes.ts';
import type { MapState } from './map-state.ts';

export interface DesiredPeer {
  id: string;
  publicKeyHex: string;
  allowedIps: string[];
  endpoint: Endpoint | undefined;
}

export interface PlanOptions {
  acceptRoutes: boolean;
  /** Families this node has a socket for (default both). */
  families?: (4 | 6)[];
  /** This node's own addresses: a route containing one is never taken (accept-routes.ts). */
  ownAddresses?: string[];
}

export function firstUsableEndpoint(endpoints: MapEndpoint[], families: (4 | 6)[] = [4, 6]): Endpoint | undefined {
  for (const e of endpoints) {
    const hp = parseHostPort(e.addr);
    const ip = hp && parseIp(hp.host);
    if (hp && ip && families.includes(ip.family)) return { address: hp.host, port: hp.port };
  }
  return undefined;
}

export function desiredPeer(p: Peer, opts: PlanOptions): DesiredPeer {
  const allowed = [...p.addresses, ...(opts.acceptRoutes ? acceptedRoutes(p.routes, opts.ownAddresses ?? []) : [])];
  return { id: p.id, publicKeyHex: p.nodeKey, allowedIps: [...new Set(allowed)], endpoint: firstUsableEndpoint(p.endpoints, opts.families) };
}

export function desiredPeers(state: MapState | undefined, opts: PlanOptions): DesiredPeer[] {
  if (!state) return [];
  return [...state.peers.values()].map((p) => desiredPeer(p, opts));
}

export type PeerStep =
  | { op: 'remove'; publicKeyHex: string }
  | { op: 'upsert'; peer: DesiredPeer };

/** What the device has: per public key, its allowed IPs and the endpoint the map last gave it. */
export interface AppliedPeer {
  allowedIps: string[];
  endpoint: Endpoint | undefined;
}

const sameEndpoint = (a: Endpoint | undefined, b: Endpoint | undefined) => a?.address === b?.address && a?.port === b?.port;
const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

/**
 * Removals first, so a key that moved to another peer id (a node re-registered) is never briefly
 * present twice; then upserts only for peers whose allowed IPs or map endpoint changed (an endpoint the
 * device learnt by roaming is left alone while the map still says the same thing).
 */
export function planPeerSteps(applied: ReadonlyMap<string, AppliedPeer>, desired: DesiredPeer[]): PeerStep[] {
  const want = new Map(desired.map((d) => [d.publicKeyHex, d] as const));
  const steps: PeerStep[] = [];
  for (const key of applied.keys()) if (!want.has(key)) steps.push({ op: 'remove', publicKeyHex: key });
  for (const d of desired) {
    const cur = applied.get(d.publicKeyHex);
    if (!cur || !sameSet(cur.allowedIps, d.allowedIps) || !sameEndpoint(cur.endpoint, d.endpoint)) steps.push({ op: 'upsert', peer: d });
  }
  return steps;
}
