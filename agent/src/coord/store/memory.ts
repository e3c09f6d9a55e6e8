/**
 * The in-memory twin of the coordinator store, for unit tests of the server and the node and as the
 * reference the compliance suite (compliance.ts) holds the SQL drivers to. Every method is one
 * synchronous step, so each is atomic like a transaction. Several MemoryStore instances over one
 * MemoryData behave like processes on one database: a "restart" is a new instance over the same data,
 * and every instance's onChange hears every instance's commits (as LISTEN/NOTIFY does for replicas).
 */
import { allocateAddress } from '../alloc.ts';
import { ConegateError } from '../../errors.ts';
import {
  applyPatch,
  authKeyRefusal,
  byCreation,
  ChangeListeners,
  compareRoutes,
  consumeAuthKey,
  countArg,
  hashSecret,
  mergeRoutes,
  newNodeId,
  newNodeRecord,
  sameRoutes,
  uniqueName,
} from './rules.ts';
import type {
  AuthKeyRecord,
  ChangeKind,
  ChangeRecord,
  CoordStore,
  NodePatch,
  NodeRecord,
  RegisterInput,
  RegisterResult,
  RouteRecord,
} from './types.ts';

/** What a database would hold; share one between instances to model a restart or a second replica. */
export class MemoryData {
  readonly authKeys = new Map<string, AuthKeyRecord>();
  readonly nodes = new Map<string, NodeRecord>();
  readonly routes = new Map<string, RouteRecord[]>();
  readonly settings = new Map<string, string>();
  changes: ChangeRecord[] = [];
  lastSeq = 0;
  /** Highest seq removed by trimChanges (0 = none). */
  trimmedThrough = 0;
  readonly instances = new Set<ChangeListeners>();
}

export interface MemoryStoreOptions {
  data?: MemoryData;
  /** Random source for node ids (tests pass a seeded one). */
  randomBytes?: (n: number) => Uint8Array;
}

const clone = <T>(v: T): T => structuredClone(v);

export class MemoryStore implements CoordStore {
  readonly driver = 'sqlite' as const;
  readonly data: MemoryData;
  readonly #listeners = new ChangeListeners();
  readonly #randomBytes: ((n: number) => Uint8Array) | undefined;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.data = options.data ?? new MemoryData();
    this.#randomBytes = options.randomBytes;
    this.data.instances.add(this.#listeners);
  }

  async migrate(): Promise<void> {
    this.#open();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.data.instances.delete(this.#listeners);
  }

  async createAuthKey(key: AuthKeyRecord): Promise<void> {
    this.#open();
    if (this.data.authKeys.has(key.id) || [...this.data.authKeys.values()].some((k) => k.secretSha256 === key.secretSha256)) {
      throw new ConegateError('CG_INPUT_INVALID', `auth key ${key.id} already exists`);
    }
    this.data.authKeys.set(key.id, clone(key));
  }

  async listAuthKeys(): Promise<AuthKeyRecord[]> {
    this.#open();
    return [...this.data.authKeys.values()].sort(byCreation).map(clone);
  }

  async expireAuthKey(id: string, nowMs: number): Promise<boolean> {
    this.#open();
    const key = this.data.authKeys.get(id);
    if (!key) return false;
    if (key.revokedAtMs === null) this.data.authKeys.set(id, { ...key, revokedAtMs: nowMs });
    return true;
  }

  async registerNode(input: RegisterInput): Promise<RegisterResult> {
    this.#open();
    const known = [...this.data.nodes.values()].find((n) => n.machineKey === input.machineKey);
    if (known) return this.#reRegister(known, input);
    const secretSha256 = hashSecret(input.authKeySecret);
    const key = [...this.data.authKeys.values()].find((k) => k.secretSha256 === secretSha256);
    const refusal = authKeyRefusal(key, input.nowMs);
    if (refusal || !key) return { ok: false, reason: refusal ?? 'auth-key-unknown' };
    const all = [...this.data.nodes.values()];
    const ipv4 = allocateAddress(input.prefix4, all.map((n) => n.ipv4));
    const ipv6 = allocateAddress(input.prefix6, all.map((n) => n.ipv6));
    if (!ipv4 || !ipv6) return { ok: false, reason: 'no-address' };
    const id = newNodeId(this.#randomBytes);
    const routes = mergeRoutes(id, [], input.advertiseRoutes);
    const node = newNodeRecord(input, key, { id, name: uniqueName(input.hostname, new Set(all.filter((n) => n.revokedAtMs === null).map((n) => n.name))), ipv4, ipv6 });
    this.data.authKeys.set(key.id, consumeAuthKey(key, input.nowMs));
    this.data.nodes.set(id, node);
    this.data.routes.set(id, routes);
    this.#commit([{ nodeId: id, kind: 'node-upsert', fields: [] }], input.nowMs);
    return { ok: true, node: clone(node), created: true };
  }

  #reRegister(known: NodeRecord, input: RegisterInput): RegisterResult {
    if (known.revokedAtMs !== null) return { ok: false, reason: 'node-revoked' };
    const changes: Omit<ChangeRecord, 'seq' | 'atMs'>[] = [];
    const patched = applyPatch(known, { nodeKey: input.nodeKey, discoKey: input.discoKey });
    const routes = mergeRoutes(known.id, this.data.routes.get(known.id) ?? [], input.advertiseRoutes);
    if (patched) {
      this.data.nodes.set(known.id, patched.node);
      changes.push({ nodeId: known.id, kind: patched.kind, fields: patched.fields });
    }
    if (!sameRoutes(routes, this.data.routes.get(known.id) ?? [])) {
      this.data.routes.set(known.id, routes);
      changes.push({ nodeId: known.id, kind: 'routes', fields: [] });
    }
    this.#commit(changes, input.nowMs);
    return { ok: true, node: clone(patched?.node ?? known), created: false };
  }

