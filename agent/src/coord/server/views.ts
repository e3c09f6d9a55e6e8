/**
 * What a node sees, computed from store records: a Peer for every other node, its own SelfNode, and
 * the delta one batch of change-log records implies (docs/mesh-protocol.md "Deltas, not worlds").
 * Pure: no store, no clock. The delta is built ONCE per batch for every stream; only streams whose own
 * node changed get a variant (that node's entry moves into `self`).
 */
import type { MapMessage, Peer, PeerPatch, SelfNode } from '../protocol.ts';
import type { ChangeRecord, NodeRecord, RouteRecord } from '../store/types.ts';

export type Delta = Extract<MapMessage, { t: 'delta' }>;
export type SelfPatch = NonNullable<Delta['self']>;

export function meshAddresses(n: NodeRecord): string[] {
  return [`${n.ipv4}/32`, `${n.ipv6}/128`];
}

/**
 * `served`: the approved routes peers send through this node, i.e. those it is the primary router for
 * (route-primaries.ts); a prefix two routers advertise is in exactly one of them.
 */
export function peerOf(n: NodeRecord, served: string[], online: boolean): Peer {
  return {
    id: n.id,
    name: n.name,
    nodeKey: n.nodeKey,
    discoKey: n.discoKey,
    addresses: meshAddresses(n),
    routes: served,
    ...splitEndpoints(n),
    homeRelay: n.homeRelay,
    online,
    lastSeenMs: n.lastSeenMs,
  };
}

/** A stored endpoint list as the peer fields: the path candidates, and the UDP relay when there is one. */
function splitEndpoints(n: NodeRecord): { endpoints: Peer['endpoints']; udpRelay?: string } {
  const endpoints: Peer['endpoints'] = [];
  let udpRelay: string | undefined;
  for (const e of n.endpoints) {
    if (e.type === 'udp-relay') udpRelay = e.addr;
    else endpoints.push(e);
  }
  return udpRelay === undefined ? { endpoints } : { endpoints, udpRelay };
}

export function selfOf(n: NodeRecord, routes: RouteRecord[]): SelfNode {
  const mine = routes.filter((r) => r.nodeId === n.id);
  return {
    id: n.id,
    name: n.name,
    machineKey: n.machineKey,
    nodeKey: n.nodeKey,
    discoKey: n.discoKey,
    addresses: meshAddresses(n),
    advertisedRoutes: mine.map((r) => r.cidr).sort(),
    approvedRoutes: mine.filter((r) => r.approved).map((r) => r.cidr).sort(),
    tags: n.tags,
  };
}

/** One node's changes in a batch, folded: the strongest kind wins (remove > upsert > patch). */
export interface FoldedChange {
  nodeId: string;
  upsert: boolean;
  remove: boolean;
  routes: boolean;
  fields: Set<string>;
}

export function foldChanges(changes: ChangeRecord[]): Map<string, FoldedChange> {
  const out = new Map<string, FoldedChange>();
  for (const c of changes) {
    let f = out.get(c.nodeId);
    if (!f) out.set(c.nodeId, (f = { nodeId: c.nodeId, upsert: false, remove: false, routes: false, fields: new Set() }));
    if (c.kind === 'node-upsert') f.upsert = true;
    else if (c.kind === 'node-remove') f.remove = true;
    else if (c.kind === 'routes') f.routes = true;
    else for (const field of c.fields) f.fields.add(field);
  }
  return out;
}

/** NodeRecord fields that peers see, and the Peer field each becomes. */
const PEER_FIELDS: Record<string, keyof Peer> = { name: 'name', endpoints: 'endpoints', homeRelay: 'homeRelay', lastSeenMs: 'lastSeenMs', nodeKey: 'nodeKey', discoKey: 'discoKey' };
const SELF_FIELDS: Record<string, keyof SelfPatch> = { name: 'name', nodeKey: 'nodeKey', discoKey: 'discoKey', tags: 'tags' };

