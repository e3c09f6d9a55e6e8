/**
 * The store's decisions, pure and shared by every driver (memory, SQLite, PostgreSQL), so the drivers
 * differ only in how they read and write: which auth key may register, how routes merge, which change
 * a node patch implies, how a name is made unique.
 */
import { createHash, randomBytes as nodeRandomBytes } from 'node:crypto';
import { ConegateError } from '../../errors.ts';
import { formatCidr, parseCidr } from '../../net/ip.ts';
import type { AuthKeyRecord, ChangeKind, NodePatch, NodeRecord, RegisterInput, RouteRecord } from './types.ts';

export type AuthKeyRefusal = 'auth-key-unknown' | 'auth-key-used' | 'auth-key-expired';

/** Auth keys are stored only as the SHA-256 of the secret (lowercase hex). */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Why this key may not register a new node now, or undefined if it may. A revoked key reads as expired. */
export function authKeyRefusal(key: AuthKeyRecord | undefined, nowMs: number): AuthKeyRefusal | undefined {
  if (!key) return 'auth-key-unknown';
  if (key.revokedAtMs !== null) return 'auth-key-expired';
  if (key.expiresAtMs !== null && nowMs >= key.expiresAtMs) return 'auth-key-expired';
  if (!key.reusable && key.usedAtMs !== null) return 'auth-key-used';
  return undefined;
}

/** The key after one more node registered with it (a single-use key is consumed). */
export function consumeAuthKey(key: AuthKeyRecord, nowMs: number): AuthKeyRecord {
  return { ...key, uses: key.uses + 1, usedAtMs: key.reusable ? key.usedAtMs : nowMs };
}

/** Canonical, sorted, de-duplicated CIDRs; throws CG_INPUT_INVALID naming the first bad one. */
export function canonicalRoutes(cidrs: readonly string[]): string[] {
  const out = new Set<string>();
  for (const text of cidrs) {
    const c = parseCidr(text);
    if (!c || !text.includes('/')) throw new ConegateError('CG_INPUT_INVALID', `route "${text}" is not a CIDR prefix with zero host bits`);
    out.add(formatCidr(c));
  }
  return [...out].sort();
}

/** A node's new route rows: approval kept for routes still advertised, new ones unapproved. */
export function mergeRoutes(nodeId: string, current: readonly RouteRecord[], advertised: readonly string[]): RouteRecord[] {
  const approved = new Set(current.filter((r) => r.approved).map((r) => r.cidr));
  return canonicalRoutes(advertised).map((cidr) => ({ nodeId, cidr, approved: approved.has(cidr) }));
}

export function sameRoutes(a: readonly RouteRecord[], b: readonly RouteRecord[]): boolean {
  const key = (rs: readonly RouteRecord[]): string => rs.map((r) => `${r.cidr}=${r.approved}`).sort().join(',');
  return key(a) === key(b);
}

/** Sort order every driver lists routes in. */
export function compareRoutes(a: RouteRecord, b: RouteRecord): number {
  return a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : a.cidr < b.cidr ? -1 : a.cidr > b.cidr ? 1 : 0;
}

/** Sort order of auth keys and nodes in every driver: oldest first, then by id (code-point order). */
export function byCreation(a: { createdAtMs: number; id: string }, b: { createdAtMs: number; id: string }): number {
  return a.createdAtMs - b.createdAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

const KEY_FIELDS = new Set(['nodeKey', 'discoKey']);

/**
 * What applying `patch` to `node` changes: the node after it, the changed field names (sorted) and the
 * change kind (a key change makes peers take the node whole), or undefined when nothing changes.
 */
export function applyPatch(node: NodeRecord, patch: NodePatch): { node: NodeRecord; fields: string[]; kind: ChangeKind } | undefined {
  const fields: string[] = [];
  const next: NodeRecord = { ...node };
  for (const [field, value] of Object.entries(patch) as [keyof NodePatch, unknown][]) {
    if (value === undefined) continue;
    if (JSON.stringify(node[field]) === JSON.stringify(value)) continue;
    (next as unknown as Record<string, unknown>)[field] = value;
    fields.push(field);
  }
  if (fields.length === 0) return undefined;
  fields.sort();
  return { node: next, fields, kind: fields.some((f) => KEY_FIELDS.has(f)) ? 'node-upsert' : 'node-patch' };
}

/** `hostname`, or `hostname-2`, `-3`... so no two live nodes share a name (names become DNS labels). */
export function uniqueName(hostname: string, taken: ReadonlySet<string>): string {
  const lower = new Set([...taken].map((n) => n.toLowerCase()));
  const base = hostname.slice(0, 63) || 'node';
  if (!lower.has(base.toLowerCase())) return base;
  for (let n = 2; ; n++) {
    const suffix = `-${n}`;
    const name = base.slice(0, 63 - suffix.length) + suffix;
    if (!lower.has(name.toLowerCase())) return name;
  }
}

/** A node id: "nd_" + 16 hex digits (random; ids never carry a key or an address). */
export function newNodeId(randomBytes: (n: number) => Uint8Array = nodeRandomBytes): string {
  return `nd_${Buffer.from(randomBytes(8)).toString('hex')}`;
}

/** A count argument (limit, keep) as a non-negative integer; NaN or a non-number is a caller's bug. */
export function countArg(n: number, what: string): number {
  if (typeof n !== 'number' || Number.isNaN(n)) throw new ConegateError('CG_INPUT_INVALID', `${what} must be a number`);
  return Math.max(0, Math.min(Math.floor(n), Number.MAX_SAFE_INTEGER));
}

/** One listener registry per store instance; a throwing listener never breaks a mutation or the others. */
export class ChangeListeners {
  readonly #listeners = new Set<(seq: number) => void>();
  add(listener: (seq: number) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }
  get size(): number {
    return this.#listeners.size;
  }
  emit(seq: number): void {
    for (const l of [...this.#listeners]) {
      try {
        l(seq);
      } catch {
        // A listener's failure is its own (the server logs inside its listener); the commit stands.
      }
    }
  }
}

/** The record of a node registered now with `key`: keys from the request, tags from the key, no endpoints yet. */
export function newNodeRecord(input: RegisterInput, key: AuthKeyRecord, at: { id: string; name: string; ipv4: string; ipv6: string }): NodeRecord {
  return {
    ...at,
    machineKey: input.machineKey,
    nodeKey: input.nodeKey,
    discoKey: input.discoKey,
    tags: [...key.tags],
    endpoints: [],
    homeRelay: null,
    authKeyId: key.id,
    createdAtMs: input.nowMs,
    lastSeenMs: input.nowMs,
    revokedAtMs: null,
  };
}
