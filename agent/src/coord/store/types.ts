/**
 * The coordinator's storage, as one small interface with two drivers (embedded SQLite, PostgreSQL)
 * and one compliance suite (store/compliance.ts) run against both. Every mutation that changes what
 * some node's network map shows appends to the change log in the same transaction, so the server
 * computes deltas from the log (never rebuilds worlds), a node resumes from a sequence number, and
 * replicas on one PostgreSQL database learn of each other's changes (LISTEN/NOTIFY carries the seq).
 *
 * Times are wall-clock milliseconds passed in by the caller (the store never reads a clock).
 */
import type { Endpoint, KeyHex } from '../protocol.ts';

/** A node's UDP relay address as stored among its endpoints (never sent as an endpoint). */
export interface UdpRelayEntry {
  addr: string;
  type: 'udp-relay';
}

export interface AuthKeyRecord {
  /** Public id, shown in lists ("ak_" + hex); the secret is never stored, only its SHA-256. */
  id: string;
  secretSha256: string;
  reusable: boolean;
  tags: string[];
  createdAtMs: number;
  /** null = never expires. */
  expiresAtMs: number | null;
  /** Set when a single-use key is consumed (reusable keys keep null). */
  usedAtMs: number | null;
  /** Set by `coord authkey expire`. */
  revokedAtMs: number | null;
  /** How many nodes registered with it. */
  uses: number;
}

export interface NodeRecord {
  id: string;
  name: string;
  machineKey: KeyHex;
  nodeKey: KeyHex;
  discoKey: KeyHex;
  /** "100.64.0.7" (no prefix length) and "fd7a:...:7". */
  ipv4: string;
  ipv6: string;
  tags: string[];
  /** Path candidates, plus the node's UDP relay address as one entry of type 'udp-relay' when it offers
   * one: kept in the same JSON column (no migration), split into Peer.udpRelay by the views. */
  endpoints: (Endpoint | UdpRelayEntry)[];
  homeRelay: string | null;
  authKeyId: string;
  createdAtMs: number;
  lastSeenMs: number;
  /** null while valid; a revoked node stays in the table (its addresses are not reused) but leaves every map. */
  revokedAtMs: number | null;
}

export interface RouteRecord {
  nodeId: string;
  /** Canonical CIDR ("192.168.10.0/24"). */
  cidr: string;
  approved: boolean;
}

export type ChangeKind =
  /** A node appeared, or its keys changed: peers get it whole. */
  | 'node-upsert'
  /** Some fields of a node changed (listed in `fields`): peers get a patch. */
  | 'node-patch'
  /** A node left every map (revoked, logged out). */
  | 'node-remove'
  /** A node's advertised or approved routes changed. */
  | 'routes';

export interface ChangeRecord {
  seq: number;
  nodeId: string;
  kind: ChangeKind;
  /** For node-patch: which NodeRecord fields changed ("endpoints", "homeRelay", "name", "lastSeenMs"...). */
  fields: string[];
  atMs: number;
}

export interface RegisterInput {
  machineKey: KeyHex;
  nodeKey: KeyHex;
  discoKey: KeyHex;
  hostname: string;
  /** The secret the node presented; the store hashes and looks it up. */
  authKeySecret: string;
  advertiseRoutes: string[];
  /** Address pools: "100.64.0.0/10" and "fd7a:115c:a1e0::/48" style. */
  prefix4: string;
  prefix6: string;
  nowMs: number;
}

export type RegisterResult =
  | { ok: true; node: NodeRecord; created: boolean }
  | { ok: false; reason: 'auth-key-unknown' | 'auth-key-used' | 'auth-key-expired' | 'no-address' | 'node-revoked' };

export type NodePatch = Partial<Pick<NodeRecord, 'name' | 'nodeKey' | 'discoKey' | 'endpoints' | 'homeRelay' | 'lastSeenMs' | 'tags'>>;

export interface CoordStore {
  readonly driver: 'sqlite' | 'postgres';
  /** Creates or upgrades the schema (idempotent; one migration set for both drivers). */
  migrate(): Promise<void>;
  close(): Promise<void>;

  createAuthKey(key: AuthKeyRecord): Promise<void>;
  listAuthKeys(): Promise<AuthKeyRecord[]>;
  /** Marks a key revoked; false if unknown. */
  expireAuthKey(id: string, nowMs: number): Promise<boolean>;

  /**
   * One transaction: a known, unrevoked machine key gets its existing node back (keys updated,
   * created=false; no auth key needed, so a retry after a crash mid-registration is harmless);
   * otherwise the auth key is checked (unknown, used, expired or revoked refused), consumed if
   * single-use, addresses allocated (lowest free in each prefix, never reused), the node and its
   * advertised routes inserted and a 'node-upsert' change appended.
   */
  registerNode(input: RegisterInput): Promise<RegisterResult>;
  nodeById(id: string): Promise<NodeRecord | undefined>;
  nodeByMachineKey(machineKey: KeyHex): Promise<NodeRecord | undefined>;
  /** Nodes not revoked (or all with includeRevoked). */
  listNodes(opts?: { includeRevoked?: boolean }): Promise<NodeRecord[]>;
  /** Applies the patch and appends one change (node-upsert if a key changed, else node-patch). */
  updateNode(id: string, patch: NodePatch, nowMs: number): Promise<NodeRecord | undefined>;
  /** Sets revokedAtMs and appends 'node-remove'; false if unknown or already revoked. */
  revokeNode(id: string, nowMs: number): Promise<boolean>;

  /** Replaces a node's advertised routes (approval kept for routes still advertised); appends 'routes'. */
  setAdvertisedRoutes(nodeId: string, cidrs: string[], nowMs: number): Promise<void>;
  listRoutes(): Promise<RouteRecord[]>;
  /** false if the node does not advertise that route. Appends 'routes' when it changes. */
  setRouteApproval(nodeId: string, cidr: string, approved: boolean, nowMs: number): Promise<boolean>;
  /**
   * Appends a 'routes' change for each live node named, changing no row: a prefix moved between
   * routers (failover, decided by the hub from who is online), so peers need those nodes' routes
   * again, and a stream resuming from the log must see the move too. Unknown or revoked ids are skipped.
   */
  noteRoutesMoved(nodeIds: string[], nowMs: number): Promise<void>;

  /**
   * The value stored under `key`, storing `value` first when there is none, in one transaction: every
   * replica gets the first writer's value, and it survives restarts. For coordinator settings chosen
   * once at first start, such as the random ULA /48 (key 'prefix6').
   */
  initSetting(key: string, value: string): Promise<string>;

  latestSeq(): Promise<number>;
  /** Changes with seq > afterSeq, oldest first, at most `limit`. */
  changesSince(afterSeq: number, limit: number): Promise<ChangeRecord[]>;
  /**
   * Oldest seq still kept: 1 + the highest trimmed seq (1 when nothing was trimmed), so the log holds
   * every change with seq >= oldestSeq. A node resuming with since=S can take deltas iff
   * S >= oldestSeq - 1; from before that it gets a full map.
   */
  oldestSeq(): Promise<number>;
  /** Trims the log to the newest `keep` changes. */
  trimChanges(keep: number): Promise<void>;
  /**
   * Calls `listener(seq)` after any change committed by this process or, for PostgreSQL, by any replica
   * on the same database (LISTEN/NOTIFY). Returns an unsubscribe function.
   */
  onChange(listener: (seq: number) => void): () => void;
}
