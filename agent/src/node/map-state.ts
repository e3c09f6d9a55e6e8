/**
 * The network map as the node holds it, and the pure reducer that applies stream messages to it.
 * A `full` replaces everything; a `delta` must carry a higher seq than the state and is applied
 * field by field (absent = unchanged, protocol.ts PeerPatch). A delta before any full, or one whose
 * patch names an unknown peer, means the stream and we disagree: the result says `resync`, and the
 * session reconnects without ?since to get a new full map (never guess at a map).
 */
import type { MapMessage, Peer, PeerPatch, RelayMap, SelfNode } from '../coord/protocol.ts';

export interface MapState {
  seq: number;
  self: SelfNode;
  peers: ReadonlyMap<string, Peer>;
  relays: RelayMap;
  keepaliveSec: number;
}

export interface MapChanges {
  /** Peers added or replaced whole (new keys), or patched. */
  changed: string[];
  removed: string[];
  selfChanged: boolean;
}

export type ApplyResult =
  | { kind: 'applied'; state: MapState; changes: MapChanges }
  /** keepalive, or a delta at or below the current seq (a duplicate after resume). */
  | { kind: 'unchanged'; state: MapState | undefined }
  | { kind: 'resync'; state: MapState | undefined; reason: string };

function applyPatch(p: Peer, patch: PeerPatch): Peer {
  const next: Peer = { ...p };
  for (const [k, v] of Object.entries(patch)) if (k !== 'id' && v !== undefined) (next as unknown as Record<string, unknown>)[k] = v;
  // udpRelay is part of the endpoint report: new endpoints without it mean the peer stopped relaying.
  if (patch.endpoints !== undefined && patch.udpRelay === undefined) delete next.udpRelay;
  return next;
}

export function applyMapMessage(state: MapState | undefined, msg: MapMessage): ApplyResult {
  if (msg.t === 'keepalive') return { kind: 'unchanged', state };
  if (msg.t === 'full') {
    const peers = new Map(msg.peers.filter((p) => p.id !== msg.self.id).map((p) => [p.id, p] as const));
    const removed = state ? [...state.peers.keys()].filter((id) => !peers.has(id)) : [];
    return {
      kind: 'applied',
      state: { seq: msg.seq, self: msg.self, peers, relays: msg.relays, keepaliveSec: msg.keepaliveSec },
      changes: { changed: [...peers.keys()], removed, selfChanged: true },
    };
  }
  if (!state) return { kind: 'resync', state, reason: 'delta before a full map' };
  if (msg.seq <= state.seq) return { kind: 'unchanged', state };
  const peers = new Map(state.peers);
  const changed = new Set<string>();
  const removed: string[] = [];
  for (const id of msg.remove ?? []) {
    if (peers.delete(id)) removed.push(id);
  }
  for (const p of msg.upsert ?? []) {
    if (p.id === state.self.id) continue;
    peers.set(p.id, p);
    changed.add(p.id);
  }
  for (const patch of msg.patch ?? []) {
    if (patch.id === state.self.id) continue;
    const cur = peers.get(patch.id);
    if (!cur) return { kind: 'resync', state, reason: `patch for unknown peer ${patch.id}` };
    peers.set(patch.id, applyPatch(cur, patch));
    changed.add(patch.id);
  }
  const self = msg.self ? { ...state.self, ...msg.self } : state.self;
  return {
    kind: 'applied',
    state: { seq: msg.seq, self, peers, relays: msg.relays ?? state.relays, keepaliveSec: state.keepaliveSec },
    changes: { changed: [...changed].filter((id) => peers.has(id)), removed, selfChanged: msg.self !== undefined },
  };
}