export interface BatchInput {
  seq: number;
  folded: Map<string, FoldedChange>;
  /** Each changed node, loaded once; undefined = gone. */
  nodes: Map<string, NodeRecord | undefined>;
  /** All routes, only needed (and only read) when the batch has a routes change. */
  routes: RouteRecord[];
  /** The routes each node serves as primary (what its peers route through it). */
  served: (nodeId: string) => string[];
  online: (nodeId: string) => boolean;
}

export interface Batch {
  /** What every stream gets (minus its own node's entries). */
  delta: Delta;
  /** Per changed node: what its own stream gets in `self`, when anything it sees changed. */
  selfPatches: Map<string, SelfPatch>;
  /** Nodes that left every map: their own streams are closed. */
  removed: string[];
}

export function buildBatch(input: BatchInput): Batch {
  const upsert: Peer[] = [];
  const patch: PeerPatch[] = [];
  const remove: string[] = [];
  const selfPatches = new Map<string, SelfPatch>();
  for (const f of input.folded.values()) {
    const n = input.nodes.get(f.nodeId);
    if (!n || n.revokedAtMs !== null || f.remove) {
      remove.push(f.nodeId);
      continue;
    }
    if (f.upsert) upsert.push(peerOf(n, input.served(n.id), input.online(n.id)));
    else {
      const p = peerPatchOf(n, f, input);
      if (Object.keys(p).length > 1) patch.push(p);
    }
    const s = selfPatchOf(n, f, input.routes);
    if (Object.keys(s).length > 0) selfPatches.set(n.id, s);
  }
  const delta: Delta = { t: 'delta', seq: input.seq };
  if (upsert.length) delta.upsert = upsert;
  if (patch.length) delta.patch = patch;
  if (remove.length) delta.remove = remove;
  return { delta, selfPatches, removed: remove };
}

function peerPatchOf(n: NodeRecord, f: FoldedChange, input: BatchInput): PeerPatch {
  const p: Record<string, unknown> = { id: n.id };
  for (const field of f.fields) {
    const to = PEER_FIELDS[field];
    if (to) p[to] = (n as unknown as Record<string, unknown>)[field];
  }
  // The UDP relay travels in the stored endpoint list: an endpoints patch states both (no udpRelay = none).
  if (f.fields.has('endpoints')) Object.assign(p, splitEndpoints(n));
  // lastSeenMs moves on stream connect and disconnect: that is when `online` flips.
  if (f.fields.has('lastSeenMs')) p.online = input.online(n.id);
  if (f.routes) p.routes = input.served(n.id);
  return p as PeerPatch;
}

function selfPatchOf(n: NodeRecord, f: FoldedChange, routes: RouteRecord[]): SelfPatch {
  const s: Record<string, unknown> = {};
  const self = selfOf(n, routes);
  if (f.upsert) {
    s.name = self.name;
    s.nodeKey = self.nodeKey;
    s.discoKey = self.discoKey;
    s.tags = self.tags;
  }
  for (const field of f.fields) {
    const to = SELF_FIELDS[field];
    if (to) s[to] = (self as unknown as Record<string, unknown>)[to];
  }
  if (f.routes) {
    s.advertisedRoutes = self.advertisedRoutes;
    s.approvedRoutes = self.approvedRoutes;
  }
  return s as SelfPatch;
}

/** The delta one stream gets: the shared one without its own entries, plus its self patch; undefined if empty. */
export function deltaFor(nodeId: string, batch: Batch): Delta | undefined {
  const own = batch.selfPatches.get(nodeId);
  const d = batch.delta;
  const touchesSelf = own !== undefined || d.upsert?.some((p) => p.id === nodeId) || d.patch?.some((p) => p.id === nodeId);
  const out: Delta = touchesSelf ? { t: 'delta', seq: d.seq } : d;
  if (touchesSelf) {
    const upsert = d.upsert?.filter((p) => p.id !== nodeId);
    const patch = d.patch?.filter((p) => p.id !== nodeId);
    if (upsert?.length) out.upsert = upsert;
    if (patch?.length) out.patch = patch;
    if (d.remove?.length) out.remove = d.remove;
    if (own) out.self = own;
  }
  return out.upsert || out.patch || out.remove || out.self || out.relays ? out : undefined;
}