  async nodeById(id: string): Promise<NodeRecord | undefined> {
    this.#open();
    const n = this.data.nodes.get(id);
    return n && clone(n);
  }

  async nodeByMachineKey(machineKey: string): Promise<NodeRecord | undefined> {
    this.#open();
    const n = [...this.data.nodes.values()].find((x) => x.machineKey === machineKey);
    return n && clone(n);
  }

  async listNodes(opts: { includeRevoked?: boolean } = {}): Promise<NodeRecord[]> {
    this.#open();
    return [...this.data.nodes.values()]
      .filter((n) => opts.includeRevoked || n.revokedAtMs === null)
      .sort(byCreation)
      .map(clone);
  }

  async updateNode(id: string, patch: NodePatch, nowMs: number): Promise<NodeRecord | undefined> {
    this.#open();
    const node = this.data.nodes.get(id);
    if (!node || node.revokedAtMs !== null) return undefined;
    const patched = applyPatch(node, clone(patch));
    if (!patched) return clone(node);
    this.data.nodes.set(id, patched.node);
    this.#commit([{ nodeId: id, kind: patched.kind, fields: patched.fields }], nowMs);
    return clone(patched.node);
  }

  async revokeNode(id: string, nowMs: number): Promise<boolean> {
    this.#open();
    const node = this.data.nodes.get(id);
    if (!node || node.revokedAtMs !== null) return false;
    this.data.nodes.set(id, { ...node, revokedAtMs: nowMs });
    this.#commit([{ nodeId: id, kind: 'node-remove', fields: [] }], nowMs);
    return true;
  }

  async setAdvertisedRoutes(nodeId: string, cidrs: string[], nowMs: number): Promise<void> {
    this.#open();
    const node = this.data.nodes.get(nodeId);
    if (!node || node.revokedAtMs !== null) throw new ConegateError('CG_INPUT_INVALID', `no node ${nodeId}`);
    const current = this.data.routes.get(nodeId) ?? [];
    const next = mergeRoutes(nodeId, current, cidrs);
    if (sameRoutes(current, next)) return;
    this.data.routes.set(nodeId, next);
    this.#commit([{ nodeId, kind: 'routes', fields: [] }], nowMs);
  }

  async listRoutes(): Promise<RouteRecord[]> {
    this.#open();
    const live = (r: RouteRecord): boolean => this.data.nodes.get(r.nodeId)?.revokedAtMs === null;
    return [...this.data.routes.values()].flat().filter(live).sort(compareRoutes).map(clone);
  }

  async setRouteApproval(nodeId: string, cidr: string, approved: boolean, nowMs: number): Promise<boolean> {
    this.#open();
    if (this.data.nodes.get(nodeId)?.revokedAtMs !== null) return false;
    const routes = this.data.routes.get(nodeId) ?? [];
    const route = routes.find((r) => r.cidr === cidr);
    if (!route) return false;
    if (route.approved === approved) return true;
    this.data.routes.set(nodeId, routes.map((r) => (r === route ? { ...r, approved } : r)));
    this.#commit([{ nodeId, kind: 'routes', fields: [] }], nowMs);
    return true;
  }

  async noteRoutesMoved(nodeIds: string[], nowMs: number): Promise<void> {
    this.#open();
    const live = [...new Set(nodeIds)].filter((id) => this.data.nodes.get(id)?.revokedAtMs === null);
    if (live.length) this.#commit(live.map((nodeId) => ({ nodeId, kind: 'routes', fields: [] })), nowMs);
  }

  async initSetting(key: string, value: string): Promise<string> {
    this.#open();
    if (!this.data.settings.has(key)) this.data.settings.set(key, value);
    return this.data.settings.get(key)!;
  }

  async latestSeq(): Promise<number> {
    this.#open();
    return this.data.lastSeq;
  }

  async changesSince(afterSeq: number, limit: number): Promise<ChangeRecord[]> {
    this.#open();
    return this.data.changes.filter((c) => c.seq > afterSeq).slice(0, countArg(limit, 'limit')).map(clone);
  }

  async oldestSeq(): Promise<number> {
    this.#open();
    return this.data.trimmedThrough + 1;
  }

  async trimChanges(keep: number): Promise<void> {
    this.#open();
    const cut = Math.max(0, this.data.changes.length - countArg(keep, 'keep'));
    if (cut === 0) return;
    this.data.trimmedThrough = this.data.changes[cut - 1]!.seq;
    this.data.changes = this.data.changes.slice(cut);
  }

  onChange(listener: (seq: number) => void): () => void {
    return this.#listeners.add(listener);
  }

  /** Appends the changes as one commit and tells every instance on this data. */
  #commit(changes: { nodeId: string; kind: ChangeKind; fields: string[] }[], nowMs: number): void {
    if (changes.length === 0) return;
    for (const c of changes) this.data.changes.push({ seq: ++this.data.lastSeq, ...c, atMs: nowMs });
    const seq = this.data.lastSeq;
    for (const l of [...this.data.instances]) l.emit(seq);
  }

  #open(): void {
    if (this.#closed) throw new ConegateError('CG_INTERNAL', 'the coordinator store is closed');
  }
}
