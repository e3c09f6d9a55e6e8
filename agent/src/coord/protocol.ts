/**
 * The coordinator protocol: what a node and the coordinator say to each other over HTTPS. Pure types
 * and JSON Schemas (ajv validates every request body on the server and every stream message on the
 * node); no sockets here. The prose version with the reasons is docs/mesh-protocol.md.
 *
 * Keys on the wire are lowercase hex of 32 bytes: the machine key is Ed25519 (long-lived identity, signs
 * every request), the node key is the WireGuard X25519 public key (rotates), the discovery key is X25519
 * (seals discovery messages; never the WireGuard key).
 */

/** A 32-byte key as 64 lowercase hex characters. */
export type KeyHex = string;

/** Where a peer may be reached, and how the node learnt it (path choice ranks by type later). */
export type EndpointType = 'local' | 'stun' | 'portmap' | 'stun-localport' | 'configured';
export interface Endpoint {
  /** "1.2.3.4:41641" or "[2001:db8::1]:41641". */
  addr: string;
  type: EndpointType;
}

/** A peer as every other node sees it in its network map. */
export interface Peer {
  id: string;
  name: string;
  nodeKey: KeyHex;
  discoKey: KeyHex;
  /** Mesh addresses with prefix length: ["100.64.0.7/32", "fd7a:115c:a1e0:ab12::7/128"]. */
  addresses: string[];
  /** Subnet routes the admin approved for this peer (the node decides whether to accept them). */
  routes: string[];
  endpoints: Endpoint[];
  /** Relay region id the peer is reachable through, or null (relays come with mesh part 2). */
  homeRelay: string | null;
  online: boolean;
  lastSeenMs: number;
  /** "ip:port" of the UDP relay this peer offers (mesh.udpRelay). It is part of the endpoint report: a
   * peer, or a patch carrying `endpoints`, without it = the peer offers none. */
  udpRelay?: string;
}

/** Per-field update of a peer: absent field = unchanged. `id` is always present. */
export type PeerPatch = Partial<Omit<Peer, 'id'>> & { id: string };

/** The node's own record as the coordinator knows it. */
export interface SelfNode {
  id: string;
  name: string;
  machineKey: KeyHex;
  nodeKey: KeyHex;
  discoKey: KeyHex;
  addresses: string[];
  /** Routes this node advertises, and the subset the admin approved. */
  advertisedRoutes: string[];
  approvedRoutes: string[];
  tags: string[];
}

export interface RelayNode {
  /** https URL of the relay server. */
  url: string;
  /** "host:port" of its STUN server, if any. */
  stun?: string;
  /** SHA-256 of the relay's certificate (hex), for pinning; absent = verify against CAs. */
  certSha256?: string;
  /**
   * The relay's X25519 server key (hex), pinned: the client refuses a relay whose 101 answer
   * (`Conegate-Relay-Key`) or server-key frame carries another key. Absent = the key is learned at login.
   */
  serverKey?: string;
}
export interface RelayRegion {
  id: string;
  name: string;
  nodes: RelayNode[];
}
export interface RelayMap {
  regions: RelayRegion[];
}

/** Stream messages, one JSON object per line (NDJSON) on GET /v1/map. */
export type MapMessage =
  | {
      t: 'full';
      /** Change-log sequence number this map reflects; resume with ?since=seq. */
      seq: number;
      self: SelfNode;
      peers: Peer[];
      relays: RelayMap;
      /** The server's keepalive interval; the node reconnects after 120 s of silence whatever it says. */
      keepaliveSec: number;
    }
  | {
      t: 'delta';
      seq: number;
      /** New peers, or peers whose keys changed (sent whole). */
      upsert?: Peer[];
      /** Small per-field patches (endpoints, home relay, online, routes, name). */
      patch?: PeerPatch[];
      /** Peer ids gone from the map (revoked, logged out, deleted). */
      remove?: string[];
      self?: Partial<Omit<SelfNode, 'id' | 'machineKey'>>;
      relays?: RelayMap;
    }
  | { t: 'keepalive' };

/** POST /v1/register: first contact (with an auth key) or re-registration of a known machine key. */
export interface RegisterRequest {
  /** Pre-auth key; required when the machine key is unknown, ignored when it is known and not revoked. */
  authKey?: string;
  nodeKey: KeyHex;
  discoKey: KeyHex;
  hostname: string;
  advertiseRoutes?: string[];
}
export interface RegisterResponse {
  self: SelfNode;
}

/** POST /v1/endpoints: short request beside the open stream; does not break it. */
export interface EndpointsRequest {
  endpoints: Endpoint[];
  homeRelay?: string | null;
  /** "ip:port" of the UDP relay this node offers; absent = it offers none (each report replaces the last). */
  udpRelay?: string;
}

/** POST /v1/routes: replace the set of routes this node advertises. */
export interface RoutesRequest {
  advertise: string[];
}

/** POST /v1/route-health: the advertised prefixes whose health probe (a host in the subnet) fails now;
 * each report replaces the last (empty: all healthy). The coordinator moves such a prefix to a healthy
 * router advertising it (coord/server/route-primaries.ts). */
export interface RouteHealthRequest {
  unhealthy: string[];
}

/** Every error body: a stable code a program branches on and a message a person can act on. */
export interface ErrorBody {
  error: { code: CoordErrorCode; message: string };
}
export type CoordErrorCode =
  | 'auth-key-unknown'
  | 'auth-key-used'
  | 'auth-key-expired'
  | 'auth-key-required'
  | 'node-revoked'
  | 'node-unknown'
  | 'bad-signature'
  | 'clock-skew'
  | 'bad-request'
  | 'rate-limited'
  | 'too-large'
  | 'no-address'
  | 'internal'
  | 'relay-unauthorized';

/**
 * POST /v1/relay/admit (relay servers only; `authorization: Bearer <relay secret>`): which of these
 * node keys belong to a live (registered, not revoked) node. The relay admits a client only if its key
 * is in `admitted`, and re-asks for its connected keys to disconnect revoked ones.
 */
export interface RelayAdmitRequest {
  nodeKeys: KeyHex[];
}
export interface RelayAdmitResponse {
  admitted: KeyHex[];
}

/**
 * Request authentication: header `authorization: CG1 <machineKeyHex> <timeMs> <signatureHex>`, where the
 * signature is Ed25519 by the machine key over signingString(). TLS (with a verified or pinned
 * certificate) protects confidentiality; the signature proves the machine key without the coordinator
 * ever holding a node secret. Requests more than MAX_CLOCK_SKEW_MS away from the server's clock are refused.
 */
export const AUTH_SCHEME = 'CG1';
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
export function signingString(method: string, pathWithQuery: string, timeMs: number, bodySha256Hex: string): string {
  return `conegate-coord-v1\n${method.toUpperCase()}\n${pathWithQuery}\n${timeMs}\n${bodySha256Hex}`;
}

/** Limits both sides enforce. */
export const LIMITS = {
  /** Largest request body the coordinator reads. */
  maxBodyBytes: 64 * 1024,
  /** Largest single stream line a node accepts (a full map of many peers). */
  maxMessageBytes: 16 * 1024 * 1024,
  maxEndpoints: 32,
  maxRoutes: 64,
  maxHostnameLength: 63,
  /** Server keepalive 50 s + 0..9 s jitter; the node gives up on a silent stream after 120 s. */
  keepaliveSec: 50,
  keepaliveJitterSec: 9,
  streamSilenceTimeoutMs: 120_000,
  /** Node keys per relay admission request. */
  maxAdmitKeys: 1000,
  /** Changes are coalesced this long before they are sent. */
  coalesceMs: 250,
} as const;
