/**
 * Rows of the store's tables as records, and records as statement parameters: one place that knows
 * the column names, JSON-in-TEXT lists, 0/1 booleans and PostgreSQL's BIGINT-as-string.
 */
import { ConegateError } from '../../errors.ts';
import type { AuthKeyRecord, ChangeKind, ChangeRecord, NodeRecord, RouteRecord } from './types.ts';

export type Row = Record<string, unknown>;
export type Param = string | number | null;

function num(v: unknown): number {
  const n = typeof v === 'bigint' ? Number(v) : typeof v === 'string' ? Number(v) : (v as number);
  if (!Number.isSafeInteger(n)) throw new ConegateError('CG_STATE_CORRUPT', `coordinator database holds a non-integer where a number belongs`);
  return n;
}
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
const str = (v: unknown): string => String(v);

function json<T>(v: unknown): T {
  try {
    return JSON.parse(String(v)) as T;
  } catch (cause) {
    throw new ConegateError('CG_STATE_CORRUPT', 'coordinator database holds a list that is not JSON', { cause });
  }
}

export const AUTH_KEY_COLUMNS = 'id, secret_sha256, reusable, tags, created_at_ms, expires_at_ms, used_at_ms, revoked_at_ms, uses';

export function authKeyFromRow(r: Row): AuthKeyRecord {
  return {
    id: str(r.id),
    secretSha256: str(r.secret_sha256),
    reusable: num(r.reusable) === 1,
    tags: json<string[]>(r.tags),
    createdAtMs: num(r.created_at_ms),
    expiresAtMs: numOrNull(r.expires_at_ms),
    usedAtMs: numOrNull(r.used_at_ms),
    revokedAtMs: numOrNull(r.revoked_at_ms),
    uses: num(r.uses),
  };
}

export function authKeyParams(k: AuthKeyRecord): Param[] {
  return [k.id, k.secretSha256, k.reusable ? 1 : 0, JSON.stringify(k.tags), k.createdAtMs, k.expiresAtMs, k.usedAtMs, k.revokedAtMs, k.uses];
}

export const NODE_COLUMNS =
  'id, name, machine_key, node_key, disco_key, ipv4, ipv6, tags, endpoints, home_relay, auth_key_id, created_at_ms, last_seen_ms, revoked_at_ms';

export function nodeFromRow(r: Row): NodeRecord {
  return {
    id: str(r.id),
    name: str(r.name),
    machineKey: str(r.machine_key),
    nodeKey: str(r.node_key),
    discoKey: str(r.disco_key),
    ipv4: str(r.ipv4),
    ipv6: str(r.ipv6),
    tags: json<string[]>(r.tags),
    endpoints: json<NodeRecord['endpoints']>(r.endpoints),
    homeRelay: r.home_relay === null || r.home_relay === undefined ? null : str(r.home_relay),
    authKeyId: str(r.auth_key_id),
    createdAtMs: num(r.created_at_ms),
    lastSeenMs: num(r.last_seen_ms),
    revokedAtMs: numOrNull(r.revoked_at_ms),
  };
}

export function nodeParams(n: NodeRecord): Param[] {
  return [
    n.id,
    n.name,
    n.machineKey,
    n.nodeKey,
    n.discoKey,
    n.ipv4,
    n.ipv6,
    JSON.stringify(n.tags),
    JSON.stringify(n.endpoints),
    n.homeRelay,
    n.authKeyId,
    n.createdAtMs,
    n.lastSeenMs,
    n.revokedAtMs,
  ];
}

/** NodeRecord field -> column, for the fields a NodePatch may change (and how to bind the value). */
export const PATCH_COLUMNS: Record<string, { column: string; bind: (v: unknown) => Param }> = {
  name: { column: 'name', bind: (v) => v as string },
  nodeKey: { column: 'node_key', bind: (v) => v as string },
  discoKey: { column: 'disco_key', bind: (v) => v as string },
  endpoints: { column: 'endpoints', bind: (v) => JSON.stringify(v) },
  homeRelay: { column: 'home_relay', bind: (v) => v as string | null },
  lastSeenMs: { column: 'last_seen_ms', bind: (v) => v as number },
  tags: { column: 'tags', bind: (v) => JSON.stringify(v) },
};

export function routeFromRow(r: Row): RouteRecord {
  return { nodeId: str(r.node_id), cidr: str(r.cidr), approved: num(r.approved) === 1 };
}

export function changeFromRow(r: Row): ChangeRecord {
  return { seq: num(r.seq), nodeId: str(r.node_id), kind: str(r.kind) as ChangeKind, fields: json<string[]>(r.fields), atMs: num(r.at_ms) };
}

export { num as numberFromColumn };
